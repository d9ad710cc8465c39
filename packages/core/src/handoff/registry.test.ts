import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { LeaseRegistry, type RegisteredLease } from './registry.js';

class FakeHost extends EventEmitter {
  readonly pid = 4321;
  readonly kills: [number, string | number | undefined][] = [];
  kill(pid: number, signal?: string | number): boolean {
    this.kills.push([pid, signal]);
    return true;
  }
}

function fakeLease(registry: LeaseRegistry, events: string[], name = 'lease', delayMs = 5): RegisteredLease {
  let released: Promise<void> | null = null;
  const lease: RegisteredLease = {
    description: name,
    release: () =>
      (released ??= new Promise<void>((resolve) =>
        setTimeout(() => {
          events.push(`released ${name}`);
          registry.remove(lease);
          resolve();
        }, delayMs),
      )),
  };
  registry.add(lease);
  return lease;
}

const handlerEvents = ['SIGINT', 'SIGTERM', 'SIGHUP', 'uncaughtException', 'beforeExit', 'exit'];
const listenerCount = (host: FakeHost) => handlerEvents.reduce((n, e) => n + host.listenerCount(e), 0);
const settle = () => new Promise((r) => setTimeout(r, 30));

describe('LeaseRegistry', () => {
  it('installs handlers once while leases are held and removes them with the last one', async () => {
    const host = new FakeHost();
    const registry = new LeaseRegistry({ host, log: () => undefined });
    expect(listenerCount(host)).toBe(0);
    const events: string[] = [];
    const a = fakeLease(registry, events, 'a');
    const b = fakeLease(registry, events, 'b');
    expect(listenerCount(host)).toBe(handlerEvents.length);
    await a.release();
    expect(registry.installed).toBe(true);
    await b.release();
    expect(listenerCount(host)).toBe(0);
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`on ${signal}: releases every lease, removes its handlers, then re-raises ${signal}`, async () => {
      const host = new FakeHost();
      const log: string[] = [];
      const registry = new LeaseRegistry({ host, log: (m) => log.push(m) });
      const events: string[] = [];
      fakeLease(registry, events, 'a');
      fakeLease(registry, events, 'b');
      host.emit(signal, signal);
      expect(host.kills).toEqual([]); // not before the leases are back
      await settle();
      expect(events.sort()).toEqual(['released a', 'released b']);
      expect(host.kills).toEqual([[4321, signal]]);
      expect(listenerCount(host)).toBe(0);
      expect(log[0]).toContain('giving the device back');
    });
  }

  it('a second signal during release exits at once and says to run recover', async () => {
    const host = new FakeHost();
    const log: string[] = [];
    const registry = new LeaseRegistry({ host, log: (m) => log.push(m) });
    fakeLease(registry, [], 'slow', 200);
    host.emit('SIGINT', 'SIGINT');
    host.emit('SIGINT', 'SIGINT');
    expect(host.kills).toEqual([[4321, 'SIGINT']]);
    expect(log.at(-1)).toContain('usbscsi recover');
    expect(listenerCount(host)).toBe(0);
  });

  it('on an uncaught exception: releases, then throws it again', async () => {
    const host = new FakeHost();
    const rethrown: unknown[] = [];
    const registry = new LeaseRegistry({ host, log: () => undefined, rethrow: (e) => rethrown.push(e) });
    const events: string[] = [];
    fakeLease(registry, events);
    const boom = new Error('boom');
    host.emit('uncaughtException', boom);
    expect(rethrown).toEqual([]);
    await settle();
    expect(events).toEqual(['released lease']);
    expect(rethrown).toEqual([boom]);
    expect(listenerCount(host)).toBe(0);
  });

  it('on a normal exit (beforeExit) releases; on process.exit() it can only warn', async () => {
    const host = new FakeHost();
    const log: string[] = [];
    const registry = new LeaseRegistry({ host, log: (m) => log.push(m) });
    const events: string[] = [];
    fakeLease(registry, events, 'a');
    host.emit('exit', 0);
    expect(log[0]).toMatch(/exiting while holding a.*usbscsi recover/);
    host.emit('beforeExit', 0);
    await settle();
    expect(events).toEqual(['released a']);
    expect(host.kills).toEqual([]);
  });

  it('setSignals([]) leaves signals to the app but still covers uncaught exceptions', async () => {
    const host = new FakeHost();
    const registry = new LeaseRegistry({ host, log: () => undefined, rethrow: () => undefined });
    const events: string[] = [];
    fakeLease(registry, events);
    registry.setSignals([]);
    expect(host.listenerCount('SIGINT')).toBe(0);
    expect(host.listenerCount('uncaughtException')).toBe(1);
    host.emit('SIGINT', 'SIGINT');
    await settle();
    expect(events).toEqual([]);
    host.emit('uncaughtException', new Error('x'));
    await settle();
    expect(events).toEqual(['released lease']);
  });

  it('on process.exit() with leases that can be recovered elsewhere, starts the after-exit helper once', () => {
    const host = new FakeHost();
    const log: string[] = [];
    const plans: unknown[] = [];
    const registry = new LeaseRegistry({
      host,
      log: (m) => log.push(m),
      spawnExitHelper: (plan) => plans.push(plan) > 0,
    });
    const item = {
      spec: { factory: 'createLinuxPlatform' },
      journalPath: '/j.json',
      device: { vendorId: 1, productId: 2, busNumber: 1, portNumbers: [2], interfaceNumber: 0 },
    };
    registry.add({ description: 'a', release: () => Promise.resolve(), exitRecovery: () => item });
    host.emit('exit', 1);
    expect(plans).toHaveLength(1);
    expect(plans[0]).toMatchObject({ parentPid: 4321, items: [item] });
    expect((plans[0] as { entry: string }).entry).toMatch(/\/handoff\/exit-recovery\.js$/);
    expect(log[0]).toContain('given back as soon as this process is gone');
  });

  it('a release that fails is reported, and the others still run', async () => {
    const host = new FakeHost();
    const log: string[] = [];
    const registry = new LeaseRegistry({ host, log: (m) => log.push(m) });
    const events: string[] = [];
    const bad: RegisteredLease = { description: 'bad', release: () => Promise.reject(new Error('attach failed')) };
    registry.add(bad);
    fakeLease(registry, events, 'good');
    host.emit('SIGTERM', 'SIGTERM');
    await settle();
    expect(events).toEqual(['released good']);
    expect(log.join('\n')).toContain('attach failed');
    expect(host.kills).toEqual([[4321, 'SIGTERM']]);
  });
});
