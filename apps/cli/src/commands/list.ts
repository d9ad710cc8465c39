import type { Command } from 'commander';
import { listMassStorageDevices } from '@usbscsi/core';
import { table } from '../format/table.js';
import { usbJson } from './describe.js';
import type { Wrap } from './index.js';

export function registerList(program: Command, wrap: Wrap): void {
  program
    .command('list')
    .description(
      'list USB mass-storage devices: IDs, strings, bus path, speed, interfaces, driver, block/tape/sg nodes, mounts',
    )
    .action(
      wrap(async (ctx) => {
        const { backend, dispose } = await ctx.listingBackend();
        try {
          const devices = await listMassStorageDevices(backend);
          const docs = devices.map((d) => {
            const storage = d.storage ?? [];
            return {
              ...usbJson(d),
              backend: d.backend,
              interfaces: d.interfaces.map((i) => ({ interfaceNumber: i.interfaceNumber, protocols: i.protocols })),
              driver: storage.map((s) => s.driver).find((x) => x) ?? null,
              blockDevices: storage.flatMap((s) => s.blockDevices),
              sgDevices: storage.flatMap((s) => s.sgDevices),
              tapeDevices: storage.flatMap((s) => s.tapeDevices ?? []),
              mounts: storage.flatMap((s) =>
                s.mounts.map((m) => ({ device: m.device, mountPoint: m.mountPoint, fsType: m.fsType ?? null })),
              ),
            };
          });
          ctx.emit({ devices: docs }, () => {
            if (docs.length === 0) return 'No USB mass-storage devices found.\n';
            const rows: (string | number)[][] = [
              ['ID', 'LOCATION', 'SPEED', 'PROTO', 'DRIVER', 'DISKS', 'MOUNTED', 'PRODUCT', 'SERIAL'],
            ];
            for (const d of docs) {
              rows.push([
                `${d.vendorId}:${d.productId}`,
                d.location,
                d.speed ?? '-',
                [...new Set(d.interfaces.flatMap((i) => i.protocols))].join('+') || '-',
                d.driver ?? '-',
                [...d.blockDevices, ...d.tapeDevices, ...d.sgDevices].join(',') || '-',
                d.mounts.map((m) => m.mountPoint).join(',') || '-',
                [d.manufacturer, d.product].filter(Boolean).join(' ') || '-',
                d.serialNumber ?? '-',
              ]);
            }
            return table(rows);
          });
        } finally {
          await dispose();
        }
      }),
    );
}
