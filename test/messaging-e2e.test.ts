// Two employees, four devices, two gateway processes over TLS, PostgreSQL and Redis: messages
// cross gateways through Redis, wait in the store while a device is offline, reach every
// device of both users, and never lie in the database as plaintext.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { freshDatabase } from './support/services.ts'
import { startGateway } from './support/gateway.ts'
import { addUsers, enroll, newToken } from './support/people.ts'

const PLAINTEXTS = ['Guten Morgen Bob, das Angebot ist raus', 'Danke Alice!']

t.test('alice on gateway 1 and bob on gateway 2 chat end to end', async (t) => {
  const db = await freshDatabase(t)
  const [gw1, gw2] = await Promise.all([startGateway(t, db), startGateway(t, db)])
  const tokens = await addUsers(db, ['alice', 'bob'])
  const alicePhone = await enroll(t, gw1, tokens.alice!, { name: 'alice phone' })
  const bobPhone = await enroll(t, gw2, tokens.bob!, { name: 'bob phone' })
  const aliceTablet = await enroll(t, gw2, await newToken(db, 'alice'), { name: 'alice tablet' })
  await Promise.all([alicePhone.connect(), bobPhone.connect(), aliceTablet.connect()])

  t.test('both ways, across gateways, with the sender\'s copy on her other device', async (t) => {
    const sent = await alicePhone.client.sendText('bob', PLAINTEXTS[0]!)
    t.equal(sent.duplicate, false)
    const [atBob] = await bobPhone.received(1)
    t.equal(atBob!.content.text, PLAINTEXTS[0])
    t.equal(atBob!.senderUserId, alicePhone.client.userId)
    t.equal(atBob!.outgoing, false)
    const [copy] = await aliceTablet.received(1)
    t.equal(copy!.content.text, PLAINTEXTS[0], 'alice\'s tablet gets her sent copy')
    t.equal(copy!.outgoing, true)
    t.equal(copy!.peerUserId, bobPhone.client.userId)

    await bobPhone.client.sendText('alice', PLAINTEXTS[1]!)
    const [atAlice] = await alicePhone.received(1)
    t.equal(atAlice!.content.text, PLAINTEXTS[1])
    t.equal((await aliceTablet.received(2))[1]!.content.text, PLAINTEXTS[1])
    t.same(alicePhone.rejected.concat(bobPhone.rejected, aliceTablet.rejected), [])
  })

  t.test('bob offline, then back on the other gateway, receives everything in order', async (t) => {
    await bobPhone.client.close()
    const texts = Array.from({ length: 12 }, (_, i) => `offline message ${i + 1}`)
    for (const text of texts) await alicePhone.client.sendText('bob', text)
    // bob's new laptop enrolls while he is away: later messages are sealed for it too
    const bobLaptop = await enroll(t, gw1, await newToken(db, 'bob'), { name: 'bob laptop' })
    await alicePhone.client.sendText('bob', 'after the laptop')
    await bobLaptop.connect()
    await bobLaptop.received(1)
    t.same(bobLaptop.inbox.map((m) => m.content.text), ['after the laptop'], 'the laptop gets what was sent after it enrolled')

    const returning = await enroll(t, gw1, await newToken(db, 'bob'))
    t.ok(returning, 'an extra device does not disturb the others')
    // the phone reconnects with its existing identity through gateway 1
    const { createNodeTransport, MessengerClient, defaultProvider } = await import('#sdk/index.ts')
    const transport = createNodeTransport(gw1.url, { ca: gw1.ca })
    const { device } = await import('./support/people.ts')
    const phoneAgain = device(t, new MessengerClient({ identity: { ...bobPhone.client.identity, server: gw1.url }, transport, provider: defaultProvider() }), transport)
    await phoneAgain.connect()
    const inbox = await phoneAgain.received(13)
    t.same(inbox.map((m) => m.content.text), [...texts, 'after the laptop'], 'in the order they were sent')
  })

  t.test('acknowledged deliveries are deleted and the database holds no plaintext', async (t) => {
    await new Promise((r) => setTimeout(r, 300))
    const dump = execFileSync('pg_dump', ['--data-only', db], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    t.ok(dump.includes('COPY public.envelopes'), 'the dump covers the envelopes')
    for (const text of [...PLAINTEXTS, 'offline message 1', 'after the laptop']) {
      t.notOk(dump.includes(text), `"${text}" is not in the dump`)
      t.notOk(dump.includes(Buffer.from(text).toString('hex')), `nor its hex`)
    }
  })
})

t.test('enrollments and failed device sign-ins are in the audit log; unknown challenges are not', async (t) => {
  const db = await freshDatabase(t)
  const gateway = await startGateway(t, db)
  const tokens = await addUsers(db, ['dora'])
  const dora = await enroll(t, gateway, tokens.dora!)
  const { request } = await import('node:https')
  const post = (path: string, body: object) => new Promise<number>((resolve, reject) => {
    const req = request(`${gateway.url}${path}`, { method: 'POST', ca: gateway.ca, headers: { 'content-type': 'application/json' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
  const deviceId = dora.client.deviceId
  const badSignature = Buffer.alloc(64, 7).toString('base64')
  const { challenge } = await new Promise<{ challenge: string }>((resolve, reject) => {
    const req = request(`${gateway.url}/v1/auth/challenge`, { method: 'POST', ca: gateway.ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = ''
      res.on('data', (c) => { text += c })
      res.on('end', () => resolve(JSON.parse(text)))
    })
    req.on('error', reject)
    req.end(JSON.stringify({ deviceId }))
  })
  t.equal(await post('/v1/auth/session', { deviceId, challenge, signature: badSignature }), 401)
  t.equal(await post('/v1/auth/session', { deviceId, challenge: Buffer.alloc(32, 1).toString('base64'), signature: badSignature }), 401)
  const pg = (await import('pg')).default
  const client = new pg.Client({ connectionString: db })
  await client.connect()
  t.teardown(() => client.end())
  const { rows } = await client.query('SELECT action, details FROM audit_entries ORDER BY seq')
  t.same(rows.map((r) => r.action), ['device.enrolled', 'device.auth_failed'], 'one failure recorded: the one with an issued challenge')
  t.same(rows[1].details, { reason: 'signature' })
})
