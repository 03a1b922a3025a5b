// Lock and offboarding take effect at once on every gateway (DESIGN §6): two gateway processes
// over TLS, the admin API on one, the user's sockets on the other. The socket closes with 4003
// within a second, the session token is refused, nobody can message the user, and an offboarded
// user's devices are revoked and cannot authenticate.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createAdminService } from '#core/admin/admins.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'
import { ApiError, base64Decode, createNodeTransport, defaultProvider, MessengerClient } from '#sdk/index.ts'
import { freshDatabase } from './support/services.ts'
import { startGateway, type Gateway } from './support/gateway.ts'
import { enroll } from './support/people.ts'
import { database, eventually, handSeal, openSocket, refusedUpgrade, request } from './support/attack.ts'
import { adminSession } from './support/operations.ts'

const provider = defaultProvider()

/** Authenticates `client`'s device from scratch (no cached token): the session token, or the refusal's status. */
async function authenticate(gw: Gateway, client: MessengerClient): Promise<string | number> {
  const transport = createNodeTransport(gw.url, { ca: gw.ca })
  try {
    return await new MessengerClient({ identity: client.identity, transport, provider }).sessionToken()
  } catch (err) {
    if (err instanceof ApiError) return err.status
    throw err
  } finally {
    transport.close()
  }
}

/** A raw envelope from `sender` to `to`'s devices, past the directory: the gateway's own recipient check decides. */
function envelopeFor(sender: MessengerClient, to: MessengerClient[]) {
  return handSeal({
    provider, sender, to: to[0]!.userId, text: 'are you there?', id: randomBytes(16).toString('base64url'),
    recipients: to.map((c) => ({ deviceId: c.deviceId, x25519PublicKey: base64Decode(c.identity.x25519.publicKey) })),
  })
}

t.test('lock and offboarding reach every gateway within a second', async (t) => {
  const db = await freshDatabase(t)
  const [gw1, gw2] = await Promise.all([startGateway(t, db), startGateway(t, db)])
  const pool = database(t, db)
  const { password } = await createAdminService({ pool, audit: createAuditLog({ pool }) }).create({ username: 'root', role: 'owner' }, { type: 'system', id: 'test' })
  const admin = await adminSession(gw1, 'root', password)

  const invite = async (username: string) => {
    const res = await admin('POST', '/admin/v1/users', { username })
    t.equal(res.status, 201, `${username} invited`)
    return res.body as { user: { id: string }; enrollment: { token: string } }
  }
  const [alice, carol, dave] = await Promise.all(['alice', 'carol', 'dave'].map(invite))
  const alicePhone = await enroll(t, gw2, alice!.enrollment.token, { name: 'alice phone' })
  const aliceTablet = await enroll(t, gw1, (await admin('POST', `/admin/v1/users/${alice!.user.id}/token`)).body.enrollment.token, { name: 'alice tablet' })
  const carolPhone = await enroll(t, gw2, carol!.enrollment.token)
  const davePhone = await enroll(t, gw2, dave!.enrollment.token)

  // alice's phone holds a socket on gateway 2; her tablet runs the SDK on gateway 1
  const phoneToken = await alicePhone.client.sessionToken()
  const phoneSocket = await openSocket(t, gw2, phoneToken)
  await phoneSocket.next((f) => f.type === 'synced')
  const tabletFailures: ApiError[] = []
  await aliceTablet.client.connect({ failed: (err) => { tabletFailures.push(err) } })

  // dave writes to alice through gateway 2 once, so gateway 2 has alice cached as active
  const before = await request(gw2, { path: '/v1/envelopes', token: await davePhone.client.sessionToken(), body: envelopeFor(davePhone.client, [alicePhone.client, aliceTablet.client]) })
  t.equal(before.status, 200, 'alice can be messaged before the lock')
  await phoneSocket.next((f) => f.type === 'message')

  t.test('locking alice on gateway 1 closes her socket on gateway 2 with 4003 within 1 s', async (t) => {
    const started = Date.now()
    const locked = await admin('POST', `/admin/v1/users/${alice!.user.id}/lock`)
    t.equal(locked.status, 200)
    t.equal(locked.body.user.status, 'locked')
    const stale = await request(gw2, { path: '/v1/deliveries', token: phoneToken })
    t.equal(stale.status, 401, 'her session token is refused at once')
    t.equal(stale.body.code, 'MVM_AUTH_FAILED')
    const closed = await Promise.race([phoneSocket.closed, new Promise((r) => setTimeout(() => r('timeout'), 1000))])
    const elapsed = Date.now() - started
    t.same(closed, { code: 4003, reason: 'account locked' }, `closed with 4003 "account locked" ${elapsed} ms after the request was sent`)
    t.ok(elapsed < 1000, 'within one second')
    t.equal((await refusedUpgrade(gw2, `Bearer ${phoneToken}`)).status, 401, 'a new socket with the old token is refused')

    t.ok(await eventually(() => tabletFailures.length > 0, 10_000), 'the SDK on gateway 1 gives up with a final error')
    t.equal(tabletFailures[0]?.status, 401)
    t.equal(await authenticate(gw2, alicePhone.client), 401, 'a locked user cannot authenticate')

    const refused = await request(gw2, { path: '/v1/envelopes', token: await davePhone.client.sessionToken(), body: envelopeFor(davePhone.client, [alicePhone.client, aliceTablet.client]) })
    t.equal(refused.status, 404, 'gateway 2 dropped its cached alice: nobody can message her')
    t.equal(refused.body.code, 'MVM_USER_NOT_FOUND')
    const directory = await request(gw1, { path: '/v1/users/alice/devices', token: await carolPhone.client.sessionToken() })
    t.equal(directory.status, 404, 'nor look her up')

    const { rows: [entry] } = await pool.query("SELECT * FROM audit_entries WHERE action = 'user.lock' AND target_id = $1", [alice!.user.id])
    t.match(entry, { actor_type: 'admin', target_type: 'user', source_ip: '127.0.0.1', details: { before: { status: 'active' }, after: { status: 'locked' } } })
  })

  t.test('unlocked, alice authenticates and is reachable again', async (t) => {
    t.equal((await admin('POST', `/admin/v1/users/${alice!.user.id}/unlock`)).body.user.status, 'active')
    const token = await authenticate(gw2, alicePhone.client)
    t.type(token, 'string', 'her phone authenticates')
    const socket = await openSocket(t, gw2, token as string)
    await socket.next((f) => f.type === 'synced')
    const sent = await request(gw2, { path: '/v1/envelopes', token: await davePhone.client.sessionToken(), body: envelopeFor(davePhone.client, [alicePhone.client, aliceTablet.client]) })
    t.equal(sent.status, 200)
    await socket.next((f) => f.type === 'message')
  })

  t.test('offboarding carol revokes her devices; her socket on gateway 2 closes within 1 s', async (t) => {
    const token = await carolPhone.client.sessionToken()
    const socket = await openSocket(t, gw2, token)
    await socket.next((f) => f.type === 'synced')
    const started = Date.now()
    const res = await admin('POST', `/admin/v1/users/${carol!.user.id}/offboard`)
    t.equal(res.status, 200)
    t.equal(res.body.user.status, 'offboarded')
    const closed = await Promise.race([socket.closed, new Promise((r) => setTimeout(() => r('timeout'), 1000))])
    t.same(closed, { code: 4003, reason: 'account offboarded' }, `closed ${Date.now() - started} ms after the request was sent`)
    t.equal((await request(gw1, { path: '/v1/deliveries', token })).status, 401, 'her token is refused on the other gateway too')
    const { rows } = await pool.query('SELECT state, push_token FROM devices WHERE user_id = $1', [carol!.user.id])
    t.same(rows, [{ state: 'revoked', push_token: null }], 'the device is revoked')
    const challenge = await request(gw1, { path: '/v1/auth/challenge', body: { deviceId: carolPhone.client.deviceId } })
    t.equal(challenge.status, 401, 'a revoked device gets no challenge')
    t.equal(await authenticate(gw1, carolPhone.client), 401, 'and cannot authenticate')
    const { rows: [user] } = await pool.query('SELECT username, status FROM users WHERE id = $1', [carol!.user.id])
    t.same(user, { username: 'carol', status: 'offboarded' }, 'the user row stays')
    const actions = (await pool.query('SELECT action, target_id FROM audit_entries WHERE target_id = ANY($1) ORDER BY seq', [[carol!.user.id, carolPhone.client.deviceId]])).rows
    t.same(actions.map((a) => a.action), ['user.created', 'device.enrolled', 'user.offboard', 'device.revoked'])
  })
})
