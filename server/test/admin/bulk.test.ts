// POST/GET /admin/v1/bulk-operations…: every action through the gateway and a real worker on their
// own queue prefix; an outcome per user naming who failed and why; the action's own right; a
// filter selects what the list shows; enrollment links of a bulk invite and their retention; and a
// lock of 10,000 users selected by pool.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import pino from 'pino'
import { runRetention } from '../../../worker/src/jobs/retention.ts'
import { startWorker } from '../../../worker/src/worker.ts'
import { build } from '../helper.ts'
import { adminAs, auditEntries, deviceSession, enrollDevice, uniqueName, type Caller } from './support.ts'

const PUBLIC_URL = 'https://messenger.example.com'

t.test('bulk operations through the admin API and the worker', async (t) => {
  const prefix = `mvm-test-${randomUUID()}`
  const { app, config } = await build(t, { MVM_PUBLIC_URL: PUBLIC_URL, MVM_QUEUE_PREFIX: prefix })
  const worker = await startWorker(config, pino({ level: 'silent' }), { schedule: false, prefix })
  t.teardown(() => worker.close({ purge: true }))
  const { pool } = app.services.db
  const owner = await adminAs(app, 'owner')

  const start = (body: object, as: Caller = owner) => as.call({ method: 'POST', url: '/admin/v1/bulk-operations', payload: body })
  const finished = async (id: string, as: Caller = owner, timeoutMs = 40_000) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const op = (await as.call({ method: 'GET', url: `/admin/v1/bulk-operations/${id}` })).json().operation
      if (op.state === 'done' || op.state === 'failed' || Date.now() > deadline) return op
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  /** Starts an operation, waits for it and returns it with every result. */
  const run = async (body: object, as: Caller = owner) => {
    const res = await start(body, as)
    if (res.statusCode !== 202) throw new Error(`start: ${res.statusCode} ${res.body}`)
    const op = await finished(res.json().operation.id)
    return { op, results: await allResults(op.id) }
  }
  const allResults = async (id: string, query = '') => {
    const out: any[] = []
    let cursor: string | null = null
    do {
      const res = await owner.call({ method: 'GET', url: `/admin/v1/bulk-operations/${id}/results?limit=1000${query}${cursor ? `&cursor=${cursor}` : ''}` })
      if (res.statusCode !== 200) throw new Error(`results: ${res.statusCode} ${res.body}`)
      out.push(...res.json().results)
      cursor = res.json().nextCursor
    } while (cursor)
    return out
  }
  const invite = async (username: string, extra: object = {}) => {
    const res = await owner.call({ method: 'POST', url: '/admin/v1/users', payload: { username, ...extra } })
    if (res.statusCode !== 201) throw new Error(`invite ${username}: ${res.statusCode} ${res.body}`)
    return res.json() as { user: { id: string; username: string }; enrollment: { token: string } }
  }
  const status = async (id: string) => (await pool.query('SELECT status FROM users WHERE id = $1', [id])).rows[0]?.status
  const ZERO = '00000000-0000-4000-8000-000000000000'

  t.test('lock by ids: an outcome per user, sessions ended, each change and the operation in the log', async (t) => {
    const a = await invite(uniqueName('lk-a'))
    const device = await enrollDevice(app, a.enrollment.token)
    const { token } = await deviceSession(app, device)
    const b = await invite(uniqueName('lk-b'))
    await owner.call({ method: 'POST', url: `/admin/v1/users/${b.user.id}/offboard` })
    const c = await invite(uniqueName('lk-c'))
    await owner.call({ method: 'POST', url: `/admin/v1/users/${c.user.id}/lock` })

    const created = await start({ action: 'lock', userIds: [a.user.id, b.user.id, ZERO, c.user.id, a.user.id] })
    t.equal(created.statusCode, 202)
    t.match(created.json().operation, { action: 'lock', state: 'queued', total: 4, done: 0, poolId: null, createdBy: { type: 'admin', id: owner.id }, startedAt: null })
    const op = await finished(created.json().operation.id)
    t.match(op, { state: 'done', total: 4, done: 4, succeeded: 2, failed: 2, error: null })
    t.ok(op.startedAt && op.finishedAt, 'started and finished times')

    const results = await allResults(op.id)
    t.same(results, [
      { userId: a.user.id, username: a.user.username, ok: true, error: null },
      { userId: b.user.id, username: b.user.username, ok: false, error: { code: 'MVM_USER_STATE_CONFLICT', message: 'the user is offboarded' } },
      { userId: ZERO, username: null, ok: false, error: { code: 'MVM_USER_NOT_FOUND', message: 'no such user' } },
      { userId: c.user.id, username: c.user.username, ok: true, error: null },
    ], 'in the order given, duplicates once; who failed and why')
    t.same((await allResults(op.id, '&outcome=failed')).map((r) => r.userId), [b.user.id, ZERO], 'outcome=failed')
    t.same((await allResults(op.id, '&outcome=ok')).map((r) => r.userId), [a.user.id, c.user.id], 'outcome=ok')
    t.equal(await status(a.user.id), 'locked')
    t.equal(await status(b.user.id), 'offboarded')
    t.equal((await app.inject({ method: 'GET', url: '/v1/deliveries', headers: { authorization: `Bearer ${token}` } })).statusCode, 401, 'her session ended')

    const [lock] = await auditEntries(app, 'user.lock', a.user.id)
    t.match(lock, { actor_type: 'admin', actor_id: owner.id, source_ip: owner.ip, details: { bulkOperation: op.id, before: { status: 'active' }, after: { status: 'locked' } } })
    t.equal((await auditEntries(app, 'user.lock', b.user.id)).length, 0, 'a refused change leaves no entry')
    t.match(await auditEntries(app, 'bulk.started', op.id), [{ actor_id: owner.id, details: { action: 'lock', total: 4, by: 'userIds' } }])
    t.match(await auditEntries(app, 'bulk.finished', op.id), [{ details: { action: 'lock', total: 4, succeeded: 2, failed: 2 } }])

    const list = (await owner.call({ method: 'GET', url: '/admin/v1/bulk-operations' })).json().operations
    t.equal(list[0].id, op.id, 'newest first')
    t.equal((await owner.call({ method: 'GET', url: `/admin/v1/bulk-operations/${ZERO}` })).json().code, 'MVM_BULK_OPERATION_NOT_FOUND')
    t.equal((await owner.call({ method: 'GET', url: `/admin/v1/bulk-operations/${ZERO}/results` })).statusCode, 404)
  })

  t.test('unlock and offboard', async (t) => {
    const a = await invite(uniqueName('un-a'))
    const device = await enrollDevice(app, a.enrollment.token)
    const b = await invite(uniqueName('un-b'))
    await run({ action: 'lock', userIds: [a.user.id, b.user.id] })
    const unlocked = await run({ action: 'unlock', userIds: [a.user.id, b.user.id] })
    t.match(unlocked.op, { succeeded: 2, failed: 0 })
    t.equal(await status(a.user.id), 'active', 'enrolled: active')
    t.equal(await status(b.user.id), 'invited', 'never enrolled: invited')
    t.match(await auditEntries(app, 'user.unlock', a.user.id), [{ details: { bulkOperation: unlocked.op.id, before: { status: 'locked' }, after: { status: 'active' } } }])
    t.match(await auditEntries(app, 'user.unlock', b.user.id), [{ details: { before: { status: 'locked' }, after: { status: 'invited' } } }])
    const c = await invite(uniqueName('un-c'))
    const notLocked = await run({ action: 'unlock', userIds: [c.user.id] })
    t.match(notLocked.op, { succeeded: 1, failed: 0 }, 'unlocking a user who is not locked succeeds')
    t.equal((await auditEntries(app, 'user.unlock', c.user.id)).length, 0, 'and changes and logs nothing')
    t.equal(await status(c.user.id), 'invited')
    t.equal((await deviceSession(app, device)).status, 200, 'her device authenticates again')

    const { token } = await deviceSession(app, device)
    const off = await run({ action: 'offboard', userIds: [a.user.id, b.user.id] })
    t.match(off.op, { succeeded: 2, failed: 0 })
    t.equal((await app.inject({ method: 'GET', url: '/v1/deliveries', headers: { authorization: `Bearer ${token}` } })).statusCode, 401, 'session ended')
    t.same((await pool.query('SELECT state FROM devices WHERE user_id = $1', [a.user.id])).rows, [{ state: 'revoked' }], 'device revoked')
    t.match(await auditEntries(app, 'device.revoked', device.deviceId), [{ details: { bulkOperation: off.op.id, reason: 'offboard' } }])
    const again = await run({ action: 'offboard', userIds: [a.user.id] })
    t.same(again.results[0].error.code, 'MVM_USER_STATE_CONFLICT', 'offboarding twice fails for that user')
    const unlockOff = await run({ action: 'unlock', userIds: [b.user.id] })
    t.same(unlockOff.results[0].error.code, 'MVM_USER_STATE_CONFLICT')
  })

  t.test('invite: new users get enrollment links; taken and invalid names fail alone', async (t) => {
    const taken = await invite(uniqueName('taken'))
    const n1 = uniqueName('new'), n2 = uniqueName('new')
    const { op, results } = await run({
      action: 'invite',
      users: [{ username: n1, displayName: 'New One', team: 'Ops', email: 'one@example.com' }, { username: taken.user.username.toUpperCase() }, { username: '+4915112345678' }, { username: n2 }, { username: n1 }],
    })
    t.match(op, { total: 5, succeeded: 2, failed: 3 })
    t.match(results.map((r) => [r.username, r.ok, r.error?.code ?? null]), [
      [n1, true, null], [taken.user.username.toUpperCase(), false, 'MVM_USER_EXISTS'], ['+4915112345678', false, 'MVM_USER_NAME_INVALID'], [n2, true, null], [n1, false, 'MVM_USER_EXISTS'],
    ])
    const first = results[0]
    t.ok(first.enrollment.link.startsWith(`mobivisor://enroll?server=${encodeURIComponent(PUBLIC_URL)}&token=`), 'the link names MVM_PUBLIC_URL')
    t.notOk('enrollment' in results[1], 'no link for a failure')
    const user = (await pool.query('SELECT id, display_name, team, email, status FROM users WHERE id = $1', [first.userId])).rows[0]
    t.same(user, { id: first.userId, display_name: 'New One', team: 'Ops', email: 'one@example.com', status: 'invited' })
    const token = new URL(first.enrollment.link.replace('mobivisor://', 'https://x/')).searchParams.get('token')!
    const device = await enrollDevice(app, token)
    t.equal(device.userId, first.userId, 'the link enrolls a device of the new user')
    const created = await auditEntries(app, 'user.created', first.userId)
    t.match(created, [{ details: { bulkOperation: op.id, after: { username: n1 } } }])
    t.notMatch(JSON.stringify(created), token, 'the token is not in the log')
    t.equal((await pool.query('SELECT count(*)::int AS n FROM bulk_results WHERE operation_id = $1 AND new_user IS NOT NULL', [op.id])).rows[0].n, 0, 'the profiles to create are dropped once done')

    // existing users: a fresh token each for invited and active users, not for locked ones
    const locked = await invite(uniqueName('inv-locked'))
    await owner.call({ method: 'POST', url: `/admin/v1/users/${locked.user.id}/lock` })
    const again = await run({ action: 'invite', userIds: [taken.user.id, first.userId, locked.user.id] })
    t.same(again.results.map((r) => [r.ok, r.error?.code ?? null, 'enrollment' in r]), [[true, null, true], [true, null, true], [false, 'MVM_USER_STATE_CONFLICT', false]])
    const auditor = await adminAs(app, 'auditor')
    const seen = await auditor.call({ method: 'GET', url: `/admin/v1/bulk-operations/${again.op.id}/results` })
    t.equal(seen.statusCode, 200, 'an auditor reads the outcomes')
    t.notOk(seen.json().results.some((r: object) => 'enrollment' in r), 'but no enrollment link: it would let them enroll as the user')
    t.equal((await auditEntries(app, 'user.enrollment_token_issued', taken.user.id)).length, 1)

    // retention: used tokens and expired ones are cleared; the rest stay until they expire
    await pool.query("UPDATE bulk_results SET enrollment_expires_at = now() - interval '1 minute' WHERE operation_id = $1 AND seq = 1", [again.op.id])
    const cleared = await runRetention(pool, { deliveredRetentionHours: 24, undeliveredRetentionDays: 30, activityRetentionDays: 400 })
    t.equal(cleared.bulkEnrollmentTokens, 2, 'the expired one and the one used to enroll')
    const kept = await pool.query('SELECT operation_id = $1 AS again, seq FROM bulk_results WHERE enrollment_token IS NOT NULL ORDER BY seq', [again.op.id])
    t.same(kept.rows, [{ again: true, seq: 2 }, { again: false, seq: 4 }], 'the second token of the new user, and n2\'s, remain')
    t.notOk('enrollment' in (await allResults(op.id))[0], 'a cleared token is no longer shown')
  })

  t.test('pool.add and pool.remove, whitelist.add and whitelist.remove', async (t) => {
    const poolRes = await owner.call({ method: 'POST', url: '/admin/v1/pools', payload: { name: uniqueName('pool') } })
    const poolId = poolRes.json().pool.id
    const [a, b] = await Promise.all([invite(uniqueName('pa')), invite(uniqueName('pb'))])
    await owner.call({ method: 'POST', url: `/admin/v1/pools/${poolId}/members`, payload: { userIds: [b.user.id] } })
    const added = await run({ action: 'pool.add', poolId, userIds: [a.user.id, b.user.id, ZERO] })
    t.match(added.op, { poolId, succeeded: 1, failed: 2 })
    t.same(added.results.map((r) => r.error?.code ?? null), [null, 'MVM_POOL_MEMBER_EXISTS', 'MVM_USER_NOT_FOUND'])
    t.same((await owner.call({ method: 'GET', url: `/admin/v1/pools/${poolId}` })).json().members.sort(), [a.user.id, b.user.id].sort())
    t.match((await auditEntries(app, 'pool.updated', poolId)).at(-1), { details: { bulkOperation: added.op.id, added: [a.user.id] } })

    const removed = await run({ action: 'pool.remove', poolId, filter: { pool: poolId } })
    t.match(removed.op, { total: 2, succeeded: 2, failed: 0 })
    t.equal((await owner.call({ method: 'GET', url: `/admin/v1/pools/${poolId}` })).json().pool.members, 0)
    const notMember = await run({ action: 'pool.remove', poolId, userIds: [a.user.id] })
    t.equal(notMember.results[0].error.code, 'MVM_POOL_MEMBER_NOT_FOUND')

    const missing = await start({ action: 'pool.add', poolId: ZERO, userIds: [a.user.id] })
    t.same([missing.statusCode, missing.json().code], [404, 'MVM_POOL_NOT_FOUND'])

    const wl = await run({ action: 'whitelist.add', userIds: [a.user.id, b.user.id] })
    t.match(wl.op, { succeeded: 2 })
    const listed = async () => (await owner.call({ method: 'GET', url: `/admin/v1/users?whitelisted=true&limit=200` })).json().users.map((u: any) => u.id)
    t.same((await listed()).filter((id: string) => [a.user.id, b.user.id].includes(id)).sort(), [a.user.id, b.user.id].sort())
    const twice = await run({ action: 'whitelist.add', userIds: [a.user.id] })
    t.equal(twice.results[0].error.code, 'MVM_WHITELIST_ENTRY_EXISTS')
    const [entry] = (await pool.query("SELECT id FROM whitelist_entries WHERE kind = 'user' AND value = $1", [a.user.id])).rows
    t.match(await auditEntries(app, 'whitelist.updated', entry.id), [{ details: { bulkOperation: wl.op.id, before: null, after: { kind: 'user', value: a.user.id } } }])
    const unl = await run({ action: 'whitelist.remove', filter: { whitelisted: true, q: a.user.username } })
    t.match(unl.op, { total: 1, succeeded: 1 })
    t.notOk((await listed()).includes(a.user.id))
    const gone = await run({ action: 'whitelist.remove', userIds: [a.user.id] })
    t.equal(gone.results[0].error.code, 'MVM_WHITELIST_ENTRY_NOT_FOUND')
  })

  t.test('rights: the action\'s own right decides', async (t) => {
    const helpdesk = await adminAs(app, 'helpdesk')
    const auditor = await adminAs(app, 'auditor')
    const u = await invite(uniqueName('rt'))
    const poolId = (await owner.call({ method: 'POST', url: '/admin/v1/pools', payload: { name: uniqueName('rp') } })).json().pool.id
    for (const [as, body, name] of [
      [helpdesk, { action: 'pool.add', poolId, userIds: [u.user.id] }, 'helpdesk pool.add'],
      [helpdesk, { action: 'whitelist.add', userIds: [u.user.id] }, 'helpdesk whitelist.add'],
      [helpdesk, { action: 'offboard', userIds: [u.user.id] }, 'helpdesk offboard'],
      [auditor, { action: 'lock', userIds: [u.user.id] }, 'auditor lock'],
      [auditor, { action: 'invite', userIds: [u.user.id] }, 'auditor invite'],
    ] as const) {
      const res = await start(body, as)
      t.same([res.statusCode, res.json().code], [403, 'MVM_ADMIN_FORBIDDEN'], name)
    }
    t.match((await start({ action: 'lock', userIds: [u.user.id] }, auditor)).json().message, /users:lock/)
    const ok = await start({ action: 'lock', userIds: [u.user.id] }, helpdesk)
    t.equal(ok.statusCode, 202, 'helpdesk may lock')
    await finished(ok.json().operation.id)
    t.equal((await auditor.call({ method: 'GET', url: `/admin/v1/bulk-operations/${ok.json().operation.id}/results` })).statusCode, 200, 'an auditor reads results')
    t.equal((await pool.query("SELECT count(*)::int AS n FROM bulk_operations WHERE created_by_id = $1", [auditor.id])).rows[0].n, 0, 'refused: nothing created')
  })

  t.test('bad requests are refused with 400 and create nothing', async (t) => {
    const before = (await pool.query('SELECT count(*)::int AS n FROM bulk_operations')).rows[0].n
    for (const body of [
      { action: 'lock' },
      { action: 'lock', userIds: [ZERO], filter: {} },
      { action: 'lock', userIds: [] },
      { action: 'lock', userIds: Array.from({ length: 10_001 }, () => randomUUID()) },
      { action: 'lock', userIds: ['not-a-uuid'] },
      { action: 'lock', users: [{ username: 'x1' }] },
      { action: 'explode', userIds: [ZERO] },
      { action: 'pool.add', userIds: [ZERO] },
      { action: 'lock', poolId: ZERO, userIds: [ZERO] },
      { action: 'lock', filter: { lastSeenBefore: '2025-02-30T00:00:00Z' } },
      { action: 'lock', filter: { lastSeenAfter: '0000-01-01T00:00:00Z' } },
      { action: 'lock', filter: { lastSeenBefore: '2025-01-01T00:00:00+01:00' } },
      { action: 'lock', filter: { team: 'a', extra: 1 } },
      { action: 'lock', filter: { whitelisted: 'true' } },
      { action: 'invite', users: [{ username: 'x2', role: 'owner' }] },
      { action: 'lock', userIds: [ZERO], note: 'x' },
    ]) {
      const res = await start(body)
      t.same([res.statusCode, res.json().code], [400, 'MVM_REQUEST_INVALID'], JSON.stringify(body).slice(0, 100))
    }
    for (const qs of ['limit=0', 'limit=1001', 'outcome=pending', 'cursor=!!', 'x=1']) {
      const res = await owner.call({ method: 'GET', url: `/admin/v1/bulk-operations/${ZERO}/results?${qs}` })
      t.equal(res.statusCode, 400, qs)
    }
    t.equal((await pool.query('SELECT count(*)::int AS n FROM bulk_operations')).rows[0].n, before)
  })

  t.test('a filter selects exactly the users the list shows for it', async (t) => {
    const tag = uniqueName('flt')
    await pool.query(`INSERT INTO users (id, username, username_key, display_name, team, status, last_seen_at)
      SELECT gen_random_uuid(), $1 || '-' || i, $1 || '-' || i, 'x', CASE WHEN i % 3 = 0 THEN 'Ops' ELSE 'Dev' END,
        'active', CASE WHEN i % 4 = 0 THEN NULL ELSE '2025-01-01T00:00:00Z'::timestamptz + make_interval(days => i) END
      FROM generate_series(1, 60) i`, [tag])
    const filter = { q: tag, team: 'Ｏｐｓ', lastSeenAfter: '2025-01-10T00:00:00Z', lastSeenBefore: '2025-02-20T00:00:00Z' }
    const qs = new URLSearchParams({ ...filter, limit: '200' }).toString()
    const listed = (await owner.call({ method: 'GET', url: `/admin/v1/users?${qs}` })).json().users.map((u: any) => u.id)
    t.ok(listed.length > 3 && listed.length < 20, `${listed.length} users listed`)
    const { op, results } = await run({ action: 'lock', filter })
    t.equal(op.total, listed.length)
    t.same(results.map((r) => r.userId), listed, 'the same users, in the list\'s order')
  })

  t.test('a lock of 10,000 users selected by pool finishes with an outcome for each', async (t) => {
    const tag = uniqueName('tenk')
    const poolId = (await owner.call({ method: 'POST', url: '/admin/v1/pools', payload: { name: tag } })).json().pool.id
    await pool.query(`INSERT INTO users (id, username, username_key, display_name, status)
      SELECT gen_random_uuid(), $1 || '-' || lpad(i::text, 5, '0'), $1 || '-' || lpad(i::text, 5, '0'), 'bulk', CASE WHEN i % 1000 = 0 THEN 'offboarded'::user_status ELSE 'active' END
      FROM generate_series(1, 10000) i`, [tag])
    await pool.query(`INSERT INTO pool_members (pool_id, user_id) SELECT $1, id FROM users WHERE username_key LIKE $2`, [poolId, `${tag}-%`])
    const started = Date.now()
    const res = await start({ action: 'lock', filter: { pool: poolId } })
    t.equal(res.statusCode, 202)
    t.ok(Date.now() - started < 5000, `created in ${Date.now() - started} ms`)
    const op = await finished(res.json().operation.id, owner, 50_000)
    const seconds = (Date.now() - started) / 1000
    t.match(op, { state: 'done', total: 10_000, done: 10_000, succeeded: 9990, failed: 10 }, `done in ${seconds.toFixed(1)} s (${Math.round(10_000 / seconds)} users/s)`)
    const results = await allResults(op.id)
    t.equal(results.length, 10_000)
    t.equal(new Set(results.map((r) => r.userId)).size, 10_000, 'each user once')
    t.same(results.filter((r) => !r.ok).map((r) => r.username), Array.from({ length: 10 }, (_, i) => `${tag}-${String((i + 1) * 1000).padStart(5, '0')}`), 'the offboarded ones failed, named')
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM audit_entries WHERE action = 'user.lock' AND details->>'bulkOperation' = $1`, [op.id])
    t.equal(rows[0].n, 9990, 'one entry per locked user')
    t.equal((await pool.query(`SELECT count(*)::int AS n FROM users WHERE username_key LIKE $1 AND status = 'locked'`, [`${tag}-%`])).rows[0].n, 9990)
    const verified = await app.services.audit.verifyDatabase()
    t.ok(verified.ok, 'the audit chain is intact')
  })
})
