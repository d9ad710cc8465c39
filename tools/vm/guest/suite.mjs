// The in-guest end-to-end suite. argv: scenario (xhci | ehci | gadget), results file.
import { run } from './runner.mjs';
import { loadBackends } from './backends.mjs';
import { registerQemuDiskCases } from './cases/qemu-disk.mjs';
import { registerBotCases } from './cases/bot.mjs';
import { registerDeviceCases } from './cases/device.mjs';
import { registerHandoffCases, registerTakeoverCases } from './cases/handoff.mjs';
import { registerSgCases } from './cases/sg.mjs';
import { registerContractCases, qemuDiskEnv } from './cases/contract.mjs';
import { registerInstalledCases } from './cases/installed.mjs';
import { registerUasCases } from './cases/uas.mjs';
import { readFileSync } from 'node:fs';
import { watchForStalls } from './stall-watch.mjs';

/** VM_ONLY=uas, sg or handoff (run-e2e.mjs): only those cases of xhci/ehci (debugging; CI runs everything). */
function onlyGroup() {
  try {
    return JSON.parse(readFileSync('/out/config.json', 'utf8')).only ?? null;
  } catch {
    return null;
  }
}

const [scenario, resultsPath] = process.argv.slice(2);
const stopWatching = watchForStalls();
const backends = await loadBackends();
for (const b of backends) {
  if (!b.backend) console.log(`VM_BACKEND ${b.name} UNAVAILABLE -- ${b.reason}`);
}
const only = onlyGroup();
if (only === 'uas' && (scenario === 'xhci' || scenario === 'ehci')) {
  console.log(`VM_NOTE only the UAS cases (VM_ONLY=uas)`);
  await registerUasCases(scenario, backends);
} else if (only === 'sg' && (scenario === 'xhci' || scenario === 'ehci')) {
  console.log(`VM_NOTE only the SG_IO cases (VM_ONLY=sg)`);
  await registerSgCases(scenario, backends);
} else if (only === 'handoff' && (scenario === 'xhci' || scenario === 'ehci')) {
  console.log(`VM_NOTE only the handoff and mount cases (VM_ONLY=handoff)`);
  await registerHandoffCases(scenario, backends);
} else if (scenario === 'xhci' || scenario === 'ehci') {
  await registerQemuDiskCases(scenario, backends);
  // Its UAS cases run on the usb-uas disk (cases/uas.mjs): this one has no UAS alternate.
  await registerContractCases(scenario, backends, (name, b) => qemuDiskEnv(scenario, name, b), {
    levels: ['backend', 'exchange'],
  });
  await registerBotCases(scenario, backends);
  await registerDeviceCases(scenario, backends);
  await registerSgCases(scenario, backends);
  // Takeover first: it needs no lease, so it stands on its own whatever the lease cases leave.
  await registerTakeoverCases(scenario, backends);
  await registerHandoffCases(scenario, backends);
  if (scenario === 'xhci') registerInstalledCases(scenario);
  // Last: the usb-uas disk beside usb-storage (a QEMU fault there must not cost the cases above).
  await registerUasCases(scenario, backends);
} else if (scenario === 'gadget') {
  const { registerGadgetCases } = await import('./cases/gadget.mjs');
  await registerGadgetCases(backends, async (running) =>
    (await import('./cases/short-data.mjs')).registerShortDataCases(backends, running),
  );
  const { registerNvmeBridgeCases } = await import('./cases/nvme-bridges.mjs');
  await registerNvmeBridgeCases(backends);
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
const summary = await run(`vm-${scenario}`, resultsPath);
stopWatching();
process.exit(summary.success ? 0 : 1);
