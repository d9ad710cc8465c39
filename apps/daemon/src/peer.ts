import type { Socket } from 'node:net';
import { loadNativeAddon } from '@usbscsi/core';

/** Who is at the other end of a Unix-socket connection, as the kernel recorded it at connect(). */
export interface PeerIdentity {
  uid: number;
  pid: number;
}

/** Undefined when the platform cannot tell (no native addon, not Linux): then only a lease's secret counts. */
export type PeerLookup = (socket: Socket) => PeerIdentity | undefined;

/**
 * SO_PEERCRED through the native addon. Node keeps a connected socket's
 * descriptor on its internal handle; there is no public accessor for it.
 */
export function systemPeerLookup(): PeerLookup {
  const load = loadNativeAddon();
  const peerCredentials = load.ok ? load.addon.peerCredentials?.bind(load.addon) : undefined;
  if (!peerCredentials) return () => undefined;
  return (socket) => {
    const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return undefined;
    try {
      const { uid, pid } = peerCredentials(fd);
      return { uid, pid };
    } catch {
      return undefined; // the peer went away between accept and this call
    }
  };
}
