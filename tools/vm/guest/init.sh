#!/bin/sh
# /init of the test guest: mount the shares, run the scenario script, power off.
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/tmp
echo "VM_INIT $(cut -d' ' -f1 /proc/uptime)"
mkdir -p /run/udev
[ -x /lib/systemd/systemd-udevd ] && /lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/dev/null
modprobe virtio_pci; modprobe 9pnet_virtio; modprobe 9p
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro repo /repo ||
  echo "VM_ERROR 9p repo mount failed"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /out || echo "VM_ERROR 9p out mount failed"
# The packed-and-installed packages, when the host shares them (tools/ci/pack-install.mjs).
if grep -qsx installed /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag; then
  mkdir -p /installed
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro installed /installed ||
    echo "VM_ERROR 9p installed mount failed"
fi
script=$(sed -n 's/.*vmscript=\([^ ]*\).*/\1/p' /proc/cmdline)
scenario=$(sed -n 's/.*vmscenario=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$script" ] && [ -f "/repo/$script" ]; then
  VM_SCENARIO=$scenario sh "/repo/$script"; echo "VM_SCRIPT_EXIT $?"
else
  echo "VM_ERROR no script '$script'"
fi
echo "VM_END $(cut -d' ' -f1 /proc/uptime)"
sync; umount /out; poweroff -f
