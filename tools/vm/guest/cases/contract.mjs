// The guest's adapter of the contract suite (packages/core/src/testing/contract, built to dist):
// the same cases the emulator runs in process, here against native and node-usb on a real
// kernel — QEMU's usb-storage on xhci/ehci (no faults: it stalls an idle IN, has no programmable
// faults, and is not the suite's to write), the emulator behind FunctionFS on `gadget` (faults
// programmed over its IPC channel). Cases an env cannot run are registered as skipped with why.
// usb-storage is detached once before a backend's cases and given back after them (a re-probe
// per case costs seconds under TCG); the cases find the interface free and leave it so.
import { test, skip, skipNow } from '../runner.mjs';
import { waitForKernelDisk } from './bot.mjs';
import { QEMU_VID, QEMU_PID, QEMU_UAS_PID, waitForUasDisk } from '../util.mjs';

const repo = process.cwd();

async function loadSuite() {
  const path = `${repo}/packages/core/dist/testing/contract/index.js`;
  try {
    return { suite: await import(path) };
  } catch (err) {
    return { reason: `the contract suite did not load from ${path} (run \`pnpm build\`): ${err?.message ?? err}` };
  }
}

// node-usb v3 has no call that cancels one transfer (core/backends/node-usb.ts): an aborted IN
// stays queued until its own timeout and takes the next data that comes, and reset recovery
// waits for it. The cases that abort a pending IN and go on cannot pass there.
const NODE_USB_CANNOT_CANCEL_ONE = Object.fromEntries(
  ['idle-in', 'second-pending-refused', 'cancel-during', 'job-abort-mid'].map((id) => [
    id,
    'node-usb v3 cannot cancel one transfer: the aborted IN stays queued until its timeout and takes the next data',
  ]),
);
// A stalled IN comes back from node-usb v3 as an error with no length (core/backends/node-usb.ts
// maps it to STALL, 0 bytes): the bytes the device sent before its stall are not counted.
const NODE_USB_STALL_HAS_NO_LENGTH = {
  'job-short-data-mid':
    'node-usb v3 reports a stalled IN with no length: the 512 bytes before the stall read as 0 transferred',
};

const byIds = (vid, pid) => (devices) => devices.find((d) => d.vendorId === vid && d.productId === pid);

/** QEMU's usb-storage disk (46f4:0001) as a contract env. */
export function qemuDiskEnv(scenario, name, backend) {
  return {
    name: `${scenario}/${name}`,
    backend,
    select: byIds(QEMU_VID, QEMU_PID),
    idleIn: 'stall',
    invalidCbwOut: 'stall',
    followsBotCases:
      "QEMU's usb-storage answers the §6.7 mismatches its own way and its disk is not the suite's to write " +
      '(the thirteen cases run on the gadget)',
    device: "QEMU's usb-storage has no programmable faults (fault cases run on the gadget scenario)",
  };
}

/**
 * QEMU's usb-uas disk (46f4:0003, UAS only) as a contract env: the `uas` cases that need no fault
 * (INQUIRY and capacity, CHECK CONDITION, a long CDB refused, queued READs, a queued job) run
 * against the real device and the kernel's xHCI or EHCI; `uas` is detached once for them.
 */
export function qemuUasEnv(scenario, name, backend) {
  return {
    name: `${scenario}/${name}/uas`,
    backend,
    select: byIds(QEMU_VID, QEMU_UAS_PID),
    transports: ['uas'],
    idleIn: 'stall',
    invalidCbwOut: 'stall',
    followsBotCases: 'a UAS-only device has no Bulk-Only alternate setting',
    device: "QEMU's usb-uas has no programmable faults (the UAS fault cases run on the emulator)",
    driver: 'uas',
    waitForDisk: waitForUasDisk,
  };
}

/**
 * The FunctionFS emulator (1d6b:0104) as a contract env. `gadget()` returns the running gadget
 * (tools/vm/guest/gadget.mjs startGadget), or null when it did not start.
 */
export function gadgetEnv(name, backend, gadget, vid, pid) {
  const running = () => gadget() ?? skipNow('the gadget did not start');
  const env = {
    name: `gadget/${name}`,
    backend,
    select: byIds(vid, pid),
    // The UDC takes a whole OUT transfer and answers CLEAR_FEATURE(HALT) itself: a device
    // behind FunctionFS cannot stall part-way through the host's transfer, nor see a halt cleared.
    skip: {
      ...(name === 'node-usb' ? { ...NODE_USB_CANNOT_CANCEL_ONE, ...NODE_USB_STALL_HAS_NO_LENGTH } : {}),
      'bot-case-11':
        "FunctionFS accepts all of the host's data-out before the device can stall the part it will not take " +
        '(the stall lands on the next CBW)',
      'stall-csw-twice':
        'the gadget cannot see the host clear a halt (the UDC answers CLEAR_FEATURE), ' +
        'so a second CSW stall lands on the endpoint still halted by the first',
    },
    idleIn: 'nak',
    invalidCbwOut: 'ok',
    followsBotCases: true,
    device: {
      cannot: {
        'stall-cbw':
          'a FunctionFS gadget has read the CBW (the UDC accepted it) before the device can refuse it: ' +
          'a CBW stall cannot be produced',
      },
      inject: async (fault) => void (await running().inject(fault)),
      counters: async () => {
        const s = await running().stats();
        return { commands: s.commands, resets: s.resets };
      },
    },
  };
  // Unplug and replug (UDC unbind/bind): the device at power-on, usb-storage bound again.
  env.recover = async () => {
    await running().replug();
    await detachForSuite(env);
  };
  return env;
}

/** The mass-storage interface the kernel binds: Bulk-Only (50h), else UAS (62h, usb-uas). */
function storageInterfaceNumber(info) {
  const storage = info.configurations[0].interfaces.filter((i) => i.interfaceClass === 8);
  return (storage.find((i) => i.interfaceProtocol === 0x50) ?? storage.find((i) => i.interfaceProtocol === 0x62))
    .interfaceNumber;
}

/** Takes the interface from usb-storage (or uas) for the suite (the disk goes away). */
async function detachForSuite(env) {
  const info = env.select(await env.backend.list());
  if (!info) throw new Error(`${env.name}: the device under test is not listed`);
  const h = await env.backend.open(info);
  try {
    const n = storageInterfaceNumber(info);
    if (await h.kernelDriverActive(n)) await h.detachKernelDriver(n);
  } finally {
    await h.close();
  }
}

/** Gives the interface back to usb-storage (or uas) and waits for its disk. */
async function attachAfterSuite(env) {
  const info = env.select(await env.backend.list());
  if (!info) throw new Error(`${env.name}: the device under test is not listed`);
  const h = await env.backend.open(info);
  try {
    const n = storageInterfaceNumber(info);
    await h.claimInterface(n).catch(() => undefined);
    await h.releaseInterface(n).catch(() => undefined);
    await h.attachKernelDriver(n);
  } finally {
    await h.close();
  }
  await (env.waitForDisk ?? waitForKernelDisk)();
}

/**
 * Registers every contract case for each backend, with `makeEnv(name, backend)`; with `levels`,
 * only the cases of those levels (a UAS-only device has no Bulk-Only cases to skip one by one).
 */
export async function registerContractCases(scenario, backends, makeEnv, { levels } = {}) {
  const { suite, reason } = await loadSuite();
  let counted = 0;
  const cases = (suite?.CONTRACT_CASES ?? []).filter((c) => !levels || levels.includes(c.level));
  for (const { name, backend, reason: unavailable } of backends) {
    const label = (c) => `[${scenario}/${name}] contract ${c.level}: ${c.title} [${c.id}]`;
    if (!suite) {
      test(`[${scenario}/${name}] contract suite loads`, () => {
        throw new Error(reason);
      });
      continue;
    }
    const env = backend ? makeEnv(name, backend) : null;
    const driver = env?.driver ?? 'usb-storage';
    if (env) test(`[${scenario}/${name}] contract: detach ${driver} for the suite`, () => detachForSuite(env));
    for (const c of cases) {
      if (!env) {
        skip(label(c), unavailable);
        continue;
      }
      const cannot = suite.whyNotRunnable(c, env);
      if (cannot) {
        skip(label(c), cannot);
        continue;
      }
      counted++;
      test(
        label(c),
        async () => {
          let outcome;
          try {
            outcome = await suite.runContractCase(c, env);
          } catch (err) {
            // A failed case may leave the device out of step: bring it back so that the next
            // case shows its own result, not this one's aftermath.
            if (env.recover)
              await env
                .recover()
                .catch((e) => console.log(`VM_NOTE ${env.name}: recovery after ${c.id} failed: ${e?.message ?? e}`));
            throw err;
          }
          if (outcome.skipped) skipNow(outcome.skipped);
        },
        { timeoutMs: 90_000 },
      );
    }
    if (env)
      test(
        `[${scenario}/${name}] contract: give the interface back to ${driver}, its disk returns`,
        () => attachAfterSuite(env),
        { timeoutMs: 60_000 },
      );
  }
  console.log(
    `VM_NOTE contract suite on ${scenario}: ${counted} cases registered to run, ` +
      `${cases.length} per backend in all${levels ? ` (levels ${levels.join(', ')} only)` : ''}`,
  );
}
