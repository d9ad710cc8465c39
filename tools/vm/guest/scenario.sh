#!/bin/sh
# Runs inside the guest (started by init.sh): load the drivers of this scenario, wait for the
# device, run the Node suite. VM_SCENARIO is xhci, ehci or gadget.
echo "VM_SCENARIO $VM_SCENARIO"
for m in sd_mod sg usb-storage uas vfat nls_cp437 nls_ascii crc32c_generic ext4 loop; do modprobe $m; done
case "$VM_SCENARIO" in
  xhci) modprobe xhci-pci ;;
  ehci) modprobe ehci-pci ;;
  gadget) modprobe configfs; modprobe libcomposite; modprobe usb_f_fs; modprobe dummy_hcd ;;
esac
if [ "$VM_SCENARIO" != gadget ]; then
  # Two disks: usb-storage's and usb-uas's (tools/vm/run-e2e.mjs).
  i=0; while [ $i -lt 80 ] && [ "$(ls /sys/block | grep -c '^sd')" -lt 2 ]; do sleep 0.25; i=$((i+1)); done
  echo "VM_DISK $(ls /sys/block | grep '^sd' | tr '\n' ' ') after $(cut -d' ' -f1 /proc/uptime) s"
fi
cd /repo
UV_THREADPOOL_SIZE=8 node tools/vm/guest/suite.mjs "$VM_SCENARIO" "/out/results-$VM_SCENARIO.json"
