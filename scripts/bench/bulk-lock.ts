// The bulk-lock benchmark of `npm run bench`: seconds from POST /admin/v1/bulk-operations to the
// operation's state `done` for N users selected by pool, against the baseline of the same number
// of locks issued one by one through POST /admin/v1/users/:id/lock with 8 requests in flight, in
// the same run, on the same gateway, worker and database. Users are seeded with SQL (active, no
// devices), two disjoint sets of N so neither run finds work already done.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import https from 'node:https'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { Queue } from 'bullmq'
import { createAdminService } from '#core/admin/admins.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'
import { freePort, ROOT, startService, type Service } from './processes.ts'

const GUARD = pathToFileURL(new URL('./orphan-guard.ts', import.meta.url).pathname).href

export interface BulkLockResult {
  users: number
  bulk: { seconds: number; usersPerSecond: number; succeeded: number; failed: number }
  baseline: { seconds: number; usersPerSecond: number; concurrency: number; failed: number }
  speedup: number
}

interface Answer { status: number; body: any }

function requester(base: string, ca: Buffer, agent: https.Agent) {
  let headers: Record<string, string> = {}
  const call = (method: string, path: string, body?: unknown): Promise<Answer> => new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const req = https.request(`${base}${path}`, {
      method, ca, agent,
      headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown = text
        try { parsed = JSON.parse(text) } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body: parsed })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
  return {
    call,
    async signIn(username: string, password: string, cookieOf: (h: string) => string) {
      const login = await new Promise<{ status: number; body: any; cookie: string }>((resolve, reject) => {
        const payload = Buffer.from(JSON.stringify({ username, password }))
        const req = https.request(`${base}/admin/v1/login`, { method: 'POST', ca, agent, headers: { 'content-type': 'application/json', 'content-length': String(payload.length) } }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')), cookie: cookieOf(String(res.headers['set-cookie'])) }))
          res.on('error', reject)
        })
        req.on('error', reject)
        req.end(payload)
      })
      if (login.status !== 200) throw new Error(`bench admin login answered ${login.status}`)
      headers = { cookie: login.cookie, 'x-csrf-token': login.body.csrfToken as string }
    },
  }
}

/** The worker process (worker/src/main.ts) on `prefix`; ready once it logs that it started. */
async function startWorker(env: Record<string, string>): Promise<{ pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', GUARD, join(ROOT, 'worker/src/main.ts')], {
    cwd: ROOT, env: { ...process.env, ...env, MVM_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const exited = once(child, 'exit')
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start within 60 s:\n${output}`)), 60_000)
    child.stdout!.on('data', (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000)
      if (output.includes('"msg":"worker started"')) { clearTimeout(timer); resolve() }
    })
    child.stderr!.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-20_000) })
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`worker exited:\n${output}`)) })
  })
  return {
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(killer)
    },
  }
}

export async function benchBulkLock(o: {
  dbUrl: string
  redisUrl: string
  ca: Buffer
  tls: Record<string, string>
  users: number
  log: (msg: string) => void
  onCleanup: (name: string, fn: () => Promise<unknown> | unknown) => void
}): Promise<BulkLockResult> {
  const CONCURRENCY = 8
  const prefix = `mvm-bench-${process.pid}`
  const db = new pg.Pool({ connectionString: o.dbUrl, max: 2 })
  o.onCleanup('bulk bench pool', () => db.end())
  const { password } = await createAdminService({ pool: db, audit: createAuditLog({ pool: db }) }).create({ username: 'bench-owner', role: 'owner' }, { type: 'system', id: 'bench' })

  // Two disjoint sets of N active users; the first also in one pool (what the bulk operation selects).
  const poolId = (await db.query<{ id: string }>("INSERT INTO pools (id, name, name_key) VALUES (gen_random_uuid(), 'bulk-bench', 'bulk-bench') RETURNING id")).rows[0]!.id
  for (const set of ['bulk', 'single']) {
    await db.query(`INSERT INTO users (id, username, username_key, display_name, status)
      SELECT gen_random_uuid(), $1 || '-' || lpad(i::text, 6, '0'), $1 || '-' || lpad(i::text, 6, '0'), 'bench', 'active' FROM generate_series(1, $2) i`, [`bench-${set}`, o.users])
  }
  await db.query("INSERT INTO pool_members (pool_id, user_id) SELECT $1, id FROM users WHERE username_key LIKE 'bench-bulk-%'", [poolId])
  const single = (await db.query<{ id: string }>("SELECT id FROM users WHERE username_key LIKE 'bench-single-%' ORDER BY username_key")).rows.map((r) => r.id)
  await db.query('ANALYZE')
  o.log(`bulk lock: ${2 * o.users} users seeded (${o.users} in a pool for the bulk operation, ${o.users} for the one-by-one baseline)`)

  const port = await freePort()
  const env = { DATABASE_URL: o.dbUrl, REDIS_URL: o.redisUrl, MVM_QUEUE_PREFIX: prefix, MVM_HTTP_HOST: '127.0.0.1', MVM_METRICS_PORT: '0', MVM_LOG_LEVEL: 'warn', ...o.tls }
  const gateway: Service = await startService({ name: 'bulk gateway', entry: join(ROOT, 'server/src/main.ts'), port, ca: o.ca, env: { ...env, MVM_HTTP_PORT: String(port) } })
  o.onCleanup('bulk gateway', () => gateway.stop())
  const worker = await startWorker({ ...env, MVM_TLS: 'off' })
  o.onCleanup('bulk worker', () => worker.stop())
  o.onCleanup('bulk queue keys', async () => {
    const url = new URL(o.redisUrl)
    const queue = new Queue('bulk', { prefix, connection: { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) } })
    await queue.obliterate({ force: true })
    await queue.close()
  })
  o.log(`bulk lock: gateway pid ${gateway.pid}, worker pid ${worker.pid}, queue prefix ${prefix}`)

  const agent = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  o.onCleanup('bulk agent', () => agent.destroy())
  const api = requester(gateway.url, o.ca, agent)
  await api.signIn('bench-owner', password, (h) => h.split(';')[0]!)

  // The bulk operation: POST, then the state as the portal would poll it.
  const t0 = performance.now()
  const created = await api.call('POST', '/admin/v1/bulk-operations', { action: 'lock', filter: { pool: poolId } })
  if (created.status !== 202) throw new Error(`bulk POST answered ${created.status} ${JSON.stringify(created.body)}`)
  let op = created.body.operation
  while (op.state !== 'done' && op.state !== 'failed') {
    await new Promise((r) => setTimeout(r, 50))
    op = (await api.call('GET', `/admin/v1/bulk-operations/${op.id}`)).body.operation
  }
  const bulkSeconds = (performance.now() - t0) / 1000
  if (op.state !== 'done' || op.total !== o.users) throw new Error(`bulk operation ended ${op.state} with ${op.done}/${op.total}`)
  o.log(`bulk lock: ${o.users} users in ${bulkSeconds.toFixed(2)} s (${Math.round(o.users / bulkSeconds)} users/s; ${op.succeeded} ok, ${op.failed} failed)`)

  // The baseline: the same number of locks one by one, 8 in flight.
  const t1 = performance.now()
  let next = 0
  let failed = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < single.length) {
      const id = single[next++]!
      const res = await api.call('POST', `/admin/v1/users/${id}/lock`)
      if (res.status !== 200) failed++
    }
  }))
  const baselineSeconds = (performance.now() - t1) / 1000
  o.log(`bulk lock baseline: ${o.users} single locks in ${baselineSeconds.toFixed(2)} s (${Math.round(o.users / baselineSeconds)} users/s, ${CONCURRENCY} in flight, ${failed} failed)`)

  await worker.stop()
  await gateway.stop()
  agent.destroy()
  return {
    users: o.users,
    bulk: { seconds: bulkSeconds, usersPerSecond: o.users / bulkSeconds, succeeded: op.succeeded, failed: op.failed },
    baseline: { seconds: baselineSeconds, usersPerSecond: o.users / baselineSeconds, concurrency: CONCURRENCY, failed },
    speedup: baselineSeconds / bulkSeconds,
  }
}
