// `npm run bench`: delivered messages/s and send→receipt latency of two gateway processes on
// PostgreSQL and Redis, at offered rates doubling until saturation, against the ceiling of a
// minimal ws + Redis pub/sub relay (scripts/bench/ceiling-relay.ts) in the same run. Writes the
// results into docs/benchmarks.md and ends with one JSON line. Method: docs/benchmarks.md.
//   npm run bench -- [--pairs 64] [--step-seconds 6] [--start-rate 250] [--budget-seconds 270]
//                    [--only product|ceiling|audit] [--audit-entries 1000000] [--no-refine] [--no-docs] [--profile]
// After the two series (or alone with --only audit), the audit export of 1,000,000 entries against
// a COPY of the same rows (scripts/bench/audit-export.ts), in the last JSON line as auditExport.
// Then (or alone with --only bulk) a bulk lock of --bulk-users users against the same locks one by
// one (scripts/bench/bulk-lock.ts), in the last JSON line as bulkLock. Each of the two writes its
// own section of docs/benchmarks.md (not with --no-docs).
// Services: MVM_BENCH_ADMIN_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres;
// a database is created and dropped) and MVM_BENCH_REDIS_URL (default redis://127.0.0.1:6379/14).
import { execFileSync, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { Redis } from 'ioredis'
import { createDb } from '#core/db/client.ts'
import { migrate } from '#core/db/migrate.ts'
import { createUserService } from '#core/identity/users.ts'
import { createNodeTransport, defaultProvider, enrollDevice, keysOf, MessengerClient, type Transport } from '#sdk/index.ts'
import { LoadGenerator, sealBatch, type BenchDevice, type Endpoint } from './bench/load.ts'
import { busiestOthers, cpuShares, describeMachine, sampleCpu, standardRoles, type Roles } from './bench/machine.ts'
import { freePort, ROOT, startService, type Service } from './bench/processes.ts'
import { progressLine, resultsSection, summarize, writeDocs, type RunInfo, type Series, type StepRow } from './bench/report.ts'
import { runAuditExportBench, type AuditExportResult } from './bench/audit-export.ts'
import { benchBulkLock, type BulkLockResult } from './bench/bulk-lock.ts'

const { values: opt } = parseArgs({
  options: {
    pairs: { type: 'string', default: '64' },
    'step-seconds': { type: 'string', default: '6' },
    'warmup-seconds': { type: 'string', default: '5' },
    'start-rate': { type: 'string', default: '250' },
    'max-rate': { type: 'string', default: '64000' },
    'drain-ms': { type: 'string', default: '2000' },
    'budget-seconds': { type: 'string', default: '270' },
    only: { type: 'string' },
    'audit-entries': { type: 'string', default: '1000000' },
    'bulk-users': { type: 'string', default: '10000' },
    'no-refine': { type: 'boolean', default: false },
    'no-docs': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
  },
})
const PAIRS = Number(opt.pairs)
const STEP_SECONDS = Number(opt['step-seconds'])
const WARMUP_SECONDS = Number(opt['warmup-seconds'])
const START_RATE = Number(opt['start-rate'])
const MAX_RATE = Number(opt['max-rate'])
const DRAIN_MS = Number(opt['drain-ms'])
const BUDGET_MS = Number(opt['budget-seconds']) * 1000
const AUDIT_ENTRIES = Number(opt['audit-entries'])
{
  const problems = Object.entries({ pairs: PAIRS, 'step-seconds': STEP_SECONDS, 'warmup-seconds': WARMUP_SECONDS, 'start-rate': START_RATE, 'max-rate': MAX_RATE, 'budget-seconds': BUDGET_MS })
    .filter(([, v]) => !(Number.isFinite(v) && v > 0)).map(([k]) => `--${k} must be a positive number`)
  if (!(DRAIN_MS >= 0)) problems.push('--drain-ms must be a number ≥ 0')
  if (opt.only !== undefined && !['product', 'ceiling', 'audit', 'bulk'].includes(opt.only)) problems.push('--only must be product, ceiling, audit or bulk')
  if (!(Number.isSafeInteger(Number(opt['bulk-users'])) && Number(opt['bulk-users']) > 0)) problems.push('--bulk-users must be a positive integer')
  if (!(Number.isSafeInteger(AUDIT_ENTRIES) && AUDIT_ENTRIES > 0)) problems.push('--audit-entries must be a positive integer')
  if (problems.length) {
    console.error(problems.join('\n'))
    process.exit(2)
  }
}
const SUSTAINED = { minShare: 0.95, maxP99Ms: 50 }
const DISTURBED_CORES = 0.5
const MAX_REPEATS = 2
const ADMIN_DATABASE_URL = process.env.MVM_BENCH_ADMIN_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
const REDIS_URL = process.env.MVM_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14'
const CERT_DIR = join(ROOT, '.data', 'bench-certs')
const PROFILE_DIR = join(ROOT, '.data', 'bench-profiles')
const DOCS = join(ROOT, 'docs', 'benchmarks.md')
const started = performance.now()

// --- cleanup, also on Ctrl-C and on failure ---------------------------------------------------
const cleanups: { name: string; fn: () => Promise<unknown> | unknown }[] = []
let cleaning: Promise<void> | undefined
let interrupted = false
function onCleanup(name: string, fn: () => Promise<unknown> | unknown) { cleanups.push({ name, fn }) }
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const { name, fn } of cleanups.splice(0).reverse()) {
      try { await fn() } catch (err) { console.error(`cleanup: ${name} failed: ${(err as Error).message}`) }
    }
  })()
  return cleaning
}
function interrupt(reason: string, code: number) {
  if (cleaning) return
  interrupted = true
  console.error(`\n${reason}: stopping processes and dropping the benchmark database`)
  void cleanup().finally(() => process.exit(code))
}

const log = (msg: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${msg}`)
const masked = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')

function databaseUrl(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL)
  url.pathname = `/${name}`
  return url.toString()
}

async function adminQuery(sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
  await c.connect()
  try { return await c.query(sql) } finally { await c.end() }
}

async function pool<T, R>(items: T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  }))
  return out
}

// --- measurements around a step -----------------------------------------------------------------
async function pgCounters(client: pg.Client | undefined, dbName: string): Promise<{ commits: number; walSyncs: number; at: number } | undefined> {
  if (!client) return undefined
  const { rows } = await client.query<{ commits: string; syncs: string }>(
    'SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = $1) AS commits, (SELECT wal_sync FROM pg_stat_wal) AS syncs', [dbName])
  return { commits: Number(rows[0]!.commits), walSyncs: Number(rows[0]!.syncs), at: performance.now() }
}

async function commitProbe(url: string, n = 300): Promise<{ p50: number; p99: number; n: number }> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    await c.query('CREATE TABLE bench_commit_probe (id serial PRIMARY KEY, v bytea NOT NULL)')
    const times: number[] = []
    const v = randomBytes(200)
    for (let i = 0; i < n; i++) {
      const t = performance.now()
      await c.query('INSERT INTO bench_commit_probe (v) VALUES ($1)', [v])
      times.push(performance.now() - t)
    }
    await c.query('DROP TABLE bench_commit_probe')
    times.sort((a, b) => a - b)
    return { p50: times[Math.floor(n * 0.5)]!, p99: times[Math.ceil(n * 0.99) - 1]!, n }
  } finally {
    await c.end()
  }
}

interface SeriesOptions {
  name: 'product' | 'ceiling'
  servers: [Service, Service]
  ca: Buffer
  devices: BenchDevice[]
  token: (d: BenchDevice) => string
  deadline: number
  dbName: string
  pgStats?: { client: pg.Client; dbName: string }
}

const machine = describeMachine()
const notes: string[] = []

/** Waits (up to 30 s and never past the deadline) until the machine is below 0.3 busy cores for a second. */
async function waitForQuiet(deadline: number): Promise<number> {
  const until = Math.min(performance.now() + 30_000, deadline - 20_000)
  for (;;) {
    const a = sampleCpu({})
    await new Promise((r) => setTimeout(r, 1000))
    const busy = cpuShares(a, sampleCpu({})).machine * machine.cores
    if (busy < 0.3 || performance.now() > until) return busy
  }
}

async function runSeries(o: SeriesOptions): Promise<Series> {
  const p = defaultProvider()
  const roleNames: [string, string] = [o.name === 'product' ? 'gateway 1' : 'relay 1', o.name === 'product' ? 'gateway 2' : 'relay 2']
  const roles: Roles = { [roleNames[0]]: () => [o.servers[0].pid], [roleNames[1]]: () => [o.servers[1].pid], ...standardRoles(o.dbName) }
  const endpoints: [Endpoint, Endpoint] = [{ url: o.servers[0].url, ca: o.ca }, { url: o.servers[1].url, ca: o.ca }]
  const gen = new LoadGenerator(p, o.devices)
  onCleanup(`${o.name} sockets`, () => gen.close())
  await gen.connect(endpoints, o.token)
  log(`${o.name}: ${o.devices.length} sockets open and synced on ${o.servers.map((s) => s.url).join(' and ')}`)

  let offset = 0
  let sealUs = 200
  let sealed = { ms: 0, n: 0 }
  let others = ''
  const step = async (rate: number, seconds: number): Promise<StepRow> => {
    const batch = sealBatch(p, o.devices, Math.round(rate * seconds), offset)
    offset += batch.n
    sealUs = (batch.sealMs * 1000) / batch.n
    sealed = { ms: sealed.ms + batch.sealMs, n: sealed.n + batch.n }
    const pg0 = await pgCounters(o.pgStats?.client, o.pgStats?.dbName ?? '')
    const cpu0 = sampleCpu(roles)
    let cpu1 = cpu0
    const cpuAtWindowEnd = setTimeout(() => { cpu1 = sampleCpu(roles) }, seconds * 1000)
    const stats = await gen.run(batch, rate, { drainMs: DRAIN_MS, ...SUSTAINED })
    clearTimeout(cpuAtWindowEnd)
    if (cpu1 === cpu0) cpu1 = sampleCpu(roles)
    const pg1 = await pgCounters(o.pgStats?.client, o.pgStats?.dbName ?? '')
    const shares = cpuShares(cpu0, cpu1)
    others = busiestOthers(cpu0, cpu1)
    const row: StepRow = {
      ...stats,
      cpu: shares.perRole,
      machineBusy: shares.machine,
      otherCores: shares.otherCores,
      irqCores: shares.irqCores,
      stealCores: shares.stealCores,
      ...(pg0 && pg1 ? { pg: { commitsPerS: (pg1.commits - pg0.commits) / ((pg1.at - pg0.at) / 1000), walSyncsPerS: (pg1.walSyncs - pg0.walSyncs) / ((pg1.at - pg0.at) / 1000) } } : {}),
    }
    if (stats.misrouted || stats.duplicates) throw new Error(`${o.name}: ${stats.misrouted} deliveries reached the wrong device, ${stats.duplicates} came twice`)
    if (stats.verified === 0 && stats.delivered > 300) throw new Error(`${o.name}: delivered frames did not open with the recipient's key`)
    return row
  }

  const fits = (rate: number) => performance.now() + (rate * STEP_SECONDS * sealUs) / 1000 + STEP_SECONDS * 1000 + DRAIN_MS + 1000 < o.deadline
  const steps: StepRow[] = []
  let repeats = MAX_REPEATS

  // The machine is shared: a step that failed while other processes took more than half a core
  // says more about them than about us. It stays in the table, marked, and is run once more
  // after the machine has calmed down (at most MAX_REPEATS times per series).
  const measured = async (rate: number): Promise<StepRow> => {
    for (;;) {
      const row = await step(rate, STEP_SECONDS)
      steps.push(row)
      console.log(progressLine(o.name, row, roleNames))
      if (row.sustained || row.otherCores + row.stealCores <= DISTURBED_CORES || repeats === 0 || !fits(rate)) return row
      row.disturbed = true
      repeats--
      log(`${o.name}: other work took ${(row.otherCores + row.stealCores).toFixed(2)} cores during that step (steal ${row.stealCores.toFixed(2)}; busiest processes still running: ${others || 'none'}); repeating it when the machine is quieter`)
      if (!(await gen.settle(20_000))) { log(`${o.name}: the backlog did not drain within 20 s; not repeating`); return row }
      await waitForQuiet(o.deadline)
    }
  }

  await step(START_RATE, WARMUP_SECONDS)
  await gen.settle(10_000)
  const busy = await waitForQuiet(o.deadline)
  log(`${o.name}: warmed up (${WARMUP_SECONDS} s at ${START_RATE}/s); machine busy before the first step: ${busy.toFixed(2)} cores`)
  if (busy >= 0.3) notes.push(`Before the ${o.name} series, other work still kept ${busy.toFixed(2)} cores busy after 30 s of waiting.`)

  let stopped = ''
  let lastSustained: number | undefined
  let failedAt: number | undefined
  for (let rate = START_RATE; ; rate *= 2) {
    if (rate > MAX_RATE) { stopped = `stopped at the rate limit of ${MAX_RATE}/s without saturating`; break }
    if (!fits(rate)) { stopped = `stopped by the time budget before ${rate}/s`; break }
    const row = await measured(rate)
    if (!row.sustained) { failedAt = rate; break }
    lastSustained = rate
    if (!(await gen.settle(5_000))) log(`${o.name}: backlog still draining after the step`)
  }
  if (failedAt !== undefined && lastSustained === undefined) {
    // Not even the first rate held: go down instead, so the run still says what does hold.
    stopped = `saturated at ${failedAt}/s offered, the first step; stepped down`
    for (let rate = Math.round(START_RATE / 2); rate >= START_RATE / 4 && fits(rate); rate = Math.round(rate / 2)) {
      if (!(await gen.settle(20_000))) break
      if ((await measured(rate)).sustained) break
    }
  } else if (failedAt !== undefined) {
    stopped = `saturated at ${failedAt}/s offered`
    // One step between the last sustained rate and the first that was not, so that the answer
    // is not rounded down to a power of two.
    const mid = Math.round((lastSustained! * Math.SQRT2) / 10) * 10
    if (!opt['no-refine'] && fits(mid)) {
      if (await gen.settle(20_000)) {
        const refined = await measured(mid)
        stopped += refined.sustained ? `; refined at ${mid}/s, sustained` : `; a step at ${mid}/s did not hold either, so ${lastSustained}/s stands`
      } else stopped += '; the backlog did not drain within 20 s, no refining step'
    }
  }
  await gen.close()
  return { name: o.name, servers: roleNames, steps, stopped, sealUsPerMessage: (sealed.ms * 1000) / Math.max(1, sealed.n) }
}

// --- the audit export ------------------------------------------------------------------------------
async function auditExport(): Promise<AuditExportResult> {
  const result = await runAuditExportBench({
    entries: AUDIT_ENTRIES,
    log,
    async createDatabase() {
      const name = `mvm_bench_audit_${randomBytes(5).toString('hex')}`
      await adminQuery(`CREATE DATABASE ${name}`)
      onCleanup('audit database', () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
      return databaseUrl(name)
    },
  })
  const table = `| audit export of ${result.entries.toLocaleString('en')} entries | rows/s | s | MiB | peak RSS MiB |\n|---|---|---|---|---|\n` +
    `| COPY … TO STDOUT (psql, baseline) | ${result.copy.rowsPerS} | ${(result.copy.ms / 1000).toFixed(1)} | ${(result.copy.bytes / 2 ** 20).toFixed(0)} | — |\n` +
    `| exporter, NDJSON to a file | ${result.export.rowsPerS} | ${(result.export.ms / 1000).toFixed(1)} | ${(result.export.bytes / 2 ** 20).toFixed(0)} | ${result.export.peakRssMiB} (${result.export.rssBeforeMiB} before) |\n` +
    `| verifier, the exported file | ${result.verify.rowsPerS} | ${(result.verify.ms / 1000).toFixed(1)} | | |`
  console.log(`\n${table}\n`)
  documentAdmin('audit-export', 'Audit export results', `${table}\n\nExporter ÷ COPY: ${result.ratio.toFixed(2)}. Seeding the ${result.entries.toLocaleString('en')} chained entries took ${(result.seed.ms / 1000).toFixed(0)} s (not timed above).`)
  return result
}

/** Writes one admin-plane result into docs/benchmarks.md under its own markers (not with --no-docs). */
function documentAdmin(marker: string, heading: string, body: string): void {
  if (opt['no-docs']) return
  const command = process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : 'npm run bench'
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  writeDocs(DOCS, `Latest run: ${when}, \`${command}\`; ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; PostgreSQL and Redis on the same machine.\n\n${body}`, '# Benchmarks\n', marker, heading)
  log(`${heading.toLowerCase()} written to ${DOCS.slice(ROOT.length)}`)
}

// --- the run -------------------------------------------------------------------------------------
async function main() {
  log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`)
  if (opt.only === 'audit') {
    const result = await auditExport()
    await cleanup()
    console.log(JSON.stringify({ auditExport: result }))
    return
  }

  if (!['ca.pem', 'server.pem', 'server-key.pem'].every((f) => existsSync(join(CERT_DIR, f)))) {
    mkdirSync(CERT_DIR, { recursive: true })
    execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/gen-certs.ts'), '--dir', CERT_DIR], { cwd: ROOT, stdio: 'ignore' })
  }
  const ca = readFileSync(join(CERT_DIR, 'ca.pem'))
  const tls = { MVM_TLS_CERT_FILE: join(CERT_DIR, 'server.pem'), MVM_TLS_KEY_FILE: join(CERT_DIR, 'server-key.pem') }

  let postgresVersion: string
  try {
    postgresVersion = String((await adminQuery('SHOW server_version')).rows[0].server_version)
  } catch (err) {
    throw new Error(`PostgreSQL at ${masked(ADMIN_DATABASE_URL)} does not answer (${(err as Error).message}); start it (bash -c '. scripts/lib/services.sh; ensure_services x') or set MVM_BENCH_ADMIN_DATABASE_URL`)
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  redis.on('error', () => {})
  try {
    await redis.connect()
  } catch (err) {
    throw new Error(`Redis at ${masked(REDIS_URL)} does not answer (${(err as Error).message}); start it or set MVM_BENCH_REDIS_URL`)
  }
  onCleanup('redis', () => redis.quit())
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?'

  const dbName = `mvm_bench_${randomBytes(5).toString('hex')}`
  await adminQuery(`CREATE DATABASE ${dbName}`)
  onCleanup('database', () => adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`))
  const dbUrl = databaseUrl(dbName)
  await migrate(dbUrl)
  log(`database ${dbName} created and migrated (PostgreSQL ${postgresVersion}, Redis ${redisVersion} at ${masked(REDIS_URL)})`)

  const bulkLock = async (): Promise<BulkLockResult> => {
    const r = await benchBulkLock({ dbUrl, redisUrl: REDIS_URL, ca, tls, users: Number(opt['bulk-users']), log, onCleanup })
    const table = `| bulk lock of ${r.users.toLocaleString('en')} users | s | users/s | failed |\n|---|---|---|---|\n` +
      `| one by one, POST /users/:id/lock, ${r.baseline.concurrency} in flight (baseline) | ${r.baseline.seconds.toFixed(2)} | ${Math.round(r.baseline.usersPerSecond)} | ${r.baseline.failed} |\n` +
      `| POST /bulk-operations (filter by pool) to state done | ${r.bulk.seconds.toFixed(2)} | ${Math.round(r.bulk.usersPerSecond)} | ${r.bulk.failed} |`
    console.log(`\n${table}\n`)
    documentAdmin('bulk-lock', 'Bulk lock results', `${table}\n\nBulk ÷ one by one: ${r.speedup.toFixed(1)}× as fast.`)
    return r
  }
  if (opt.only === 'bulk') {
    const result = await bulkLock()
    await cleanup()
    console.log(JSON.stringify({ bulkLock: result }))
    return
  }

  const nodeArgs = (name: string) => (opt.profile ? ['--cpu-prof', '--cpu-prof-dir', join(PROFILE_DIR, name)] : [])
  const deadline = started + BUDGET_MS
  const productDeadline = started + BUDGET_MS * 0.5

  // Users, devices and sessions, made the way an administrator and the SDK make them.
  const gateways = await Promise.all([0, 1].map(async (i) => {
    const port = await freePort()
    const service = await startService({
      name: `gateway ${i + 1}`, entry: join(ROOT, 'server/src/main.ts'), port, ca, nodeArgs: nodeArgs(`gateway-${i + 1}`),
      env: { DATABASE_URL: dbUrl, REDIS_URL, MVM_HTTP_HOST: '127.0.0.1', MVM_HTTP_PORT: String(port), MVM_METRICS_PORT: '0', MVM_LOG_LEVEL: 'warn', ...tls },
    })
    onCleanup(service.name, () => service.stop())
    return service
  })) as [Service, Service]
  log(`gateways ready: pids ${gateways.map((g) => g.pid).join(', ')}`)

  const db = createDb(dbUrl, { poolSize: 4 })
  const users = createUserService({ prisma: db.prisma, enrollmentTtlHours: 1 })
  const tokens = await pool(Array.from({ length: PAIRS * 2 }, (_, i) => `bench-${String(i).padStart(3, '0')}`), 4, async (name) => (await users.add({ username: name })).token)
  await db.close()
  const provider = defaultProvider()
  const transports: Transport[] = gateways.map((g) => createNodeTransport(g.url, { ca }))
  onCleanup('transports', () => transports.forEach((t) => t.close()))
  const sessionTokens = new Map<string, string>()
  const devices: BenchDevice[] = await pool(tokens, 8, async (token, i) => {
    const side = (i % 2) as 0 | 1
    const identity = await enrollDevice({ transport: transports[side]!, provider, server: gateways[side].url, token, platform: 'terminal', name: 'bench' })
    const client = new MessengerClient({ identity, transport: transports[side]!, provider })
    sessionTokens.set(identity.deviceId, await client.sessionToken())
    return { deviceId: identity.deviceId, userId: identity.userId, x25519: keysOf(identity).x25519, peer: i ^ 1, side }
  })
  onCleanup('redis sessions', async () => {
    const keys = [...sessionTokens].flatMap(([device, token]) => [`mvm:session:${createHash('sha256').update(token).digest('hex')}`, `mvm:device-sessions:${device}`])
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500))
  })
  log(`${PAIRS} pairs enrolled: ${devices.length} users with one device each, half on each gateway`)

  const probe = await commitProbe(dbUrl)
  log(`PostgreSQL commit latency (idle): p50 ${probe.p50.toFixed(2)} ms, p99 ${probe.p99.toFixed(2)} ms`)

  const sample = sealBatch(provider, devices, 200)
  const series: Series[] = []
  const empty = (name: 'product' | 'ceiling'): Series => ({ name, servers: name === 'product' ? ['gateway 1', 'gateway 2'] : ['relay 1', 'relay 2'], steps: [], stopped: 'not run (--only)', sealUsPerMessage: 0 })

  if (opt.only !== 'ceiling') {
    const stats = new pg.Client({ connectionString: dbUrl })
    await stats.connect()
    onCleanup('stats client', () => stats.end())
    series.push(await runSeries({
      name: 'product', servers: gateways, ca, devices, token: (d) => sessionTokens.get(d.deviceId)!, deadline: productDeadline, dbName,
      pgStats: { client: stats, dbName },
    }))
    await stats.end()
  } else series.push(empty('product'))
  await Promise.all(gateways.map((g) => g.stop()))
  transports.forEach((t) => t.close())

  if (opt.only !== 'product') {
    const relays = await Promise.all([0, 1].map(async (i) => {
      const port = await freePort()
      const service = await startService({
        name: `relay ${i + 1}`, entry: join(ROOT, 'scripts/bench/ceiling-relay.ts'), port, ca, nodeArgs: nodeArgs(`relay-${i + 1}`),
        env: { MVM_BENCH_RELAY_PORT: String(port), REDIS_URL, ...tls },
      })
      onCleanup(service.name, () => service.stop())
      return service
    })) as [Service, Service]
    log(`ceiling relays ready: pids ${relays.map((r) => r.pid).join(', ')}`)
    series.push(await runSeries({ name: 'ceiling', servers: relays, ca, devices, token: (d) => `${d.userId}.${d.deviceId}`, deadline: deadline - 10_000, dbName }))
    await Promise.all(relays.map((r) => r.stop()))
  } else series.push(empty('ceiling'))

  const audit = opt.only ? undefined : await auditExport()
  const bulk = opt.only ? undefined : await bulkLock()
  await cleanup()
  const [product, ceiling] = series as [Series, Series]
  const summary = summarize(product, ceiling)
  const wallSeconds = (performance.now() - started) / 1000
  log(`done: product ${product.stopped}; ceiling ${ceiling.stopped}`)

  const info: RunInfo = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    command: process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : 'npm run bench',
    wallSeconds,
    machine,
    services: { postgres: `PostgreSQL ${postgresVersion}`, redis: `Redis ${redisVersion}` },
    load: { pairs: PAIRS, devices: devices.length, stepSeconds: STEP_SECONDS, plaintextBytes: sample.plaintextBytes, frameBytes: sample.frameBytes, sealUsPerMessage: Math.max(...series.map((x) => x.sealUsPerMessage)) },
    commitProbe: probe,
    notes,
  }
  const section = resultsSection(info, series, summary)
  console.log(`\n${section.split('\n').filter((l) => l.startsWith('|')).join('\n')}\n`)
  if (!opt['no-docs'] && !opt.only) {
    writeDocs(DOCS, section, '# Benchmarks\n')
    log(`results written to ${DOCS.slice(ROOT.length)}`)
  }
  console.log(JSON.stringify({ ...summary, ...(audit ? { auditExport: audit } : {}), ...(bulk ? { bulkLock: bulk } : {}) }))
}

// `npm run bench` runs this file under the tsx CLI, which SIGKILLs a child that does not report a
// signal within 60 ms, and a step keeps the event loop far busier than that. So the first process
// only starts the real run in a process group of its own, passes Ctrl-C on and waits; the run
// cleans up on that signal, and also if this first process disappears.
if (process.env.MVM_BENCH_WORKER !== '1') {
  const run = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit', detached: true, env: { ...process.env, MVM_BENCH_WORKER: '1' },
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => run.kill(signal))
  run.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 1) : 1)))
} else {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) interruptOn(signal)
  process.on('uncaughtException', (err) => interrupt(`bench failed: ${err.stack ?? err}`, 1))
  const parent = process.ppid
  setInterval(() => { if (process.ppid !== parent) interrupt('the process that started the benchmark is gone', 1) }, 250).unref()
  main().then(
    () => process.exit(0),
    async (err) => {
      if (interrupted) return // the signal handler is cleaning up and exits
      console.error(`bench failed: ${(err as Error).stack ?? err}`)
      await cleanup()
      process.exit(1)
    },
  )
}

function interruptOn(signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP') {
  process.on(signal, () => interrupt(signal, signal === 'SIGINT' ? 130 : 143))
}
