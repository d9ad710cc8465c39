/**
 * nvme: admin commands to an NVMe drive behind a USB bridge (JMicron, ASMedia, Realtek), found
 * from the VID:PID table and safe probes, or named with --bridge. Reads need no consent;
 * self-tests and raw commands not known to be read-only need --yes.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  hex0x,
  adminCommandEffect,
  adminOpcodeName,
  badInput,
  nvmeStatusText,
  type NvmeAdminCommand,
  type NvmeDevice,
  type SelfTestKind,
} from '@usbscsi/core';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { hexdump } from '../format/hexdump.js';
import {
  detectionJson,
  detectionLine,
  errorLogJson,
  identifyFields,
  identifyJson,
  selfTestLogJson,
  smartLogFields,
  smartLogJson,
  smartStatusJson,
} from '../format/nvme.js';
import { fields, table } from '../format/table.js';
import { parseIntOption, parseSizeOption } from '../options.js';
import type { Wrap } from './index.js';
import { parseBridgeOption } from './smart.js';
import { readInputFile } from './write.js';

const BRIDGE_HELP = 'bridge protocol: auto|jmicron|asmedia|realtek (default auto)';

function withNvme<T>(
  ctx: CliContext,
  options: Record<string, unknown>,
  fn: (nvme: NvmeDevice) => Promise<T>,
): Promise<T> {
  const bridge = parseBridgeOption(options['bridge']);
  if (bridge === 'sat')
    throw badInput(
      '--bridge sat is the SATA path; `usbscsi nvme` needs an NVMe bridge (auto, jmicron, asmedia or realtek).',
    );
  return ctx.withDevice(async (device) => fn(await device.nvme({ bridge })));
}

function adminCommandFromOptions(opcodeText: string, options: Record<string, unknown>): NvmeAdminCommand {
  const opcode = parseIntOption(opcodeText, 'OPCODE', { max: 0xff });
  const dw = (key: string) =>
    options[key] === undefined ? undefined : parseIntOption(options[key] as string, `--${key}`, { max: 0xffff_ffff });
  if (options['in'] !== undefined && options['out'] !== undefined)
    throw badInput('give --in LEN or --out FILE, not both: an NVMe command has one data direction.');
  const cmd: NvmeAdminCommand = { opcode, direction: 'none' };
  for (const key of ['nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15'] as const) {
    const v = dw(key);
    if (v !== undefined) cmd[key] = v;
  }
  if (options['in'] !== undefined) {
    cmd.direction = 'in';
    cmd.length = parseSizeOption(options['in'] as string, '--in', { min: 1, max: 16 * 1024 * 1024 });
  } else if (options['out'] !== undefined) {
    cmd.direction = 'out';
    cmd.data = readInputFile(options['out'] as string, '--out');
  }
  const effect = adminCommandEffect(cmd);
  if (effect.effect === 'write' && options['yes'] !== true) {
    throw badInput(`NVMe ${adminOpcodeName(opcode)} ${effect.reason}: add --yes to send it.`);
  }
  return cmd;
}

export function registerNvme(program: Command, wrap: Wrap): void {
  const nvme = program
    .command('nvme')
    .description(
      'NVMe admin commands through a USB-NVMe bridge: identify, smart-log, error-log, self-test, log, admin',
    );

  nvme
    .command('identify')
    .description('Identify Controller (and Identify Namespace --namespace N)')
    .option('--namespace <nsid>', 'also Identify Namespace NSID (e.g. 1)')
    .option('--bridge <kind>', BRIDGE_HELP)
    .action(
      wrap((ctx, _args, options) => {
        const nsid =
          options['namespace'] === undefined
            ? undefined
            : parseIntOption(options['namespace'] as string, '--namespace', { min: 1, max: 0xffff_fffe });
        return withNvme(ctx, options, async (dev) => {
          const id = await dev.identifyController();
          const ns = nsid === undefined ? undefined : await dev.identifyNamespace(nsid);
          const nsJson = ns
            ? {
                nvme_namespaces: [
                  {
                    id: nsid,
                    size: { blocks: Number(ns.size), bytes: Number(ns.size) * ns.blockSize },
                    capacity: { blocks: Number(ns.capacity) },
                    utilization: { blocks: Number(ns.utilization) },
                    formatted_lba_size: ns.blockSize,
                  },
                ],
              }
            : {};
          ctx.emit({ detection: detectionJson(dev.detection), ...identifyJson(id), ...nsJson }, () =>
            fields([
              ['Path', detectionLine(dev.detection)],
              ...identifyFields(id),
              ...(ns
                ? ([[`Namespace ${nsid}`, `${ns.size} blocks of ${ns.blockSize} bytes, ${ns.utilization} in use`]] as [
                    string,
                    string,
                  ][])
                : []),
            ]),
          );
        });
      }),
    );

  nvme
    .command('smart-log')
    .description('SMART / Health Information log (02h)')
    .option('--bridge <kind>', BRIDGE_HELP)
    .action(
      wrap((ctx, _args, options) =>
        withNvme(ctx, options, async (dev) => {
          const log = await dev.smartLog();
          ctx.emit(
            {
              detection: detectionJson(dev.detection),
              ...smartStatusJson(log),
              nvme_smart_health_information_log: smartLogJson(log),
            },
            () => fields([['Path', detectionLine(dev.detection)], ...smartLogFields(log)]),
          );
        }),
      ),
    );

  nvme
    .command('error-log')
    .description('Error Information log (01h)')
    .option('--entries <n>', 'entries to read (default 16; fewer where the bridge caps reads)')
    .option('--bridge <kind>', BRIDGE_HELP)
    .action(
      wrap((ctx, _args, options) => {
        const entries =
          options['entries'] === undefined
            ? 16
            : parseIntOption(options['entries'] as string, '--entries', { min: 1, max: 256 });
        return withNvme(ctx, options, async (dev) => {
          const r = await dev.errorLog(entries);
          ctx.emit(
            {
              detection: detectionJson(dev.detection),
              nvme_error_information_log: { size: entries, ...errorLogJson(r.entries, r.read), capped: r.capped },
            },
            () => {
              if (r.entries.length === 0) return `No errors logged (${r.read} entries read)\n`;
              const rows: (string | number)[][] = [
                ['ErrCount', 'SQId', 'CmdId', 'Status', 'PELoc', 'LBA', 'NSID', 'Message'],
              ];
              for (const e of r.entries)
                rows.push([
                  String(e.errorCount),
                  e.submissionQueueId,
                  hex0x(e.commandId, 4),
                  `0x${e.status.toString(16)}`,
                  `0x${e.parameterErrorLocation.toString(16)}`,
                  String(e.lba),
                  e.nsid === 0xffffffff ? '-' : e.nsid,
                  e.statusText,
                ]);
              return `${r.capped ? `(${r.read} of ${entries} entries: the bridge caps the read)\n` : ''}${table(rows)}`;
            },
          );
        });
      }),
    );

  nvme
    .command('self-test')
    .description('Device Self-test log (06h); with short|extended|abort starts or aborts a test (needs --yes)')
    .argument('[action]', 'short, extended or abort')
    .option('--yes', 'consent: a self-test runs on the medium')
    .option('--bridge <kind>', BRIDGE_HELP)
    .action(
      wrap((ctx, args, options) => {
        const action = args[0];
        if (action !== undefined && !['short', 'extended', 'abort'].includes(action))
          throw badInput(`self-test takes short, extended or abort; got "${action}".`);
        if (action !== undefined && options['yes'] !== true)
          throw badInput(`a ${action} self-test runs on the medium: add --yes to start it.`);
        return withNvme(ctx, options, async (dev) => {
          if (action) {
            await dev.selfTest(action as SelfTestKind, { allowMediumWrite: true });
            ctx.emit(
              { detection: detectionJson(dev.detection), started: action },
              () =>
                `${action === 'abort' ? 'Self-test aborted' : `${action} self-test started`}; ` +
                `\`usbscsi nvme self-test\` shows its progress.\n`,
            );
            return;
          }
          const log = await dev.selfTestLog();
          ctx.emit(
            {
              detection: detectionJson(dev.detection),
              nvme_self_test_log: { ...selfTestLogJson(log), capped: log.capped },
            },
            () => {
              const head =
                `Self-test status: ${log.currentOperationText}` +
                `${log.currentOperation ? ` (${log.currentCompletionPercent}% completed)` : ''}\n`;
              const note = log.capped ? `(${log.slotsRead} of 20 results read: ${log.limitReason})\n` : '';
              if (log.results.length === 0) return `${head}${note}No self-tests logged\n`;
              const rows: (string | number)[][] = [['Num', 'Test', 'Result', 'Power_on_Hours']];
              log.results.forEach((r, i) => rows.push([i, r.codeText, r.resultText, String(r.powerOnHours)]));
              return `${head}${note}${table(rows)}`;
            },
          );
        });
      }),
    );

  nvme
    .command('log')
    .description('any log page, raw: log --page 0x02 [--length 512]')
    .requiredOption('--page <id>', 'log identifier (e.g. 0x02)')
    .option('--length <bytes>', 'bytes to read, a multiple of 4 (default 512)')
    .option('--offset <bytes>', 'byte offset into the log (default 0)')
    .option('-o, --output <file>', 'save the bytes to FILE instead of a hexdump')
    .option('--bridge <kind>', BRIDGE_HELP)
    .action(
      wrap((ctx, _args, options) => {
        const page = parseIntOption(options['page'] as string, '--page', { max: 0xff });
        const length =
          options['length'] === undefined
            ? 512
            : parseSizeOption(options['length'] as string, '--length', { min: 4, max: 0x4_0000 });
        const offset = options['offset'] === undefined ? 0 : parseIntOption(options['offset'] as string, '--offset');
        if (length % 4 !== 0 || offset % 4 !== 0)
          throw badInput('--length and --offset are multiples of 4 (log pages are read in dwords).');
        const output = options['output'] as string | undefined;
        return withNvme(ctx, options, async (dev) => {
          const r = await dev.logPage(page, length, { offset });
          if (output !== undefined) {
            try {
              writeFileSync(output, r.data);
            } catch (err) {
              throw badInput(`cannot write ${output}: ${(err as Error).message}; choose a writable path for -o.`);
            }
          }
          ctx.emit(
            {
              detection: detectionJson(dev.detection),
              page,
              offset,
              requested: r.requested,
              read: r.data.length,
              capped: r.capped,
              limit: r.limitReason ?? null,
              data: output === undefined ? Buffer.from(r.data).toString('hex') : null,
              file: output ?? null,
            },
            () =>
              (r.capped ? `(${r.data.length} of ${r.requested} bytes: ${r.limitReason})\n` : '') +
              (output === undefined ? hexdump(r.data, offset) : `Saved ${r.data.length} bytes to ${output}\n`),
          );
        });
      }),
    );

  nvme
    .command('admin')
    .description(
      'any admin command: admin OPCODE [--nsid N] [--cdw10 V ...] [--in LEN | --out FILE]; --yes unless read-only',
    )
    .argument('<opcode>', 'admin opcode (e.g. 0x06)')
    .option('--nsid <n>', 'namespace id')
    .option('--cdw10 <v>', 'command dword 10')
    .option('--cdw11 <v>', 'command dword 11')
    .option('--cdw12 <v>', 'command dword 12')
    .option('--cdw13 <v>', 'command dword 13')
    .option('--cdw14 <v>', 'command dword 14')
    .option('--cdw15 <v>', 'command dword 15')
    .option('--in <len>', 'data-in: read LEN bytes')
    .option('--out <file>', 'data-out: send the bytes of FILE')
    .option('--yes', 'consent for commands not known to be read-only')
    .option('--bridge <kind>', BRIDGE_HELP)
    .action(
      wrap((ctx, args, options) => {
        const cmd = adminCommandFromOptions(args[0]!, options);
        return withNvme(ctx, options, async (dev) => {
          const c = await dev.admin(cmd, { allowMediumWrite: options['yes'] === true });
          ctx.emit(
            {
              detection: detectionJson(dev.detection),
              command: adminOpcodeName(cmd.opcode),
              completion: c.available
                ? {
                    status: c.status,
                    status_code_type: c.statusCodeType,
                    status_code: c.statusCode,
                    string: nvmeStatusText(c.status),
                    dw0: c.dw0,
                  }
                : null,
              transferred: c.transferred,
              data: c.data.length ? Buffer.from(c.data).toString('hex') : null,
            },
            () =>
              fields([
                ['Path', detectionLine(dev.detection)],
                ['Command', adminOpcodeName(cmd.opcode)],
                [
                  'Completion',
                  c.available
                    ? `${nvmeStatusText(c.status)}, DW0 ${hex0x(c.dw0, 8)}`
                    : 'not read back by this bridge (the SCSI command succeeded)',
                ],
                ['Data', cmd.direction === 'none' ? 'none' : `${c.transferred} bytes ${cmd.direction}`],
              ]) + (c.data.length ? `\n${hexdump(c.data)}` : ''),
          );
          return c.available && c.status !== 0 ? ExitCode.NVME_STATUS : ExitCode.OK;
        });
      }),
    );
}
