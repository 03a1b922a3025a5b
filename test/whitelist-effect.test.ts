// A whitelist change that takes users off the list ends their sessions at once on every gateway
// (DESIGN §6: who is not whitelisted cannot connect): switching the mode, deleting an entry and
// moving a user to a team no entry matches. Two gateway processes; the admin API on one, the
// users' sockets on the other. Those still on the list keep their sockets.
import t from 'tap'
import { createAdminService } from '#core/admin/admins.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'
import { ApiError, createNodeTransport, defaultProvider, MessengerClient } from '#sdk/index.ts'
import { freshDatabase } from './support/services.ts'
import { startGateway, type Gateway } from './support/gateway.ts'
import { enroll } from './support/people.ts'
import { database, openSocket, request } from './support/attack.ts'
import { adminSession } from './support/operations.ts'

const provider = defaultProvider()

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

const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'still open'>((r) => setTimeout(() => r('still open'), ms))])

t.test('taking users off the whitelist disconnects them within a second', async (t) => {
  const db = await freshDatabase(t)
  const [gw1, gw2] = await Promise.all([startGateway(t, db), startGateway(t, db)])
  const pool = database(t, db)
  const { password } = await createAdminService({ pool, audit: createAuditLog({ pool }) }).create({ username: 'root', role: 'owner' }, { type: 'system', id: 'test' })
  const admin = await adminSession(gw1, 'root', password)

  const people = new Map<string, { id: string; client: MessengerClient; token: string; socket: Awaited<ReturnType<typeof openSocket>> }>()
  for (const [username, team] of [['alice', 'sales'], ['bob', 'ops'], ['carol', 'ops']] as const) {
    const res = await admin('POST', '/admin/v1/users', { username, team })
    t.equal(res.status, 201)
    const { client } = await enroll(t, gw2, res.body.enrollment.token)
    const token = await client.sessionToken()
    const socket = await openSocket(t, gw2, token)
    await socket.next((f) => f.type === 'synced')
    people.set(username, { id: res.body.user.id, client, token, socket })
  }
  const alice = people.get('alice')!, bob = people.get('bob')!, carol = people.get('carol')!
  const seen = await admin('GET', `/admin/v1/users?lastSeenAfter=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`)
  t.same(seen.body.users.map((u: { username: string }) => u.username), ['alice', 'bob', 'carol'], "a device's sign-in makes its user last seen")
  t.equal((await admin('POST', '/admin/v1/whitelist/entries', { kind: 'team', value: 'sales' })).status, 201)
  const bobEntry = await admin('POST', '/admin/v1/whitelist/entries', { kind: 'user', value: bob.id })
  t.equal(bobEntry.status, 201)

  t.test('switching the mode to whitelist closes the sockets of those no entry matches', async (t) => {
    const started = Date.now()
    t.equal((await admin('PUT', '/admin/v1/whitelist/mode', { mode: 'whitelist' })).status, 200)
    const closed = await within(carol.socket.closed, 1000)
    t.same(closed, { code: 4003, reason: 'not whitelisted' }, `carol's socket on gateway 2 closed ${Date.now() - started} ms after the request was sent`)
    t.equal((await request(gw2, { path: '/v1/deliveries', token: carol.token })).status, 401, 'her token is refused')
    t.equal(await authenticate(gw1, carol.client), 401, 'and she cannot sign in again')
    t.equal(await within(alice.socket.closed, 300), 'still open', 'alice (team sales) stays connected')
    t.equal(await within(bob.socket.closed, 300), 'still open', 'bob (by user entry) stays connected')
    t.equal((await request(gw2, { path: '/v1/deliveries', token: alice.token })).status, 200)
  })

  t.test("moving alice to a team no entry matches disconnects her", async (t) => {
    const started = Date.now()
    const res = await admin('PATCH', `/admin/v1/users/${alice.id}`, { team: 'ops' })
    t.equal(res.status, 200)
    t.same(await within(alice.socket.closed, 1000), { code: 4003, reason: 'not whitelisted' }, `closed ${Date.now() - started} ms after the request`)
    t.equal((await request(gw2, { path: '/v1/deliveries', token: alice.token })).status, 401)
    t.equal(await within(bob.socket.closed, 300), 'still open', 'bob is not touched')
  })

  t.test("deleting bob's entry disconnects him", async (t) => {
    const started = Date.now()
    t.equal((await admin('DELETE', `/admin/v1/whitelist/entries/${bobEntry.body.entry.id}`)).status, 200)
    t.same(await within(bob.socket.closed, 1000), { code: 4003, reason: 'not whitelisted' }, `closed ${Date.now() - started} ms after the request`)
    t.equal((await request(gw1, { path: '/v1/deliveries', token: bob.token })).status, 401, 'refused on the other gateway too')
  })

  t.test('back to mode all: their devices stay enrolled and sign in again', async (t) => {
    t.equal((await admin('PUT', '/admin/v1/whitelist/mode', { mode: 'all' })).status, 200)
    for (const p of [alice, bob, carol]) t.type(await authenticate(gw2, p.client), 'string')
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM devices WHERE state = 'active'")
    t.equal(rows[0].n, 3, 'no device was revoked')
  })
})
