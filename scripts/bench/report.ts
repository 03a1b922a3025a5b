// Tables and the results section of docs/benchmarks.md. The bench rewrites only the part between
// the two markers, so the hand-written method and analysis around it stay as they are.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import type { Machine } from './machine.ts'
import type { StepStats } from './load.ts'

export interface StepRow extends StepStats {
  /** Share of one core per role during the send window. */
  cpu: Record<string, number>
  machineBusy: number
  /** Cores busy in processes outside the benchmark, including short-lived ones. */
  otherCores: number
  /** Cores in interrupts/softirqs (the loopback network stack) and taken by the hypervisor. */
  irqCores: number
  stealCores: number
  /** Failed while other processes took more than half a core; the step was run again. */
  disturbed?: boolean
  /** PostgreSQL transactions and WAL syncs per second over the step (product only). */
  pg?: { commitsPerS: number; walSyncsPerS: number }
}

export interface Series {
  name: 'product' | 'ceiling'
  servers: [string, string]
  steps: StepRow[]
  stopped: string
  sealUsPerMessage: number
}

export interface Summary { rate_msgs_per_s: number; ceiling_msgs_per_s: number; ratio: number; p99_ms: number | null }

export function best(series: Series): StepRow | undefined {
  return series.steps.filter((s) => s.sustained).sort((a, b) => b.deliveredRate - a.deliveredRate)[0]
}

export function summarize(product: Series, ceiling: Series): Summary {
  const a = best(product)
  const b = best(ceiling)
  const rate = a ? Math.round(a.deliveredRate) : 0
  const ceil = b ? Math.round(b.deliveredRate) : 0
  return {
    rate_msgs_per_s: rate,
    ceiling_msgs_per_s: ceil,
    ratio: ceil > 0 ? Math.round((rate / ceil) * 1000) / 1000 : 0,
    p99_ms: a ? Math.round(a.p99 * 10) / 10 : null,
  }
}

const ms = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(1) : v.toFixed(0)) : 'lost')
const cores = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(2))

export function progressLine(name: string, s: StepRow, servers: [string, string]): string {
  const errs = s.errors ? ` errors ${s.errors} ${JSON.stringify(s.errorCodes)}` : ''
  const pg = s.pg ? ` pg ${Math.round(s.pg.commitsPerS)} tx/s ${Math.round(s.pg.walSyncsPerS)} fsync/s` : ''
  return `${name.padEnd(7)} offered ${String(s.offeredRate).padStart(6)}/s  delivered ${String(Math.round(s.deliveredRate)).padStart(6)}/s ` +
    `(${(s.deliveredShare * 100).toFixed(1)}%)  p50 ${ms(s.p50).padStart(5)} ms  p99 ${ms(s.p99).padStart(5)} ms  ` +
    `sent-ack p99 ${ms(s.ackP99).padStart(5)} ms  acks ${s.sentAcks}/${s.messages}${errs}  ` +
    `cpu ${servers.map((r) => cores(s.cpu[r])).join('+')} pg ${cores(s.cpu.postgres)} redis ${cores(s.cpu.redis)} ` +
    `load ${cores(s.cpu['load generator'])} irq ${cores(s.irqCores)} other ${cores(s.otherCores)} steal ${cores(s.stealCores)} machine ${(s.machineBusy * 100).toFixed(0)}%${pg}  lag ${s.scheduleLagMs.toFixed(0)} ms  ` +
    `${s.sustained ? 'sustained' : 'NOT sustained'}`
}

/** CPU of everything on the server side (the two processes, PostgreSQL, Redis) per delivered message. */
export function serverMsPerMessage(series: Series, s: StepRow): number {
  const cores = series.servers.reduce((a, r) => a + (s.cpu[r] ?? 0), 0) + (series.name === 'product' ? s.cpu.postgres ?? 0 : 0) + (s.cpu.redis ?? 0)
  return s.deliveredRate > 0 ? (cores / s.deliveredRate) * 1000 : NaN
}

export function table(all: Series[]): string {
  const head = '| series | offered msgs/s | delivered msgs/s | delivered | p50 ms | p99 ms | `sent` p99 ms | errors | CPU servers (cores) | CPU PostgreSQL | CPU Redis | CPU load gen | CPU softirq | CPU other / steal | machine busy | server CPU ms/msg | PG tx/s | WAL fsync/s | sustained |'
  const rule = '|' + ' --- |'.repeat(19)
  const rows = all.flatMap((series) => series.steps.map((s) => [
    series.name, s.offeredRate, Math.round(s.deliveredRate), `${(s.deliveredShare * 100).toFixed(1)}%`, ms(s.p50), ms(s.p99), ms(s.ackP99),
    s.errors, series.servers.map((r) => cores(s.cpu[r])).join(' + '), cores(s.cpu.postgres), cores(s.cpu.redis), cores(s.cpu['load generator']), cores(s.irqCores), `${cores(s.otherCores)} / ${cores(s.stealCores)}`,
    `${(s.machineBusy * 100).toFixed(0)}%`, serverMsPerMessage(series, s).toFixed(2), s.pg ? Math.round(s.pg.commitsPerS) : '–', s.pg ? Math.round(s.pg.walSyncsPerS) : '–',
    s.sustained ? 'yes' : s.disturbed ? 'no (disturbed, repeated)' : '**no**',
  ].join(' | ')).map((r) => `| ${r} |`))
  return [head, rule, ...rows].join('\n')
}

export interface RunInfo {
  date: string
  command: string
  wallSeconds: number
  machine: Machine
  services: { postgres: string; redis: string }
  load: { pairs: number; devices: number; stepSeconds: number; plaintextBytes: number; frameBytes: number; sealUsPerMessage: number }
  commitProbe?: { p50: number; p99: number; n: number }
  notes: string[]
}

export function resultsSection(info: RunInfo, all: Series[], summary: Summary): string {
  const m = info.machine
  const lines = [
    `Latest run: ${info.date}, \`${info.command}\`, ${Math.floor(info.wallSeconds / 60)} min ${Math.round(info.wallSeconds % 60)} s wall time.`,
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores${m.cpuLimit ? ` (${m.cpuLimit})` : ''}, ${m.memoryGiB} GiB memory, Node ${m.node}, ${m.os}.`,
    `- Services on the same machine: ${info.services.postgres}; ${info.services.redis}. The load generator, both gateways (or relays), PostgreSQL and Redis share these ${m.cores} cores.`,
    `- Load: ${info.load.pairs} pairs of users, one device each (${info.load.devices} TLS WebSockets); in every pair one device is on process 1 and the other on process 2, messages go both ways, so every message crosses processes through Redis. ` +
      `Plaintext ${Math.round(info.load.plaintextBytes)} bytes on average, \`send\` frame ${Math.round(info.load.frameBytes)} bytes; steps of ${info.load.stepSeconds} s; sealing (about ${info.load.sealUsPerMessage.toFixed(0)} µs per message) happens before each step and is not timed.`,
    ...(info.commitProbe ? [`- PostgreSQL commit latency, idle (${info.commitProbe.n} single-row INSERTs, one per transaction, \`synchronous_commit=on\`): p50 ${info.commitProbe.p50.toFixed(2)} ms, p99 ${info.commitProbe.p99.toFixed(2)} ms.`] : []),
    ...info.notes.map((n) => `- ${n}`),
    ...all.map((s) => `- ${s.name}: ${s.stopped}.`),
    '',
    table(all),
    '',
    '"server CPU ms/msg" adds the two processes, Redis and (for the product) PostgreSQL, divided by the delivered rate. ' +
      'CPU columns are cores busy (1.00 = one core) during the step\'s send window, read from `/proc/<pid>/stat`; "softirq" is interrupt and softirq time (mostly the loopback network stack, charged to no process), "other" what processes outside the benchmark used (including ones that started and ended during the step), "steal" what the hypervisor gave to other guests; these and "machine busy" (the share of all cores) come from `/proc/stat`. ' +
      'PG tx/s counts every transaction in the benchmark database (each statement of the gateway is one), WAL fsync/s comes from `pg_stat_wal`; both are read from PostgreSQL\'s statistics, which lag by up to a second.',
    '',
    'Result line:',
    '',
    '```json',
    JSON.stringify(summary),
    '```',
  ]
  return lines.join('\n')
}

/**
 * Replaces the part of the document between `<!-- bench:<marker>:start -->` and its end marker,
 * adding the markers under `## <heading>` when the document does not have them yet.
 */
export function writeDocs(path: string, section: string, template: string, marker = 'results', heading = 'Results'): void {
  const start = `<!-- bench:${marker}:start -->`
  const end = `<!-- bench:${marker}:end -->`
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : template
  if (!doc.includes(start) || !doc.includes(end)) doc = `${doc.trimEnd()}\n\n## ${heading}\n\n${start}\n${end}\n`
  const before = doc.slice(0, doc.indexOf(start) + start.length)
  const after = doc.slice(doc.indexOf(end))
  writeFileSync(path, `${before}\n${section}\n${after}`)
}
