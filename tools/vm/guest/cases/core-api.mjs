// Imports core's built modules by path (the lead exports them from index.js as they land);
// each getter returns null + reason when the module has not landed, so cases skip loudly.
import { existsSync } from 'node:fs';

const dist = `${process.cwd()}/packages/core/dist`;

async function load(rel, what) {
  const p = `${dist}/${rel}`;
  if (!existsSync(p)) return { mod: null, reason: `NOT LANDED: ${what} (${p} absent; core has not built it yet)` };
  try {
    return { mod: await import(p), reason: null };
  } catch (err) {
    return { mod: null, reason: `${what} failed to import: ${err?.message ?? err}` };
  }
}

export const loadBot = () => load('bot/index.js', "core's BotTransport");
export const loadHandoff = () => load('handoff/index.js', "core's handoff lease");
export const loadSg = () => load('sg/index.js', "core's SG_IO transport");
export const loadDevice = () => load('device.js', "core's ScsiDevice");
export const loadOpen = () => load('open.js', "core's openDevice");
export const loadCoreIndex = () => load('index.js', "core's index");
