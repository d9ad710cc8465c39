// Cases against QEMU's usb-storage disk (46f4:0001), once per backend.
import { existsSync } from 'node:fs';
import { test, skip, skipNow } from '../runner.mjs';
import { rawCommand } from '../raw-bot.mjs';
import { QEMU_VID, QEMU_PID, assert, assertEqual, sdDisks, waitFor, usbInterfaceOfDisk, sgOfDisk } from '../util.mjs';

export async function findQemuDisk(backend) {
  const all = await backend.list();
  const found = all.filter((d) => d.vendorId === QEMU_VID && d.productId === QEMU_PID);
  assertEqual(found.length, 1, `46f4:0001 devices listed by ${backend.name}`);
  return found[0];
}

export function botInterface(info) {
  const intf = info.configurations[0]?.interfaces.find(
    (i) => i.interfaceClass === 8 && i.interfaceSubClass === 6 && i.interfaceProtocol === 0x50,
  );
  assert(intf, `a BOT interface (08/06/50) on ${JSON.stringify(info.configurations)}`);
  const bulk = intf.endpoints.filter((e) => e.transferType === 'bulk');
  const inEp = bulk.find((e) => e.address & 0x80);
  const outEp = bulk.find((e) => !(e.address & 0x80));
  assert(inEp && outEp, 'bulk IN and OUT endpoints');
  return { number: intf.interfaceNumber, eps: { in: inEp.address, out: outEp.address }, maxPacket: inEp.maxPacketSize };
}

/** Opens, detaches usb-storage, claims; `fn(handle, intf)`; then releases and re-attaches, waiting for the disk. */
export async function withClaimedDisk(backend, fn) {
  const info = await findQemuDisk(backend);
  const intf = botInterface(info);
  const handle = await backend.open(info);
  let claimed = false;
  try {
    await handle.detachKernelDriver(intf.number);
    await handle.claimInterface(intf.number);
    claimed = true;
    return await fn(handle, intf, info);
  } finally {
    if (claimed) await handle.releaseInterface(intf.number).catch(() => undefined);
    await handle.attachKernelDriver(intf.number).catch(() => undefined);
    await handle.close();
    await waitFor(() => sdDisks().length === 1, 'usb-storage to bring the disk back after attach', 20_000);
  }
}

export async function registerQemuDiskCases(scenario, backends) {
  const expectedSpeed = scenario === 'xhci' ? 'super' : 'high';
  for (const { name, backend, reason } of backends) {
    const t = (title, fn, opts) =>
      backend
        ? test(`[${scenario}/${name}] ${title}`, () => fn(backend), opts)
        : skip(`[${scenario}/${name}] ${title}`, reason);

    t("enumeration lists 46f4:0001 with its BOT interface, speed and the kernel's sd + sg nodes", async (b) => {
      const info = await findQemuDisk(b);
      const intf = botInterface(info);
      assertEqual(info.speed, expectedSpeed, 'speed');
      assertEqual(intf.maxPacket, scenario === 'xhci' ? 1024 : 512, 'bulk wMaxPacketSize');
      const disks = sdDisks();
      assertEqual(disks.length, 1, 'sd disks');
      const loc = usbInterfaceOfDisk(disks[0]);
      assertEqual(
        loc,
        `${info.busNumber}-${info.portNumbers.join('.')}:${info.configurations[0].configurationValue}.${intf.number}`,
        'usb interface of the disk',
      );
      assert(sgOfDisk(disks[0]) && existsSync(`/dev/${sgOfDisk(disks[0])}`), 'an sg node for the disk');
    });

    t('storage binding from the backend names the block device and sg node (linuxStorageBindings)', async (b) => {
      const info = await findQemuDisk(b);
      if (!info.storage)
        skipNow(
          'NOT LANDED: core/topology/linux-sysfs.ts linuxStorageBindings() is absent, ' +
            'so the backend reports no storage bindings',
        );
      const disk = sdDisks()[0];
      const s = info.storage.find((x) => x.driver === 'usb-storage');
      assert(s, `a usb-storage binding in ${JSON.stringify(info.storage)}`);
      assertEqual(s.blockDevices, [`/dev/${disk}`], 'block devices');
      assertEqual(s.sgDevices, [`/dev/${sgOfDisk(disk)}`], 'sg devices');
    });

    t('raw BOT after detach: INQUIRY, TEST UNIT READY, READ CAPACITY(10); attach brings sd back', async (b) => {
      await withClaimedDisk(b, async (h, intf) => {
        assertEqual(sdDisks().length, 0, 'sd disks while detached');
        const inq = await rawCommand(h, intf.eps, Uint8Array.of(0x12, 0, 0, 0, 36, 0), { inLength: 36 });
        assertEqual(inq.status, 0, 'INQUIRY status');
        assertEqual(Buffer.from(inq.data.subarray(8, 16)).toString('latin1').trim(), 'QEMU', 'vendor');
        assertEqual(Buffer.from(inq.data.subarray(16, 32)).toString('latin1').trim(), 'QEMU HARDDISK', 'product');
        let tur = await rawCommand(h, intf.eps, Uint8Array.of(0, 0, 0, 0, 0, 0));
        // a unit attention once
        if (tur.status === 1) tur = await rawCommand(h, intf.eps, Uint8Array.of(0, 0, 0, 0, 0, 0));
        assertEqual(tur.status, 0, 'TEST UNIT READY status');
        const cap = await rawCommand(h, intf.eps, Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), { inLength: 8 });
        const v = new DataView(cap.data.buffer, cap.data.byteOffset);
        assertEqual(v.getUint32(0) + 1, (64 * 1024 * 1024) / 512, 'blocks');
        assertEqual(v.getUint32(4), 512, 'block size');
      });
    });
  }
}
