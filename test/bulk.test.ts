// Bulk operations across processes: a gateway and a worker process (as they run in production) on
// a queue prefix of their own. A locked user's open socket closes while the bulk lock runs; a
// worker killed in the middle of an operation and started again finishes the rest without
// changing any user twice or missing one.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createAdminService } from '#core/admin/admins.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'
import { freshDatabase } from './support/services.ts'
import { startGateway } from './support/gateway.ts'
import { enroll } from './support/people.ts'
import { database, eventually, openSocket } from './support/attack.ts'
import { adminSession, startWorkerProcess, type WorkerProcess } from './support/operations.ts'

t.test('bulk operations with a gateway and a worker process', async (t) => {
  const db = await freshDatabase(t)
  const prefix = `mvm-test-${randomUUID()}`
  const gw = await startGateway(t, db, { MVM_QUEUE_PREFIX: prefix })
  const pool = database(t, db)
  const { password } = await createAdminService({ pool, audit: createAuditLog({ pool }) }).create({ username: 'root', role: 'owner' }, { type: 'system', id: 'test' })
  const admin = await adminSession(gw, 'root', password)
  const workerEnv = { DATABASE_URL: db, MVM_QUEUE_PREFIX: prefix, MVM_METRICS_PORT: '0' }
  let worker: WorkerProcess = startWorkerProcess(t, workerEnv)

  const operation = async (id: string) => (await admin('GET', `/admin/v1/bulk-operations/${id}`)).body.operation
  const until = async (id: string, done: (op: any) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const op = await operation(id)
      if (done(op) || Date.now() > deadline) return op
      await new Promise((r) => setTimeout(r, 25))
    }
  }
  /** `n` active users in a new pool, inserted with SQL; returns the pool's id. */
  const seed = async (tag: string, n: number) => {
    const poolId = (await admin('POST', '/admin/v1/pools', { name: tag })).body.pool.id as string
    await pool.query(`INSERT INTO users (id, username, username_key, display_name, status)
      SELECT gen_random_uuid(), $1 || '-' || lpad(i::text, 5, '0'), $1 || '-' || lpad(i::text, 5, '0'), 'seeded', 'active' FROM generate_series(1, $2) i`, [tag, n])
    await pool.query('INSERT INTO pool_members (pool_id, user_id) SELECT $1, id FROM users WHERE username_key LIKE $2', [poolId, `${tag}-%`])
    return poolId
  }

  t.test('a locked user\'s open socket closes with 4003 while the bulk lock runs', async (t) => {
    const poolId = await seed('ws', 1500)
    const alice = (await admin('POST', '/admin/v1/users', { username: 'ws-0-alice' })).body
    const phone = await enroll(t, gw, alice.enrollment.token)
    // (a bulk pool.add: POST /pools/:id/members records the whole member list, too large here for one audit entry)
    const added = await admin('POST', '/admin/v1/bulk-operations', { action: 'pool.add', poolId, userIds: [alice.user.id] })
    t.match(await until(added.body.operation.id, (o) => o.state === 'done', 20_000), { succeeded: 1 })
    const socket = await openSocket(t, gw, await phone.client.sessionToken())
    await socket.next((f) => f.type === 'synced')

    const res = await admin('POST', '/admin/v1/bulk-operations', { action: 'lock', filter: { pool: poolId } })
    t.equal(res.status, 202)
    const id = res.body.operation.id
    t.equal(res.body.operation.total, 1501)
    const closed = await Promise.race([socket.closed, new Promise((r) => setTimeout(() => r('timeout'), 30_000))])
    const op = await operation(id)
    t.same(closed, { code: 4003, reason: 'account locked' }, 'closed with 4003')
    // she sorts first, so her chunk commits first: her socket closes long before the operation ends
    t.ok(op.done < op.total, `closed with ${op.done} of ${op.total} done`)
    const done = await until(id, (o) => o.state === 'done', 30_000)
    t.match(done, { state: 'done', succeeded: 1501, failed: 0 })
    const authAgain = await admin('GET', `/admin/v1/users/${alice.user.id}`)
    t.equal(authAgain.body.user.status, 'locked')
  })

  t.test('a worker killed mid-operation and started again finishes the rest, each user once', async (t) => {
    const poolId = await seed('kill', 4000)
    const res = await admin('POST', '/admin/v1/bulk-operations', { action: 'lock', filter: { pool: poolId } })
    const id = res.body.operation.id as string
    const midway = await until(id, (o) => o.done >= 250, 30_000)
    worker.process.kill('SIGKILL')
    await worker.exited
    const atKill = await operation(id)
    t.ok(atKill.done > 0 && atKill.done < atKill.total, `killed with ${atKill.done} of ${atKill.total} done (${midway.done} seen before the kill)`)
    t.equal(atKill.state, 'running')
    await new Promise((r) => setTimeout(r, 500))
    t.equal((await operation(id)).done, atKill.done, 'nothing moves while no worker runs')

    worker = startWorkerProcess(t, workerEnv)
    const op = await until(id, (o) => o.state === 'done', 45_000)
    t.match(op, { state: 'done', total: 4000, done: 4000, succeeded: 4000, failed: 0 }, worker.output().slice(0, 500))
    const { rows: [counts] } = await pool.query(
      `SELECT count(*)::int AS entries, count(DISTINCT target_id)::int AS users FROM audit_entries WHERE action = 'user.lock' AND details->>'bulkOperation' = $1`, [id])
    t.same(counts, { entries: 4000, users: 4000 }, 'one lock entry per user: none repeated, none lost')
    t.equal((await pool.query(`SELECT count(*)::int AS n FROM users WHERE username_key LIKE 'kill-%' AND status = 'locked'`)).rows[0].n, 4000)
    t.equal((await pool.query(`SELECT count(*)::int AS n FROM bulk_results WHERE operation_id = $1 AND outcome = 'ok'`, [id])).rows[0].n, 4000)
    t.equal((await pool.query(`SELECT count(*)::int AS n FROM audit_entries WHERE action = 'bulk.finished' AND target_id = $1`, [id])).rows[0].n, 1)
    t.ok(await eventually(async () => (await operation(id)).state === 'done'), 'done stays done')
  })

  t.teardown(() => worker.process.kill('SIGKILL'))
})
