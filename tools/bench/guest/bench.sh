#!/bin/sh
# Runs inside the guest (started by tools/vm/guest/init.sh via vmscript=): load the drivers of this
# scenario, wait for QEMU's disk, run the in-guest bench. VM_SCENARIO is xhci or ehci.
echo "VM_SCENARIO $VM_SCENARIO"
for m in sd_mod sg usb-storage uas; do modprobe $m; done
case "$VM_SCENARIO" in
  xhci) modprobe xhci-pci ;;
  ehci) modprobe ehci-pci ;;
esac
# Two disks: usb-storage's and usb-uas's (tools/bench/run.mjs).
i=0; while [ $i -lt 80 ] && [ "$(ls /sys/block | grep -c '^sd')" -lt 2 ]; do sleep 0.25; i=$((i+1)); done
echo "VM_DISK $(ls /sys/block | grep '^sd' | tr '\n' ' ') after $(cut -d' ' -f1 /proc/uptime) s"
cd /repo
PROF=""
[ -f /out/cpu-prof ] && PROF="--cpu-prof --cpu-prof-dir=/out/prof-$VM_SCENARIO"
UV_THREADPOOL_SIZE=8 node $PROF tools/bench/guest/bench.mjs "$VM_SCENARIO" /out/config.json "/out/raw-$VM_SCENARIO.json"
