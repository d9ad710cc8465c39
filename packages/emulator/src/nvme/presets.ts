/**
 * The bridges `--device sim:bridge=NAME` and the gadget offer: VID:PID (from the bridge table),
 * INQUIRY strings, the drive behind it, the bridge model and its hazard.
 */
import type { SimulatedDeviceOptions } from '../usb/simulated-device.js';

export type NvmeBridgePresetName = 'jms583' | 'asm2362' | 'rtl9210' | 'rtl9220' | 'ex400u';

export const NVME_BRIDGE_PRESETS: Readonly<Record<NvmeBridgePresetName, Readonly<SimulatedDeviceOptions>>> =
  Object.freeze({
    /** JMicron JMS583 (152d:0583), NVMe SSD; a log reply above 0x230 bytes resets the port. */
    jms583: {
      vendorId: 0x152d,
      productId: 0x0583,
      vendor: 'JMicron',
      product: 'Generic',
      revision: '0214',
      manufacturerString: 'JMicron',
      productString: 'USB to NVMe (simulated)',
      speed: 'super',
      ata: false,
      nvmeBridge: { chip: 'jmicron', resetOnLongLog: true },
    },
    /** ASMedia ASM2362 (174c:2362), NVMe SSD, E6h and the EAh/EBh packet mode. */
    asm2362: {
      vendorId: 0x174c,
      productId: 0x2362,
      vendor: 'ASMT',
      product: '2362 NVMe',
      revision: '0',
      manufacturerString: 'ASMedia',
      productString: 'ASM2362 (simulated)',
      speed: 'super',
      ata: false,
      nvmeBridge: { chip: 'asmedia' },
    },
    /** Realtek RTL9210 (0bda:9210), NVMe SSD, E4h and the E4h/E5h full mode. */
    rtl9210: {
      vendorId: 0x0bda,
      productId: 0x9210,
      vendor: 'Realtek',
      product: 'RTL9210 NVME',
      revision: '1.00',
      manufacturerString: 'Realtek',
      productString: 'RTL9210 (simulated)',
      speed: 'super',
      ata: false,
      nvmeBridge: { chip: 'realtek' },
    },
    /** Realtek RTL9220 (0bda:9220) with a SATA SSD: NVMe Identify comes back zero, SAT works. */
    rtl9220: {
      vendorId: 0x0bda,
      productId: 0x9220,
      vendor: 'Realtek',
      product: 'RTL9220 SATA',
      revision: '1.00',
      manufacturerString: 'Realtek',
      productString: 'RTL9220 (simulated)',
      speed: 'super',
      nvmeBridge: { chip: 'realtek', drive: 'sata' },
    },
    /** Corsair EX400U (1b1c:1a20), UAS-capable, E6h only; E6h drops it (smartmontools #490). */
    ex400u: {
      vendorId: 0x1b1c,
      productId: 0x1a20,
      vendor: 'Corsair',
      product: 'EX400U',
      revision: '0',
      manufacturerString: 'Corsair',
      productString: 'EX400U (simulated)',
      speed: 'super',
      interfaces: 'bot+uas',
      ata: false,
      nvmeBridge: { chip: 'asmedia', secondMode: false, e6Disconnects: true },
    },
  });

export function nvmeBridgePreset(name: string): SimulatedDeviceOptions | undefined {
  return Object.hasOwn(NVME_BRIDGE_PRESETS, name)
    ? { ...NVME_BRIDGE_PRESETS[name as NvmeBridgePresetName] }
    : undefined;
}
