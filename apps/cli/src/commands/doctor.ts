import type { Command } from 'commander';
import { describeEngine, type EngineChoice, type EngineInfo } from '@usbscsi/core';
import { ExitCode } from '../exit-codes.js';
import type { Wrap } from './index.js';

const LABEL: Record<string, string> = {
  override: 'USBSCSI_NATIVE_BINARY',
  prebuild: 'prebuilt native engine',
  source: 'native engine built from source',
  'node-usb': 'node-usb (the `usb` package)',
};

/** USBSCSI_NATIVE_BINARY set but not loaded: an explicit choice that failed, whatever `auto` fell back to. */
function failedOverride(info: EngineInfo): EngineChoice | undefined {
  return info.choices.find((c) => c.choice === 'override' && c.status !== 'loaded');
}

function human(info: EngineInfo): string {
  const lines: string[] = [];
  const override = failedOverride(info);
  if (override)
    lines.push(
      `USBSCSI_NATIVE_BINARY failed: ${override.reason ?? override.status}; unset it or ` +
        `name a usbscsi_native.node that loads`,
    );
  if (info.engine === 'native') {
    lines.push(`engine: native (${LABEL[info.from ?? 'prebuild']})`);
    lines.push(`  loaded from: ${info.path ?? '?'}`);
    lines.push(
      `  libusb: ${info.libusbVersion ?? 'unknown'}${info.from === 'prebuild' ? ' (linked into the binary)' : ''}`,
    );
  } else if (info.engine === 'node-usb') {
    lines.push('engine: node-usb (fallback: one transfer per endpoint, slower; cannot capture a device on macOS)');
    lines.push(`  loaded from: ${info.path ?? '?'}`);
  } else {
    lines.push('engine: none: no USB engine could be loaded (only --device sim and SG_IO paths work)');
  }
  lines.push(`  ${info.platform}-${info.arch}, Node ${info.node}`);
  if (info.note) lines.push(`  note: ${info.note}`);
  lines.push('choices, in order:');
  info.choices.forEach((c, i) => {
    const what = `${LABEL[c.choice] ?? c.choice}${c.target ? ` ${c.target}` : ''}`;
    const status = c.status === 'loaded' ? 'in use' : c.status;
    lines.push(`  ${i + 1}. ${what}: ${status}${c.reason ? ` (${c.reason})` : ''}`);
    if (c.path && c.status !== 'loaded') lines.push(`     ${c.path}`);
  });
  return lines.join('\n') + '\n';
}

/** The --json document: every field present, `null` when unknown (docs/cli.md). */
function toJson(info: EngineInfo): Record<string, unknown> {
  return {
    engine: info.engine,
    from: info.from ?? null,
    path: info.path ?? null,
    libusbVersion: info.libusbVersion ?? null,
    platform: info.platform,
    arch: info.arch,
    node: info.node,
    note: info.note ?? null,
    choices: info.choices.map((c) => ({
      choice: c.choice,
      status: c.status,
      path: c.path ?? null,
      target: c.target ?? null,
      reason: c.reason ?? null,
    })),
  };
}

export function registerDoctor(program: Command, wrap: Wrap): void {
  program
    .command('doctor')
    .description(
      'say which USB engine is in use (prebuilt native, source build, node-usb), where ' +
        'it was loaded from, the libusb inside, and why each earlier choice was not taken',
    )
    .action(
      wrap(async (ctx) => {
        const info = await describeEngine();
        ctx.emit(toJson(info), () => human(info));
        return info.engine === 'none' || failedOverride(info) ? ExitCode.UNSUPPORTED : ExitCode.OK;
      }),
    );
}
