/**
 * The daemon's half of a file handed over (file-passing.ts) against a real Unix socket: the
 * descriptor of a regular file comes back; a client that asks and never sends, sends a plain byte,
 * or sends what is not a regular file is refused with a typed error, and never holds the daemon.
 * End to end through the daemon: block-streams.test.ts.
 */
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, FILE_PASSING_UNAVAILABLE, loadNativeAddon } from '@usbscsi/core';
import { receiveFile, systemFileReceiver } from '../src/file-passing.js';

const receiveFd = systemFileReceiver();
const native = loadNativeAddon();
const sendFd = native.ok ? native.addon.sendFd?.bind(native.addon) : undefined;

const fdOf = (s: Socket) => (s as unknown as { _handle: { fd: number } })._handle.fd;

describe.skipIf(receiveFd === undefined || sendFd === undefined)(
  `receiveFile${receiveFd ? '' : ' (SKIPPED LOUDLY: no native addon with receiveFd on this platform)'}`,
  () => {
    let dir: string;
    let listener: Server;
    let server: Socket;
    let client: Socket;
    let asked: number;
    const res = { writeProcessing: () => void asked++ } as unknown as ServerResponse;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'usbscsid-fdpass-'));
      asked = 0;
      await new Promise<void>((resolve) => {
        listener = createServer((s) => {
          server = s;
          resolve();
        }).listen(join(dir, 's.sock'));
        client = connect(join(dir, 's.sock')).on('error', () => undefined);
      });
    });
    afterEach(() => {
      client.destroy();
      server.destroy();
      listener.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const send = (fd: number) => sendFd!(fdOf(client), fd);

    it('asks with 102, then gives back the descriptor of the file the client sent', async () => {
      const file = openSync(join(dir, 'f.bin'), 'w');
      const taken = receiveFile(server, res, receiveFd);
      setTimeout(() => send(file), 20);
      const fd = await taken;
      expect(asked).toBe(1);
      expect(fstatSync(fd).ino).toBe(fstatSync(file).ino);
      closeSync(fd);
      closeSync(file);
      // The connection is read again afterwards: HTTP goes on on it.
      const got = new Promise((resolve) => server.once('data', resolve));
      client.write('after');
      expect(String(await got)).toBe('after');
    });

    it('a client that never sends: E_TIMEOUT after the wait', async () => {
      await expect(receiveFile(server, res, receiveFd, 80)).rejects.toMatchObject({
        code: ErrorCodes.TIMEOUT,
        message: expect.stringContaining('within 80 ms'),
      });
    });

    it('a plain byte, or a client that leaves: E_CANCELLED', async () => {
      client.write('x');
      await expect(receiveFile(server, res, receiveFd, 1000)).rejects.toMatchObject({ code: ErrorCodes.CANCELLED });
    });

    it('what is not a regular file (here /dev/null) is refused and closed', async () => {
      const devNull = openSync('/dev/null', 'w');
      setTimeout(() => send(devNull), 20);
      await expect(receiveFile(server, res, receiveFd, 1000)).rejects.toMatchObject({
        code: ErrorCodes.BAD_INPUT,
        details: { reason: 'not-a-file' },
      });
      closeSync(devNull);
    });

    it('a file on FUSE (served by a process that may never answer) is refused and closed', async () => {
      const file = openSync(join(dir, 'f.bin'), 'w');
      const seen: string[] = [];
      const fuse = (path: string) => (seen.push(path), { type: 0x65735546 });
      setTimeout(() => send(file), 20);
      await expect(receiveFile(server, res, receiveFd, 1000, fuse)).rejects.toMatchObject({
        code: ErrorCodes.BAD_INPUT,
        details: { reason: 'fuse-file' },
      });
      expect(seen).toEqual([expect.stringMatching(/^\/proc\/self\/fd\/\d+$/)]);
      closeSync(file);
    });

    it('without the addon, or on TCP: E_UNSUPPORTED "file-passing-unavailable" before asking', async () => {
      await expect(receiveFile(server, res, undefined)).rejects.toMatchObject({
        code: ErrorCodes.UNSUPPORTED,
        details: { reason: FILE_PASSING_UNAVAILABLE },
      });
      const tcp = Object.create(server, { remoteAddress: { value: '127.0.0.1' } }) as Socket;
      await expect(receiveFile(tcp, res, receiveFd)).rejects.toMatchObject({
        code: ErrorCodes.UNSUPPORTED,
        details: { reason: FILE_PASSING_UNAVAILABLE },
      });
      expect(asked).toBe(0);
    });
  },
);
