'use strict';
// The addon's loader. Importing this file never throws: `load()` returns the addon and where it
// came from, or the reason it is unavailable, with every binary it tried (loader.js has the order).
const path = require('node:path');
const { loadFirst, prebuildTarget, sourceSkipReason } = require('./loader.js');

let cached;

function load() {
  if (!cached) cached = loadFirst(__dirname);
  return cached;
}

/** Why scripts/install.js skipped the source build (null when it did not). */
function skipReason() {
  return sourceSkipReason(__dirname);
}

module.exports = {
  load,
  skipReason,
  prebuildTarget,
  binaryPath: process.env.USBSCSI_NATIVE_BINARY || path.join(__dirname, 'build', 'Release', 'usbscsi_native.node'),
};
