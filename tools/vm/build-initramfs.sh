#!/bin/bash
# Builds the guest's initramfs from what the host has installed (see docs/testing-vm.md):
#   apt-get install qemu-system-x86 linux-image-amd64 busybox-static cpio libusb-1.0-0-dev sg3-utils
# Usage: build-initramfs.sh WORK_DIR   -> WORK_DIR/initrd.gz, WORK_DIR/kernel-version
# The guest's /init mounts the repo (9p tag "repo", read-only) at /repo and the work dir
# (tag "out") at /out, then runs the script named by `vmscript=` on the kernel command line.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # modprobe/depmod live in sbin; not every CI user has it on PATH
WORK=${1:?usage: build-initramfs.sh WORK_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
KV=${KV:-$(ls /lib/modules | sort -V | tail -1)}
[ -f "/boot/vmlinuz-$KV" ] || { echo "no /boot/vmlinuz-$KV: apt-get install linux-image-amd64" >&2; exit 2; }
R=$WORK/root
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,proc,sys,dev,tmp,mnt,repo,out} \
  "$R"/{usr/bin,usr/sbin,usr/lib,lib64,lib/x86_64-linux-gnu,lib/modules/$KV}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
# The kernel runs /sbin/modprobe for on-demand modules (e.g. ext4 asking for crc32c).
ln -s ../bin/busybox "$R/sbin/modprobe"

# Kernel modules with their dependencies (modprobe resolves them against the host's module tree).
MODS="virtio_pci 9pnet_virtio 9p xhci-pci ehci-pci usb-storage uas sd_mod sr_mod sg
      configfs dummy_hcd libcomposite usb_f_mass_storage usb_f_fs vfat nls_cp437 nls_ascii ext4 crc32c_generic loop"
for m in $MODS; do
  deps=$(modprobe -S "$KV" --show-depends "$m" 2>/dev/null | awk '/^insmod/{print $2}') || true
  [ -n "$deps" ] || { echo "module $m not found for $KV (builtin?)" >&2; continue; }
  for f in $deps; do mkdir -p "$R$(dirname "$f")"; cp -n "$f" "$R$f"; done
done
M=/lib/modules/$KV
cp $M/modules.order $M/modules.builtin $M/modules.builtin.modinfo "$R$M/" 2>/dev/null || true
depmod -b "$R" "$KV"

# Programs and their shared libraries.
copy_with_libs() {
  local f g
  for f in "$@"; do
    for g in "$f" $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true); do
      [ -e "$R$g" ] && continue
      mkdir -p "$R$(dirname "$g")"; cp -L "$g" "$R$g"
    done
  done
}
NODE=$(command -v node)
LIBUSB=$(ls /usr/lib/x86_64-linux-gnu/libusb-1.0.so.0 /lib/x86_64-linux-gnu/libusb-1.0.so.0 2>/dev/null | head -1)
[ -n "$LIBUSB" ] || { echo "libusb-1.0.so.0 missing: apt-get install libusb-1.0-0-dev" >&2; exit 2; }
for p in sg_inq sg_readcap sg_raw; do
  command -v $p >/dev/null || { echo "$p missing: apt-get install sg3-utils" >&2; exit 2; }
done
copy_with_libs "$NODE" "$LIBUSB" "$(command -v sg_inq)" "$(command -v sg_readcap)" "$(command -v sg_raw)"
[ "$NODE" = /usr/bin/node ] || ln -sf "$NODE" "$R/usr/bin/node"
# Native addons (the `usb` package's, ours) link glibc libs that node itself may not.
for lib in libgcc_s.so.1 librt.so.1 libdl.so.2 libpthread.so.0 libm.so.6 libstdc++.so.6; do
  p=$(ls /lib/x86_64-linux-gnu/$lib 2>/dev/null | head -1); [ -n "$p" ] && copy_with_libs "$p"
done

# udevd (package udev), when the host has it: libusb built with udev (Debian's) learns about
# devices that re-enumerate only from udevd's events, as on a real system.
UDEVADM=$(command -v udevadm || true)
if [ -n "$UDEVADM" ] && [ -e /lib/systemd/systemd-udevd ]; then
  copy_with_libs "$UDEVADM"
  mkdir -p "$R/lib/systemd" "$R/etc/udev/rules.d" "$R/run/udev"
  ln -sf "$UDEVADM" "$R/lib/systemd/systemd-udevd"
else
  echo "build-initramfs: no udevd on the host (apt-get install udev):" \
    "libusb in the guest will not see re-enumerated devices" >&2
fi

cp "$HERE/guest/init.sh" "$R/init"; chmod +x "$R/init"
echo "$KV" > "$WORK/kernel-version"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$WORK/initrd.gz.tmp") \
  && mv "$WORK/initrd.gz.tmp" "$WORK/initrd.gz"
