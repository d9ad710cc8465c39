# Runs in the QEMU guest (tools/vm initramfs) from the 9p share prepared by run-host.sh.
modprobe xhci-pci; modprobe ehci-pci; modprobe usb-storage; modprobe sd_mod; modprobe sg
insmod /repo/crc32c_generic.ko 2>/dev/null; modprobe ext4   # ext2 via ext4.ko needs crc32c
for i in $(seq 1 300); do [ -e /dev/sda ] && break; sleep 0.1; done
printf 'o\nn\np\n1\n\n\nw\n' | fdisk /dev/sda >/dev/null 2>&1
for i in $(seq 1 50); do [ -e /dev/sda1 ] && break; sleep 0.1; done
mke2fs -q -F /dev/sda1 >/dev/null 2>&1 || echo "FAIL mke2fs"
mkdir -p "/mnt/usb disk"
mount -t ext2 -o noatime,nosuid /dev/sda1 "/mnt/usb disk" || echo "FAIL mount"
echo hello-from-before > "/mnt/usb disk/before.txt"; sync
cd /repo && node lease-cases.mjs; node usbfs-claim.mjs; node exit-helper.mjs
