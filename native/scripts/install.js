// Placeholder until the native issue lands: the addon is optional, core falls back to node-usb.
console.log('@usbscsi/native: addon build not implemented yet; core will use the node-usb fallback.');
