import { describe, expect, it } from 'vitest';
import { NVME_BRIDGE_PRESETS, parseSimOptions, SimulatedDevice, createSimulatedBackend } from '@usbscsi/emulator';

describe('sim:bridge=NAME', () => {
  it('each preset builds a device with its VID:PID and bridge model', () => {
    for (const name of Object.keys(NVME_BRIDGE_PRESETS)) {
      const options = parseSimOptions(`sim:bridge=${name}`);
      const device = new SimulatedDevice(options);
      expect([device.vendorId, device.productId]).toEqual([
        NVME_BRIDGE_PRESETS[name as keyof typeof NVME_BRIDGE_PRESETS].vendorId,
        NVME_BRIDGE_PRESETS[name as keyof typeof NVME_BRIDGE_PRESETS].productId,
      ]);
      expect(device.nvme?.chip).toBe(options.nvmeBridge!.chip);
    }
  });

  it('vid/pid override the preset; passthrough=basic turns the second protocol off; uas adds the UAS alternate', () => {
    const o = parseSimOptions('sim:bridge=asm2362,vid=1234,pid=5678,passthrough=basic,uas');
    expect(o).toMatchObject({
      vendorId: 0x1234,
      productId: 0x5678,
      interfaces: 'bot+uas',
      nvmeBridge: { chip: 'asmedia', secondMode: false },
    });
    const backend = createSimulatedBackend(o);
    expect(backend.devices[0]!.info().configurations[0]!.interfaces.some((i) => i.interfaceProtocol === 0x62)).toBe(
      true,
    );
  });

  it('bad values are E_BAD_INPUT naming the known ones', () => {
    expect(() => parseSimOptions('sim:bridge=jms999')).toThrow(/jms583, asm2362, rtl9210, rtl9220, ex400u/);
    expect(() => parseSimOptions('sim:bridge=rtl9210,passthrough=half')).toThrow(/full or basic/);
    expect(() => parseSimOptions('sim:passthrough=basic')).toThrow(/needs bridge=/);
  });
});
