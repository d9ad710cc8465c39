/**
 * Serves a {@link BotDevice} to a real USB host through FunctionFS: the
 * guest kernel's host side (usb-storage, usbfs, libusb) then sees the
 * emulator as a USB mass-storage device, faults and vendor commands included.
 *
 * BotDevice is host-driven (the host offers OUT bytes and polls IN); on a
 * gadget the device must *queue* its I/O before the host asks, so two pumps
 * follow the device's phase: the OUT pump reads a CBW or the data-out the CBW
 * announced, the IN pump writes data-in and the CSW. Reads and writes are cut
 * to {@link CHUNK} bytes (FunctionFS copies each through one kernel buffer);
 * pieces that are whole packets do not end the host's transfer.
 *
 * What the kernel does differently from the in-process emulator:
 * - dummy_hcd (and UDC drivers generally) answer CLEAR_FEATURE(HALT)
 *   themselves: the device never sees it. So after halting an endpoint we
 *   tell the BotDevice the halt is cleared at once (a write queued after the
 *   halt goes out when the host clears it), except while it is wedged after
 *   an invalid CBW, where it waits for the Bulk-Only reset.
 * - A USB port reset reaches us as DISABLE then ENABLE: mapped to portReset().
 */
import type { BotDevice } from '../bot/bot-device.js';
import { FfsEventType, FunctionFs, errnoOf, type SetupPacket, type SetupReply } from './functionfs.js';
import { hex } from '@usbscsi/core/hex';

const CBW_LENGTH = 31;
export const CHUNK = 64 * 1024;
const ESHUTDOWN = -108;

export interface FfsBotAdapterOptions {
  /** The functionfs mount point. */
  dir: string;
  device: BotDevice;
  /** Each bulk transfer, control request and event, for debugging. */
  log?: (line: string) => void;
}

export class FfsBotAdapter {
  readonly ffs: FunctionFs;
  readonly #device: BotDevice;
  readonly #log: (line: string) => void;
  #enabled = false;
  #stopped = false;
  #wake: (() => void) | null = null;
  /** Bytes of data-out still expected for the current command (from its CBW). */
  #outRemaining = 0;
  /** Bytes of data-in the host still asks for. */
  #inRemaining = 0;
  /** ep0 events by type, and control requests as SETUP_<bmRequestType>_<bRequest> (what reached the device). */
  readonly events: Record<string, number> = {};

  constructor(options: FfsBotAdapterOptions) {
    this.#device = options.device;
    this.#log = options.log ?? (() => undefined);
    this.ffs = FunctionFs.start({
      dir: options.dir,
      onSetup: (s) => this.#onSetup(s),
      onEvent: (t) => this.#onEvent(t),
    });
    this.#device.onChange(() => this.#poke());
    void this.#outPump();
    void this.#inPump();
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Resolves on the next device change or ep0 event. */
  #changed(): Promise<void> {
    return new Promise((resolve) => {
      const prev = this.#wake;
      this.#wake = () => {
        prev?.();
        resolve();
      };
    });
  }

  #onEvent(type: number): void {
    const name = Object.entries(FfsEventType).find(([, v]) => v === type)?.[0] ?? String(type);
    this.events[name] = (this.events[name] ?? 0) + 1;
    this.#log(`ep0 event ${name}`);
    if (type === FfsEventType.ENABLE) this.#enabled = true;
    if (type === FfsEventType.DISABLE || type === FfsEventType.UNBIND) {
      // The host reset the port or went away: back to power-on state.
      this.#enabled = false;
      this.#device.portReset();
      this.#outRemaining = 0;
      this.#inRemaining = 0;
    }
    this.#poke();
  }

  async #onSetup(s: SetupPacket): Promise<SetupReply> {
    const isIn = (s.requestType & 0x80) !== 0;
    const key = `SETUP_${hex(s.requestType)}_${hex(s.request)}`;
    this.events[key] = (this.events[key] ?? 0) + 1;
    const outcome = await this.#device.control(
      { requestType: s.requestType, request: s.request, value: s.value, index: s.index },
      isIn ? s.length : new Uint8Array(0),
    );
    this.#log(`setup ${s.requestType.toString(16)} ${s.request.toString(16)} → ${outcome.status}`);
    if (s.requestType === 0x21 && s.request === 0xff && outcome.status === 'ok') {
      this.#outRemaining = 0;
      this.#inRemaining = 0;
    }
    if (outcome.status === 'stall') return 'stall';
    return isIn ? { data: outcome.data ?? new Uint8Array(0) } : 'ack';
  }

  async #waitEnabled(): Promise<void> {
    while (!this.#enabled && !this.#stopped) await this.#changed();
  }

  /** Halt in FunctionFS, then mirror the UDC's own CLEAR_FEATURE(HALT) into the device (see the file comment). */
  async #halt(side: 'in' | 'out'): Promise<void> {
    const ep = side === 'in' ? this.#device.inEndpoint : this.#device.outEndpoint;
    if (side === 'in') await this.ffs.haltIn();
    else await this.ffs.haltOut();
    this.#log(`halt ${side}`);
    this.#device.clearHalt(ep);
    if (this.#device.isHalted(ep)) {
      // Wedged after an invalid CBW: stays halted until the Bulk-Only reset, after which the
      // host's CLEAR_FEATURE(HALT) (answered by the UDC) is mirrored as above.
      while (this.#device.isHalted(ep) && !this.#stopped) {
        await this.#changed();
        if (this.#device.state !== 'needs-reset') this.#device.clearHalt(ep);
      }
    }
  }

  async #outPump(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#waitEnabled();
        const state = this.#device.state;
        if (this.#device.isHalted(this.#device.outEndpoint)) {
          await this.#halt('out');
          continue;
        }
        if (state !== 'cbw' && state !== 'data-out') {
          await this.#changed();
          continue;
        }
        if (state === 'data-out' && this.#device.offerBulkOut(new Uint8Array(0)).status === 'stall') {
          // A zero-length offer moves nothing but shows a stall due before the first byte: halt
          // before the UDC accepts the host's data (a stall later in the phase comes after the
          // chunk that crosses it has been accepted: the gadget cannot refuse part of a read).
          await this.#halt('out');
          continue;
        }
        const length = state === 'data-out' ? Math.min(CHUNK, Math.max(this.#outRemaining, 1)) : CBW_LENGTH;
        const bytes = await this.ffs.readOut(length);
        const wasCbw = this.#device.state === 'cbw';
        const outcome = await this.#device.onBulkOut(bytes);
        this.#log(`out ${bytes.length} (${wasCbw ? 'cbw' : 'data'}) → ${outcome.status}`);
        if (wasCbw && bytes.length === CBW_LENGTH) {
          const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          const length = v.getUint32(8, true);
          const dirIn = (bytes[12]! & 0x80) !== 0;
          this.#outRemaining = dirIn ? 0 : length;
          this.#inRemaining = dirIn ? length : 0;
          this.#poke();
        } else if (!wasCbw) {
          this.#outRemaining = Math.max(0, this.#outRemaining - outcome.accepted);
        }
        if (outcome.status === 'stall') await this.#halt('out');
      } catch (err) {
        if (this.#stopped) return;
        if (errnoOf(err) === ESHUTDOWN) continue; // disabled mid-transfer: wait for ENABLE
        this.#log(`out pump error: ${(err as Error).message}`);
        await this.#changed();
      }
    }
  }

  async #inPump(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#waitEnabled();
        const state = this.#device.state;
        if (state !== 'data-in' && state !== 'csw' && !this.#device.isHalted(this.#device.inEndpoint)) {
          await this.#changed();
          continue;
        }
        if (state === 'needs-reset') {
          await this.#halt('in');
          continue;
        }
        const maxLength = state === 'data-in' ? Math.min(CHUNK, Math.max(this.#inRemaining, 1)) : 13;
        const outcome = this.#device.pollBulkIn(maxLength);
        if (outcome.status === 'nak') {
          await this.#changed();
          continue;
        }
        if (outcome.data.length > 0 || outcome.status === 'ok') await this.ffs.writeIn(outcome.data);
        if (state === 'data-in') this.#inRemaining = Math.max(0, this.#inRemaining - outcome.data.length);
        this.#log(`in ${outcome.data.length} (${state}) → ${outcome.status}`);
        if (outcome.status === 'stall') await this.#halt('in');
      } catch (err) {
        if (this.#stopped) return;
        if (errnoOf(err) === ESHUTDOWN) continue;
        this.#log(`in pump error: ${(err as Error).message}`);
        await this.#changed();
      }
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#poke();
    this.ffs.close();
  }
}
