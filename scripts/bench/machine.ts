// What the benchmark ran on, and where the CPU went during a step: per-process CPU time from
// /proc/<pid>/stat (utime + stime), grouped into roles, as a share of one core.
import { readFileSync, readdirSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import os from 'node:os'

export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  node: string
  os: string
  cpuLimit?: string
}

export function describeMachine(): Machine {
  const cpus = os.cpus()
  let model = cpus[0]?.model.trim() ?? 'unknown'
  try {
    // lscpu knows the family/model name where /proc/cpuinfo only says the vendor brand
    const lscpu = execFileSync('lscpu', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    const field = (f: string) => new RegExp(`^${f}:\\s*(.+)$`, 'm').exec(lscpu)?.[1]?.trim()
    const name = field('Model name')
    if (name && name.length > model.length) model = name
    const details = [field('CPU family') && `family ${field('CPU family')}`, field('Model') && `model ${field('Model')}`,
      field('Hypervisor vendor') && `${field('Hypervisor vendor')} guest`].filter(Boolean)
    if (details.length) model += ` (${details.join(', ')})`
  } catch { /* no lscpu: keep os.cpus() */ }
  let cpuLimit: string | undefined
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/)
    if (quota && quota !== 'max' && period) cpuLimit = `${(Number(quota) / Number(period)).toFixed(2)} CPUs (cgroup)`
  } catch { /* cgroup v1 or none */ }
  return {
    cpu: model,
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    ...(cpuLimit ? { cpuLimit } : {}),
  }
}

const TICKS = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { return 100 }
})()

function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // comm may contain spaces; the fields after the closing parenthesis are fixed
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS
  } catch {
    return undefined
  }
}

function pidsByName(name: string, keep: (cmdline: string) => boolean = () => true): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== name) continue
      if (keep(readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim())) pids.push(Number(entry))
    } catch { /* gone */ }
  }
  return pids
}

/** PostgreSQL's shared processes (WAL writer, checkpointer, ...) and the backends of one database only. */
function ofDatabase(database: string | undefined) {
  return (cmdline: string) => {
    const backend = /^postgres: (?:\S+: )?\S+ (\S+) (?:\[local\]|\S+\(\d+\))/.exec(cmdline)
    return !backend || database === undefined || backend[1] === database
  }
}

export type Roles = Record<string, () => number[]>

/** Roles the benchmark always watches; the caller adds its own child processes. */
export function standardRoles(database?: string): Roles {
  return {
    postgres: () => pidsByName('postgres', ofDatabase(database)),
    redis: () => pidsByName('redis-server'),
    'load generator': () => [process.pid],
  }
}

export interface CpuSample {
  at: number
  perRole: Record<string, Map<number, number>>
  /** Every process's CPU seconds and name, to name whatever else was busy. */
  all: Map<number, { name: string; seconds: number }>
  machine: { busy: number; total: number; irq: number; steal: number }
}

function allProcesses(): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.set(Number(entry), { name, seconds: (Number(fields[11]) + Number(fields[12])) / TICKS })
    } catch { /* gone */ }
  }
  return out
}

/** /proc/stat's first line: user nice system idle iowait irq softirq steal ... (ticks). */
function machineTicks(): { busy: number; total: number; irq: number; steal: number } {
  const t = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = t.reduce((a, b) => a + b, 0)
  const idle = (t[3] ?? 0) + (t[4] ?? 0)
  return { busy: total - idle, total, irq: (t[5] ?? 0) + (t[6] ?? 0), steal: t[7] ?? 0 }
}

export function sampleCpu(roles: Roles): CpuSample {
  const perRole: Record<string, Map<number, number>> = {}
  for (const [role, pids] of Object.entries(roles)) {
    const times = new Map<number, number>()
    for (const pid of pids()) {
      const s = cpuSeconds(pid)
      if (s !== undefined) times.set(pid, s)
    }
    perRole[role] = times
  }
  const m = machineTicks()
  return { at: performance.now(), perRole, all: allProcesses(), machine: m }
}

export interface Shares {
  /** Cores used per role (1.0 = one core busy). */
  perRole: Record<string, number>
  /** Share of all cores that was busy (steal included). */
  machine: number
  /** Cores spent in interrupts and softirqs (mostly the loopback network stack), charged to no process. */
  irqCores: number
  /** Cores the hypervisor gave to someone else. */
  stealCores: number
  /** Cores used by processes outside the roles, including ones that started and ended in between. */
  otherCores: number
}

export function cpuShares(a: CpuSample, b: CpuSample): Shares {
  const seconds = (b.at - a.at) / 1000
  const perRole: Record<string, number> = {}
  for (const [role, times] of Object.entries(b.perRole)) {
    // per process, so that a backend that started in between counts from zero; one that
    // exited in between is lost (PostgreSQL's pooled backends live far longer than a step)
    let sum = 0
    for (const [pid, s] of times) sum += s - (a.perRole[role]?.get(pid) ?? 0)
    perRole[role] = Math.max(0, sum / seconds)
  }
  const total = b.machine.total - a.machine.total
  const cores = total / TICKS / seconds // as the kernel counts them over the interval
  const share = (ticks: number) => (total > 0 ? ticks / total : 0)
  const machine = share(b.machine.busy - a.machine.busy)
  const irqCores = share(b.machine.irq - a.machine.irq) * cores
  const stealCores = share(b.machine.steal - a.machine.steal) * cores
  const ours = Object.values(perRole).reduce((x, y) => x + y, 0)
  return { perRole, machine, irqCores, stealCores, otherCores: Math.max(0, machine * cores - ours - irqCores - stealCores) }
}

/** The busiest processes between two samples that belong to none of the roles, e.g. "node 0.45, tsc 0.20". */
export function busiestOthers(a: CpuSample, b: CpuSample, top = 3): string {
  const seconds = (b.at - a.at) / 1000
  const ours = new Set(Object.values(b.perRole).flatMap((m) => [...m.keys()]))
  const byName = new Map<string, number>()
  for (const [pid, p] of b.all) {
    if (ours.has(pid)) continue
    const used = p.seconds - (a.all.get(pid)?.seconds ?? 0)
    if (used > 0) byName.set(p.name, (byName.get(p.name) ?? 0) + used / seconds)
  }
  return [...byName].sort((x, y) => y[1] - x[1]).slice(0, top).map(([n, c]) => `${n} ${c.toFixed(2)}`).join(', ')
}
