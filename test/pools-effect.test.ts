// Pools decide who may exchange with whom (DESIGN §6): two users may exchange anything only if
// both are in no pool, or they share a pool. Checked through the raw device API on real gateways
// (key directory and envelopes), with SDK-enrolled devices; a membership change made on one
// gateway holds from the next send on the other, without a restart.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createAdminService } from '#core/admin/admins.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'
import { base64Decode, defaultProvider, type MessengerClient } from '#sdk/index.ts'
import { freshDatabase } from './support/services.ts'
import { startGateway, type Gateway } from './support/gateway.ts'
import { enroll } from './support/people.ts'
import { database, handSeal, request } from './support/attack.ts'
import { adminSession } from './support/operations.ts'

const provider = defaultProvider()

/** A raw envelope from `sender` to `to`'s one device, past the SDK's directory look-up. */
function envelopeFor(sender: MessengerClient, to: MessengerClient) {
  return handSeal({
    provider, sender, to: to.userId, text: 'hello', id: randomBytes(16).toString('base64url'),
    recipients: [{ deviceId: to.deviceId, x25519PublicKey: base64Decode(to.identity.x25519.publicKey) }],
  })
}

t.test('pools decide who may look up and message whom, on every gateway', async (t) => {
  const db = await freshDatabase(t)
  const [gw1, gw2] = await Promise.all([startGateway(t, db), startGateway(t, db)])
  const pool = database(t, db)
  const { password } = await createAdminService({ pool, audit: createAuditLog({ pool }) }).create({ username: 'root', role: 'owner' }, { type: 'system', id: 'test' })
  const admin = await adminSession(gw1, 'root', password)

  const names = ['alice', 'bob', 'carol', 'dave', 'erin'] as const
  const people: Record<string, { id: string; client: MessengerClient }> = {}
  for (const name of names) {
    const res = await admin('POST', '/admin/v1/users', { username: name })
    t.equal(res.status, 201, `${name} invited`)
    const d = await enroll(t, gw2, res.body.enrollment.token)
    people[name] = { id: res.body.user.id, client: d.client }
  }
  const p = (n: string) => people[n]!
  const sales = (await admin('POST', '/admin/v1/pools', { name: 'Sales' })).body.pool
  const field = (await admin('POST', '/admin/v1/pools', { name: 'Field' })).body.pool
  t.equal((await admin('POST', `/admin/v1/pools/${sales.id}/members`, { userIds: [p('alice').id, p('bob').id] })).status, 200)
  t.equal((await admin('POST', `/admin/v1/pools/${field.id}/members`, { userIds: [p('carol').id] })).status, 200)
  // alice, bob: Sales; carol: Field; dave, erin: no pool

  const lookUp = async (gw: Gateway, from: string, to: string) =>
    (await request(gw, { path: `/v1/users/${to}/devices`, token: await p(from).client.sessionToken() })).status
  const send = async (gw: Gateway, from: string, to: string) => {
    const res = await request(gw, { path: '/v1/envelopes', token: await p(from).client.sessionToken(), body: envelopeFor(p(from).client, p(to).client) })
    return res.status === 403 ? `403 ${res.body.code}` : String(res.status)
  }

  t.test('a shared pool: look-up and messages both ways', async (t) => {
    for (const gw of [gw1, gw2]) {
      t.equal(await lookUp(gw, 'alice', 'bob'), 200)
      t.equal(await lookUp(gw, 'bob', 'alice'), 200)
      t.equal(await send(gw, 'alice', 'bob'), '200')
      t.equal(await send(gw, 'bob', 'alice'), '200')
    }
  })

  t.test('different pools, or a pool and no pool: neither look-up nor messages', async (t) => {
    for (const [a, b] of [['alice', 'carol'], ['carol', 'alice'], ['alice', 'dave'], ['dave', 'alice'], ['carol', 'erin'], ['erin', 'carol']] as const) {
      for (const gw of [gw1, gw2]) {
        t.equal(await lookUp(gw, a, b), 404, `${a} cannot look up ${b}`)
        t.equal(await send(gw, a, b), '403 MVM_PEER_NOT_REACHABLE', `${a} cannot message ${b}`)
      }
    }
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM envelopes WHERE recipient_user_id = $1', [p('carol').id])
    t.equal(rows[0].n, 0, 'nothing refused was stored')
  })

  t.test('both in no pool: look-up and messages', async (t) => {
    t.equal(await lookUp(gw2, 'dave', 'erin'), 200)
    t.equal(await send(gw2, 'dave', 'erin'), '200')
    t.equal(await send(gw1, 'erin', 'dave'), '200')
  })

  t.test('a membership change on gateway 1 holds from the next send on gateway 2', async (t) => {
    // gateway 2 has just refused alice → carol, so it holds both users' pools in its cache
    t.equal(await send(gw2, 'alice', 'carol'), '403 MVM_PEER_NOT_REACHABLE')
    t.equal((await admin('POST', `/admin/v1/pools/${sales.id}/members`, { userIds: [p('carol').id] })).status, 200)
    t.equal(await send(gw2, 'alice', 'carol'), '200', 'carol joined Sales: alice reaches her')
    t.equal(await lookUp(gw2, 'alice', 'carol'), 200)

    t.equal((await admin('DELETE', `/admin/v1/pools/${sales.id}/members/${p('carol').id}`)).status, 200)
    t.equal(await send(gw2, 'alice', 'carol'), '403 MVM_PEER_NOT_REACHABLE', 'carol left Sales: refused again')

    t.equal(await send(gw2, 'dave', 'carol'), '403 MVM_PEER_NOT_REACHABLE')
    t.equal((await admin('DELETE', `/admin/v1/pools/${field.id}`)).status, 200)
    t.equal(await send(gw2, 'dave', 'carol'), '200', 'Field deleted: carol is in no pool, like dave')
    t.equal(await send(gw2, 'alice', 'carol'), '403 MVM_PEER_NOT_REACHABLE', 'but alice is still in Sales')
  })
})
