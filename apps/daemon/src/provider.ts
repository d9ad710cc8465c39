import type { DaemonDeviceSummary, DataDirection, ScsiResult } from '@usbscsi/core';

/**
 * What the daemon shows about one device it can serve before it has any state
 * of it (core's wire shape). `id` is the bus-port path (`1-2.3`), stable while
 * plugged in and URL-safe.
 */
export type DeviceSummary = DaemonDeviceSummary;

export interface ExecuteOptions {
  direction: DataDirection;
  /** Data-in: bytes asked for. */
  length?: number;
  /** Data-out: the bytes to send. */
  data?: Uint8Array;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The client's explicit consent to commands that write to the medium. */
  allowMediumWrite?: boolean;
}

/** An opened device (core's `ScsiDevice` satisfies it): the daemon sends everything through it. */
export interface OpenedDevice {
  execute(cdb: Uint8Array, options: ExecuteOptions): Promise<ScsiResult>;
  reset(): Promise<void>;
  /** Hands the device back to the OS (ends the handoff lease, if one was taken). */
  close(): Promise<void>;
}

/** A device as `list()` gives it: its summary, and what tells one attachment at its id from the next. */
export interface ListedDevice extends DeviceSummary {
  /**
   * Changes whenever a device is enumerated anew at this id (bus and device address on USB), even
   * the same device plugged back in or re-enumerated after a firmware download; never shown to
   * clients. Undefined where the provider cannot tell.
   */
  attachment?: string;
}

export interface DeviceChange {
  type: 'arrived' | 'left';
  device: DeviceSummary;
}

/**
 * Where devices come from: core's backends (`auto`), simulated devices, or a
 * test double. The daemon opens a device on first use and closes it after
 * an idle period, so the OS gets it back between uses.
 */
export interface DeviceProvider {
  readonly name: string;
  list(): Promise<ListedDevice[]>;
  /** `E_NOT_FOUND` / `E_DEVICE_GONE` when the device is not there any more. */
  open(id: string): Promise<OpenedDevice>;
  /** Hotplug notifications, when the backend has them; the daemon polls `list()` otherwise. */
  watch?(listener: (change: DeviceChange) => void): () => void;
  dispose?(): Promise<void>;
}
