/**
 * Prometheus text exposition (format 0.0.4), written by hand: a few counters
 * and one histogram do not justify a dependency.
 */

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Coarse opcode classes, so label cardinality stays small whatever vendor opcodes clients send. */
export function opcodeClass(opcode: number): string {
  switch (opcode) {
    case 0x08:
    case 0x28:
    case 0xa8:
    case 0x88:
      return 'read';
    case 0x0a:
    case 0x2a:
    case 0xaa:
    case 0x8a:
    case 0x2e:
    case 0xae:
    case 0x8e:
      return 'write';
    case 0x12:
      return 'inquiry';
    case 0x00:
      return 'test-unit-ready';
    case 0x03:
      return 'request-sense';
    case 0x25:
    case 0x9e:
      return 'read-capacity';
    case 0x1a:
    case 0x5a:
    case 0x15:
    case 0x55:
      return 'mode';
    case 0x85:
    case 0xa1:
      return 'ata-pass-through';
    case 0x1b:
    case 0x1e:
    case 0x35:
    case 0x91:
      return 'control';
    default:
      return opcode >= 0xc0 ? 'vendor' : 'other';
  }
}

function labels(obj: Record<string, string>): string {
  const parts = Object.entries(obj).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
}

export type CommandOutcome = 'good' | 'check-condition' | 'error';

export class DaemonMetrics {
  private readonly commands = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  private bytesIn = 0;
  private bytesOut = 0;
  private readonly bucketCounts = new Array<number>(LATENCY_BUCKETS_S.length).fill(0);
  private latencyCount = 0;
  private latencySum = 0;
  private readonly startedAt = Date.now();

  constructor(
    private readonly gauges: () => {
      queueDepth: Record<string, number>;
      leases: number;
      sseClients: number;
      bytesInFlight: number;
    } = () => ({ queueDepth: {}, leases: 0, sseClients: 0, bytesInFlight: 0 }),
  ) {}

  recordCommand(opcode: number, outcome: CommandOutcome, seconds: number, bytesIn: number, bytesOut: number): void {
    const key = `${opcodeClass(opcode)}\u0000${outcome}`;
    this.commands.set(key, (this.commands.get(key) ?? 0) + 1);
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
    this.latencyCount++;
    this.latencySum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) if (seconds <= LATENCY_BUCKETS_S[i]!) this.bucketCounts[i]!++;
  }

  recordError(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP usbscsid_commands_total SCSI commands executed, by opcode class and result.');
    out.push('# TYPE usbscsid_commands_total counter');
    for (const [key, n] of [...this.commands].sort()) {
      const [cls, result] = key.split('\u0000') as [string, string];
      out.push(`usbscsid_commands_total${labels({ opcode_class: cls, result })} ${n}`);
    }
    out.push('# HELP usbscsid_errors_total Requests that failed, by usbscsi error code.');
    out.push('# TYPE usbscsid_errors_total counter');
    for (const [code, n] of [...this.errors].sort()) out.push(`usbscsid_errors_total${labels({ code })} ${n}`);
    out.push('# HELP usbscsid_data_in_bytes_total Bytes read from devices (data-in phases).');
    out.push('# TYPE usbscsid_data_in_bytes_total counter');
    out.push(`usbscsid_data_in_bytes_total ${this.bytesIn}`);
    out.push('# HELP usbscsid_data_out_bytes_total Bytes written to devices (data-out phases).');
    out.push('# TYPE usbscsid_data_out_bytes_total counter');
    out.push(`usbscsid_data_out_bytes_total ${this.bytesOut}`);
    out.push('# HELP usbscsid_command_duration_seconds Time from dequeue to result, per command.');
    out.push('# TYPE usbscsid_command_duration_seconds histogram');
    LATENCY_BUCKETS_S.forEach((le, i) =>
      out.push(`usbscsid_command_duration_seconds_bucket${labels({ le: String(le) })} ${this.bucketCounts[i]}`),
    );
    out.push(`usbscsid_command_duration_seconds_bucket${labels({ le: '+Inf' })} ${this.latencyCount}`);
    out.push(`usbscsid_command_duration_seconds_sum ${this.latencySum}`);
    out.push(`usbscsid_command_duration_seconds_count ${this.latencyCount}`);
    const g = this.gauges();
    out.push('# HELP usbscsid_queue_depth Commands queued or running, per device.');
    out.push('# TYPE usbscsid_queue_depth gauge');
    for (const [device, n] of Object.entries(g.queueDepth).sort())
      out.push(`usbscsid_queue_depth${labels({ device })} ${n}`);
    out.push('# HELP usbscsid_leases_active Leases currently held.');
    out.push('# TYPE usbscsid_leases_active gauge');
    out.push(`usbscsid_leases_active ${g.leases}`);
    out.push('# HELP usbscsid_event_subscribers Open /v1/events streams.');
    out.push('# TYPE usbscsid_event_subscribers gauge');
    out.push(`usbscsid_event_subscribers ${g.sseClients}`);
    out.push('# HELP usbscsid_bytes_in_flight Bytes held for requests (bodies, data-in buffers of queued reads).');
    out.push('# TYPE usbscsid_bytes_in_flight gauge');
    out.push(`usbscsid_bytes_in_flight ${g.bytesInFlight}`);
    out.push('# HELP usbscsid_uptime_seconds Seconds since the daemon started.');
    out.push('# TYPE usbscsid_uptime_seconds gauge');
    out.push(`usbscsid_uptime_seconds ${(Date.now() - this.startedAt) / 1000}`);
    return out.join('\n') + '\n';
  }
}
