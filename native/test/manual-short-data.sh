# Guest side of manual-short-data.mjs (VM_GUEST_SCRIPT).
for m in sd_mod sg usb-storage configfs libcomposite usb_f_fs dummy_hcd; do modprobe $m; done
cd /repo && UV_THREADPOOL_SIZE=8 node native/test/manual-short-data.mjs 2>&1
