// What one message costs PostgreSQL on the product's store path, statement by statement:
// the real EnvelopeService (core/messaging/envelopes.ts) runs accept() and ack() one at a time
// over one connection, and for each statement we read wall time, the backend's CPU time
// (/proc/<backend pid>/stat, 10 ms ticks: use n ≥ 1000) and this process's CPU time. The same statements are then re-run
// as named prepared statements and without waiting for the WAL flush, to show what parsing/
// planning and the commit flush each cost. Diagnostic for docs/benchmarks.md, not part of the run.
//   npx tsx scripts/bench/pg-cost.ts [--n 2000]
// Uses MVM_BENCH_ADMIN_DATABASE_URL like the bench; creates and drops its own database.
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { migrate } from '#core/db/migrate.ts'
import { createEnvelopeService } from '#core/messaging/envelopes.ts'
import { createRecipientCache } from '#core/messaging/recipient-cache.ts'

const { values } = parseArgs({ options: { n: { type: 'string', default: '2000' } } })
const N = Number(values.n)
const ADMIN = process.env.MVM_BENCH_ADMIN_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
const TICK = 100

function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(f[11]) + Number(f[12])) / TICK) * 1000
}
const selfCpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: ADMIN })
  await c.connect()
  try { await c.query(sql) } finally { await c.end() }
}

const name = `mvm_pgcost_${randomBytes(4).toString('hex')}`
const url = (() => { const u = new URL(ADMIN); u.pathname = `/${name}`; return u.toString() })()
await admin(`CREATE DATABASE ${name}`)
let exitCode = 0
const pool = new pg.Pool({ connectionString: url, max: 1 })
try {
  await migrate(url)
  const backendPid = Number((await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)
  const users = [randomUUID(), randomUUID()]
  const devices = [randomUUID(), randomUUID()]
  for (let i = 0; i < 2; i++) {
    await pool.query(`INSERT INTO users (id, username, username_key, display_name, status) VALUES ($1, $2, $2, $2, 'active')`, [users[i], `u${i}`])
    await pool.query(`INSERT INTO devices (id, user_id, x25519_public_key, ed25519_public_key, platform) VALUES ($1, $2, $3, $4, 'other')`,
      [devices[i], users[i], randomBytes(32), randomBytes(32)])
  }

  // The service's statements, captured as it issues them: no SQL is copied here.
  const captured: { text: string; values: unknown[] }[] = []
  const recording = {
    query: (q: string | { text: string; values: unknown[] }, v?: unknown[]) => {
      const [text, values] = typeof q === 'string' ? [q, v ?? []] : [q.text, q.values]
      captured.push({ text, values })
      return pool.query(text, values)
    },
  } as unknown as pg.Pool
  const envelopes = createEnvelopeService({ pool: recording, recipients: createRecipientCache({ pool: recording }) })
  const box = () => ({ iv: randomBytes(16).toString('base64'), ct: randomBytes(160).toString('base64'), mac: randomBytes(32).toString('base64') })
  const input = () => ({ id: randomBytes(16).toString('base64url'), to: users[1]!, class: 'text' as const, body: box(), keys: [{ device: devices[1]!, ...box() }] })
  const sender = { userId: users[0]!, deviceId: devices[0]! }

  interface Cost { wallUs: number; pgCpuUs: number; clientCpuUs: number }
  // Three rounds of n/3 each; the machine is shared, so each figure is the lowest of the three.
  async function measure(n: number, op: (i: number) => Promise<unknown>): Promise<Cost> {
    let k = 0
    for (let i = 0; i < Math.min(200, n); i++) await op(k++) // warm both sides
    const rounds: Cost[] = []
    const per = Math.max(1, Math.floor(n / 3))
    for (let r = 0; r < 3; r++) {
      const w0 = performance.now(), p0 = procCpuMs(backendPid), c0 = selfCpuMs()
      for (let i = 0; i < per; i++) await op(k++)
      const w1 = performance.now(), p1 = procCpuMs(backendPid), c1 = selfCpuMs()
      rounds.push({ wallUs: ((w1 - w0) * 1000) / per, pgCpuUs: ((p1 - p0) * 1000) / per, clientCpuUs: ((c1 - c0) * 1000) / per })
    }
    const low = (f: (c: Cost) => number) => Math.min(...rounds.map(f))
    return { wallUs: low((c) => c.wallUs), pgCpuUs: low((c) => c.pgCpuUs), clientCpuUs: low((c) => c.clientCpuUs) }
  }

  const rows: [string, Cost][] = []
  rows.push(['SELECT 1 (round trip floor)', await measure(N, () => pool.query('SELECT 1'))])

  // accept() as the gateway runs it: recipients check, then the envelope + delivery insert
  const seqs: string[] = []
  rows.push(['accept(): recipients SELECT + INSERT envelope/delivery', await measure(N, async () => {
    const a = await envelopes.accept(sender, input())
    seqs.push(a.frames[0]!.seq)
  })])
  rows.push(['ack(): DELETE one delivery', await measure(Math.min(N, seqs.length - 200), () => envelopes.ack(devices[1]!, [seqs.pop()!]))])

  const [recipients, insert] = captured.slice(0, 2)
  const ackStmt = captured.find((c) => c.text.startsWith('DELETE'))!
  const fresh = () => {
    const e = input()
    const v = [...insert!.values]
    v[0] = randomUUID()
    v[3] = e.id
    return v
  }
  rows.push(['recipients SELECT alone', await measure(N, () => pool.query(recipients!.text, recipients!.values))])
  rows.push(['recipients SELECT, prepared (named)', await measure(N, () => pool.query({ name: 'rcp', text: recipients!.text, values: recipients!.values }))])
  rows.push(['INSERT envelope/delivery alone', await measure(N, () => pool.query(insert!.text, fresh()))])
  rows.push(['INSERT envelope/delivery, prepared (named)', await measure(N, () => pool.query({ name: 'ins', text: insert!.text, values: fresh() }))])
  await pool.query('SET synchronous_commit = off')
  rows.push(['INSERT, prepared, synchronous_commit=off (diagnostic only)', await measure(N, () => pool.query({ name: 'ins', text: insert!.text, values: fresh() }))])
  await pool.query('SET synchronous_commit = on')
  const pending = (await pool.query<{ id: string }>('SELECT id FROM deliveries ORDER BY id')).rows.map((r) => r.id)
  rows.push([`ack DELETE of 10 deliveries in one statement (per delivery)`, await (async () => {
    const batches = Math.min(N, Math.floor(pending.length / 10) - 200)
    const c = await measure(batches, (k) => pool.query(ackStmt.text, [devices[1], pending.slice(k * 10, k * 10 + 10)]))
    return { wallUs: c.wallUs / 10, pgCpuUs: c.pgCpuUs / 10, clientCpuUs: c.clientCpuUs / 10 }
  })()])

  console.log(`PostgreSQL cost per statement, ${N} sequential runs on one connection, lowest of three rounds (µs):`)
  console.log('| statement | wall µs | PostgreSQL backend CPU µs | client CPU µs |')
  console.log('| --- | --- | --- | --- |')
  for (const [label, c] of rows) console.log(`| ${label} | ${c.wallUs.toFixed(0)} | ${c.pgCpuUs.toFixed(0)} | ${c.clientCpuUs.toFixed(0)} |`)
} catch (err) {
  console.error(err)
  exitCode = 1
} finally {
  await pool.end()
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
}
process.exit(exitCode)
