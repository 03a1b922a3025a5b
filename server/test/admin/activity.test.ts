// GET /admin/v1/users/:id/activity on a gateway process over TLS, with real SDK clients: the
// enrolled devices and their live sessions, a refused sign-in, messages per UTC day (one per
// message, however many devices it was sealed for; a resend counts nothing), the latest audit
// entries, and who may ask.
import t from 'tap'
import { request } from 'node:https'
import { createAdminService } from '#core/admin/admins.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'
import type { AdminRole } from '#core/admin/roles.ts'
import { freshDatabase } from '../../../test/support/services.ts'
import { startGateway, type Gateway } from '../../../test/support/gateway.ts'
import { addUsers, enroll, newToken } from '../../../test/support/people.ts'
import { database } from '../../../test/support/attack.ts'
import { adminSession, httpsRequest } from '../../../test/support/operations.ts'

const ZERO = '00000000-0000-4000-8000-000000000000'

function post(gw: Gateway, path: string, body: object): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url}${path}`, { method: 'POST', ca: gw.ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = ''
      res.on('data', (c) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}

t.test('activity of a user', async (t) => {
  const db = await freshDatabase(t)
  const gw = await startGateway(t, db)
  const pool = database(t, db)
  const accounts = createAdminService({ pool, audit: createAuditLog({ pool }) })
  const as = async (role: AdminRole) => {
    const { admin, password } = await accounts.create({ username: `${role}-1`, role }, { type: 'system', id: 'test' })
    return adminSession(gw, admin.username, password)
  }
  const auditor = await as('auditor')
  const helpdesk = await as('helpdesk')

  const tokens = await addUsers(db, ['ann', 'ben'])
  const ann = await enroll(t, gw, tokens.ann!, { name: 'ann phone' })
  const benPhone = await enroll(t, gw, tokens.ben!, { name: 'ben phone' })
  const benLaptop = await enroll(t, gw, await newToken(db, 'ben'), { name: 'ben laptop' })
  const annId = ann.client.userId
  const benId = benPhone.client.userId

  // three messages from ann to ben, each sealed for both of ben's devices; one resend; one back
  for (const text of ['one', 'two', 'three']) await ann.client.sendText(benId, text, { id: `ann-${text}-0001` })
  const resend = await ann.client.sendText(benId, 'three', { id: 'ann-three-0001' })
  t.equal(resend.duplicate, true, 'the resend is answered as a duplicate')
  await benLaptop.client.sendText(annId, 'hello ann')
  await benPhone.connect()
  t.equal((await benPhone.received(3)).length, 3, 'ben received three messages')

  // a refused sign-in of ann's device: a real challenge, a wrong signature
  const { challenge } = (await post(gw, '/v1/auth/challenge', { deviceId: ann.client.deviceId })).body
  t.equal((await post(gw, '/v1/auth/session', { deviceId: ann.client.deviceId, challenge, signature: Buffer.alloc(64, 7).toString('base64') })).status, 401)

  const today = new Date().toISOString().slice(0, 10)

  t.test('devices, sessions, the refused sign-in, counts and entries', async (t) => {
    const res = await auditor('GET', `/admin/v1/users/${annId}/activity?days=7`)
    t.equal(res.status, 200)
    const a = res.body
    t.match(a.user, { id: annId, username: 'ann', status: 'active', devices: 1 })
    t.equal(a.devices.length, 1)
    t.match(a.devices[0], { id: ann.client.deviceId, platform: 'terminal', name: 'ann phone', state: 'active', enrolledAt: /Z$/, lastSeenAt: /Z$/ })
    const sessions = a.devices[0].sessions as { expiresAt: string }[]
    t.ok(sessions.length >= 1, `the SDK client's sessions (${sessions.length})`)
    t.ok(sessions.every((s) => Date.parse(s.expiresAt) > Date.now() && Date.parse(s.expiresAt) <= Date.now() + 3600_000), 'each expires within the session TTL')
    t.same(sessions.map((s) => s.expiresAt), sessions.map((s) => s.expiresAt).sort(), 'soonest first')
    t.same(a.failedAuthentications, [{ at: a.failedAuthentications[0]?.at, deviceId: ann.client.deviceId, reason: 'signature', sourceIp: '127.0.0.1' }])
    t.equal(a.messagesPerDay.length, 7, 'every day of the period')
    t.same(a.messagesPerDay.at(-1), { day: today, sent: 3, received: 1 }, 'today: three sent (the resend not counted), one received')
    t.ok(a.messagesPerDay.slice(0, -1).every((d: any) => d.sent === 0 && d.received === 0), 'days without messages are zero')
    t.same(a.messagesPerDay.map((d: any) => d.day), [...a.messagesPerDay.map((d: any) => d.day)].sort(), 'oldest first')
    const actions = a.audit.map((e: any) => e.action)
    t.same(actions, ['device.auth_failed', 'device.enrolled'], 'the entries about ann and her device, newest first')
    t.match(a.audit[1], { actorType: 'user', actorId: annId, targetType: 'device', targetId: ann.client.deviceId, hash: /^[0-9a-f]{64}$/ })
    t.notMatch(JSON.stringify(a), /three|hello ann/, 'no message content anywhere')
  })

  t.test('a message to several devices of one user is one message received', async (t) => {
    const b = (await auditor('GET', `/admin/v1/users/${benId}/activity`)).body
    t.equal(b.messagesPerDay.length, 30, '30 days by default')
    t.same(b.messagesPerDay.at(-1), { day: today, sent: 1, received: 3 })
    t.same(b.devices.map((d: any) => d.name), ['ben phone', 'ben laptop'])
    t.ok(b.devices.every((d: any) => d.sessions.length >= 1), 'both devices have a session')
    t.same(b.failedAuthentications, [])
    t.same(b.audit.map((e: any) => e.action), ['device.enrolled', 'device.enrolled'])
    const { rows } = await pool.query('SELECT user_id, sent, received FROM message_counts ORDER BY sent')
    t.same(rows, [{ user_id: benId, sent: 1, received: 3 }, { user_id: annId, sent: 3, received: 1 }], 'one row per user and day')
  })

  t.test('a lock shows in the entries and ends the sessions', async (t) => {
    const owner = await as('owner')
    t.equal((await owner('POST', `/admin/v1/users/${annId}/lock`)).status, 200)
    const a = (await auditor('GET', `/admin/v1/users/${annId}/activity?days=1`)).body
    t.equal(a.audit[0].action, 'user.lock')
    t.same(a.devices[0].sessions, [], 'no live session after the lock')
    t.equal(a.messagesPerDay.length, 1)
  })

  t.test('audit:read is needed; bad input is refused', async (t) => {
    t.same([(await helpdesk('GET', `/admin/v1/users/${annId}/activity`)).status, (await helpdesk('GET', `/admin/v1/users/${annId}/activity`)).body.code], [403, 'MVM_ADMIN_FORBIDDEN'])
    t.equal((await httpsRequest(gw, { path: `/admin/v1/users/${annId}/activity` })).status, 401)
    const unknown = await auditor('GET', `/admin/v1/users/${ZERO}/activity`)
    t.same([unknown.status, unknown.body.code], [404, 'MVM_USER_NOT_FOUND'])
    for (const qs of ['days=0', 'days=367', 'days=1000', 'days=ten', 'days=-1', 'day=3']) {
      const res = await auditor('GET', `/admin/v1/users/${annId}/activity?${qs}`)
      t.same([res.status, res.body.code], [400, 'MVM_REQUEST_INVALID'], qs)
    }
    t.equal((await auditor('GET', `/admin/v1/users/${annId}/activity?days=366`)).body.messagesPerDay.length, 366)
    t.equal((await auditor('GET', '/admin/v1/users/not-a-uuid/activity')).status, 400)
  })
})
