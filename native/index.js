'use strict';
// Lazy loader of the compiled addon. Importing this file never throws: `load()`
// returns the addon or the reason it is unavailable (never built, build skipped,
// or the binary failed to load).
const fs = require('node:fs');
const path = require('node:path');
const { installBotExchange } = require('./botexchange.js');

// USBSCSI_NATIVE_BINARY: load another build of the addon (the AddressSanitizer build, say).
const binary = process.env.USBSCSI_NATIVE_BINARY || path.join(__dirname, 'build', 'Release', 'usbscsi_native.node');
const reasonFile = path.join(__dirname, 'build', 'skip-reason.txt');
let cached;

function skipReason() {
  try {
    return fs.readFileSync(reasonFile, 'utf8').trim();
  } catch {
    return null;
  }
}

function load() {
  if (cached) return cached;
  if (!fs.existsSync(binary)) {
    const reason = skipReason();
    cached = { ok: false, reason: reason ? `the addon was not built: ${reason}` : `the addon was not built (no ${binary}); run \`pnpm --filter @usbscsi/native build\`` };
    return cached;
  }
  try {
    const addon = require(binary);
    installBotExchange(addon);
    cached = { ok: true, addon };
  } catch (err) {
    cached = { ok: false, reason: `the addon failed to load: ${err && err.message ? err.message : String(err)}` };
  }
  return cached;
}

module.exports = { load, skipReason, binaryPath: binary };
