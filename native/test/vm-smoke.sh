#!/bin/sh
# Runs INSIDE the QEMU guest (see native/README.md): the repository is shared at /repo
# (VM_GUEST_SCRIPT=native/test/vm-smoke.sh).
# Loads the USB/SCSI modules, waits for the disk, runs the native smoke test.
for m in xhci-pci ehci-pci usb-storage uas sd_mod sr_mod sg; do modprobe $m 2>/dev/null; done
for i in $(seq 1 40); do ls /sys/block | grep -q sd && break; sleep 0.25; done
echo "SMOKE_DISKS $(ls /sys/block | tr '\n' ' ')"
node /repo/native/test/manual-smoke.mjs ${SMOKE_ARGS:---write} > /tmp/smoke.json 2>/tmp/smoke.err
echo "SMOKE_RC $?"
echo "SMOKE_JSON_BEGIN"; cat /tmp/smoke.json; echo "SMOKE_JSON_END"
echo "SMOKE_STDERR_BEGIN"; cat /tmp/smoke.err; echo "SMOKE_STDERR_END"
