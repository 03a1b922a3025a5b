// A hostile sender and a malicious server against the recipient's SDK (DESIGN §5): envelopes
// changed by one bit, associated data that does not match, replays, reflections, malformed
// ciphertexts and low-order peer keys are all refused with the one generic MVM_CRYPTO_REJECTED,
// acknowledged (so they do not come back), and the next genuine message still gets through.
// Bob reads on two devices, one per crypto provider, so both implementations are attacked.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import {
  associatedData, base64Decode, contentKeys, CryptoError, createNativeProvider, INFO, pairwiseKeys, pureProvider, seal, sealMessage,
  type CryptoProvider,
} from '#sdk/index.ts'
import { freshDatabase } from './support/services.ts'
import { startGateway } from './support/gateway.ts'
import { addUsers, enroll, newToken } from './support/people.ts'
import {
  boxBytes, craftBox, database, deliveryExists, eventually, flipBit, handSeal, insertDelivery, insertEnvelope, receiver, redis,
  request, type Receiver, type WireEnvelope,
} from './support/attack.ts'

const LOW_ORDER_KEYS = {
  'all-zero': new Uint8Array(32),
  'order-8 point e0eb7a7c…': Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'),
}
const PROVIDERS: [string, CryptoProvider][] = [['native', createNativeProvider()], ['pure', pureProvider]]
const utf8 = new TextEncoder()

t.test('tampered, replayed, reflected, malformed and low-order messages', async (t) => {
  const db = await freshDatabase(t)
  const gw = await startGateway(t, db)
  const pool = database(t, db)
  const tokens = await addUsers(db, ['alice', 'bob', 'carol', 'mallory'])
  const alice = await enroll(t, gw, tokens.alice!, { name: 'alice phone' })
  const bobPhone = await enroll(t, gw, tokens.bob!, { name: 'bob phone (native crypto)', provider: PROVIDERS[0]![1] })
  const bobTablet = await enroll(t, gw, await newToken(db, 'bob'), { name: 'bob tablet (pure-JS crypto)', provider: pureProvider })
  const carol = await enroll(t, gw, tokens.carol!)
  const p = createNativeProvider()
  const aliceToken = await alice.client.sessionToken()
  const bobUserId = bobPhone.client.userId
  const bob = [receiver(bobPhone.client), receiver(bobTablet.client)]
  const bobDevices = bob.map((r) => ({ deviceId: r.client.deviceId, x25519PublicKey: base64Decode(r.client.identity.x25519.publicKey) }))
  await Promise.all(bob.map((r) => r.connect()))

  let n = 0
  const newId = (label: string) => `${label}-${++n}-${randomUUID().slice(0, 8)}`
  const sealForBob = (text: string, over: Partial<Parameters<typeof handSeal>[0]> = {}) =>
    handSeal({ provider: p, sender: alice.client, to: bobUserId, recipients: bobDevices, text, id: newId('m'), ...over })
  const post = (envelope: WireEnvelope) => request(gw, { path: '/v1/envelopes', token: aliceToken, body: envelope })
  const pendingFor = async (messageId: string) => Number((await pool.query(
    `SELECT count(*) AS n FROM deliveries d JOIN envelopes e ON e.id = d.envelope_id WHERE e.client_message_id = $1`, [messageId])).rows[0].n)

  /** Waits for one more rejection on each receiver; checks it is the generic code, nothing reached the inbox, and its delivery is gone. */
  async function rejectedOnce(t: Test, receivers: Receiver[], before: { rejections: number; inbox: number }[], what: string) {
    for (const [i, r] of receivers.entries()) {
      const name = r.client.identity.deviceId === alice.client.deviceId ? 'alice' : i === 0 ? 'bob (native)' : 'bob (pure)'
      await eventually(() => r.rejections.length > before[i]!.rejections, 5_000)
      const fresh = r.rejections.slice(before[i]!.rejections)
      t.equal(fresh.length, 1, `${name}: ${what} is rejected once`)
      t.same(fresh.map((x) => x.code), ['MVM_CRYPTO_REJECTED'], `${name}: with the one generic error`)
      t.equal(r.inbox.length, before[i]!.inbox, `${name}: nothing reaches the inbox`)
      for (const x of fresh) t.ok(await eventually(async () => !(await deliveryExists(pool, x.seq))), `${name}: the rejected delivery ${x.seq} is acknowledged and gone`)
    }
  }
  const snapshot = (receivers: Receiver[]) => receivers.map((r) => ({ rejections: r.rejections.length, inbox: r.inbox.length }))

  /** A genuine message, sealed by the same hand as the tampered ones, reaches every bob device intact. */
  async function genuineGetsThrough(t: Test) {
    const before = snapshot(bob)
    const text = `genuine after ${n}`
    const envelope = sealForBob(text)
    t.equal((await post(envelope)).status, 200, 'a genuine message is accepted')
    for (const [i, r] of bob.entries()) {
      await r.count(before[i]!.inbox + before[i]!.rejections + 1)
      t.same(r.inbox.slice(before[i]!.inbox).map((m) => [m.id, m.content.text, m.senderDeviceId]), [[envelope.id, text, alice.client.deviceId]],
        `bob device ${i + 1}: the genuine message gets through (the client is not stuck)`)
      t.equal(r.rejections.length, before[i]!.rejections, `bob device ${i + 1}: and is not rejected`)
    }
    t.ok(await eventually(async () => (await pendingFor(envelope.id)) === 0), 'and is acknowledged')
  }

  t.test('control: an untampered hand-sealed envelope is accepted by both bob devices', async (t) => {
    await genuineGetsThrough(t)
  })

  // --- one bit, or the associated data, changed by the sender -------------------------------------
  const TAMPERS: [string, () => WireEnvelope][] = [
    ['a one-bit change in the body ciphertext', () => { const e = sealForBob('tamper: body ct'); e.body.ct = flipBit(e.body.ct, 20, 3); return e }],
    // Byte 5 of the first block is the "1" of {"v":1: without the MAC this flip would still decrypt to valid JSON.
    ['a one-bit change in the body IV', () => { const e = sealForBob('tamper: body iv'); e.body.iv = flipBit(e.body.iv, 5, 0); return e }],
    ['a one-bit change in the body MAC', () => { const e = sealForBob('tamper: body mac'); e.body.mac = flipBit(e.body.mac, -1, 7); return e }],
    ['a one-bit change in the key ciphertexts', () => { const e = sealForBob('tamper: key ct'); for (const k of e.keys) k.ct = flipBit(k.ct, 40, 0); return e }],
    ['a one-bit change in the key IVs', () => { const e = sealForBob('tamper: key iv'); for (const k of e.keys) k.iv = flipBit(k.iv, 0, 0); return e }],
    ['a one-bit change in the key MACs', () => { const e = sealForBob('tamper: key mac'); for (const k of e.keys) k.mac = flipBit(k.mac, 0, 0); return e }],
    ['a message id other than the one sealed', () => sealForBob('tamper: id', { sealAs: { messageId: newId('sealed-as') } })],
    ['a recipient user other than the one sealed', () => sealForBob('tamper: to', { sealAs: { recipientUserId: carol.client.userId } })],
    ['a sender device other than the one sealed', () => sealForBob('tamper: from', { sealAs: { senderDeviceId: carol.client.deviceId } })],
    ['keys sealed for another recipient device', () => sealForBob('tamper: key device', { sealAs: { recipientDeviceId: carol.client.deviceId } })],
  ]
  for (const [what, make] of TAMPERS) {
    t.test(`${what}: rejected with MVM_CRYPTO_REJECTED, acknowledged, and a genuine message follows`, async (t) => {
      const before = snapshot(bob)
      const envelope = make()
      t.equal((await post(envelope)).status, 200, 'the gateway cannot tell and stores it')
      await rejectedOnce(t, bob, before, what)
      t.ok(await eventually(async () => (await pendingFor(envelope.id)) === 0), 'no delivery of it is left in the store')
      await genuineGetsThrough(t)
    })
  }

  // --- a malicious server ------------------------------------------------------------------------
  t.test('a replayed message id (a copied delivery, read on reconnect): rejected, acknowledged, and a genuine message follows', async (t) => {
    await Promise.all(bob.map((r) => r.disconnect()))
    const envelope = sealForBob('replay me, via the store')
    t.equal((await post(envelope)).status, 200)
    const { rows } = await pool.query<{ envelope_id: string; device_id: string; sealed_key: Buffer }>(
      `SELECT d.envelope_id, d.device_id, d.sealed_key FROM deliveries d JOIN envelopes e ON e.id = d.envelope_id WHERE e.client_message_id = $1`, [envelope.id])
    t.equal(rows.length, 2, 'the server keeps a copy of both deliveries')
    let before = snapshot(bob)
    await Promise.all(bob.map((r) => r.connect()))
    for (const [i, r] of bob.entries()) {
      await r.count(before[i]!.inbox + before[i]!.rejections + 1)
      t.equal(r.inbox.at(-1)?.content.text, 'replay me, via the store', `bob device ${i + 1} takes the original`)
    }
    t.ok(await eventually(async () => (await pendingFor(envelope.id)) === 0), 'and acknowledges it')

    for (const row of rows) await insertDelivery(pool, row.envelope_id, row.device_id, row.sealed_key)
    before = snapshot(bob)
    await Promise.all(bob.map(async (r) => { await r.disconnect(); await r.connect() }))
    await rejectedOnce(t, bob, before, 'the replay')
    await genuineGetsThrough(t)
  })

  t.test('a replayed message id (a copied delivery, published live): rejected, acknowledged, and a genuine message follows', async (t) => {
    let before = snapshot(bob)
    const envelope = sealForBob('replay me, live')
    t.equal((await post(envelope)).status, 200)
    for (const [i, r] of bob.entries()) await r.count(before[i]!.inbox + before[i]!.rejections + 1)
    t.same(bob.map((r) => r.inbox.at(-1)?.content.text), ['replay me, live', 'replay me, live'], 'both bob devices take the original')
    t.ok(await eventually(async () => (await pendingFor(envelope.id)) === 0), 'and acknowledge it')

    const { rows: [env] } = await pool.query<{ id: string }>('SELECT id FROM envelopes WHERE client_message_id = $1', [envelope.id])
    const publisher = redis(t)
    before = snapshot(bob)
    for (const [i, r] of bob.entries()) {
      const key = envelope.keys.find((k) => k.device === r.client.deviceId)!
      const seq = await insertDelivery(pool, env!.id, r.client.deviceId, boxBytes(key))
      // The frame exactly as the gateway would make it: read it back through the device's own API.
      const res = await request(gw, { path: `/v1/deliveries?after=${BigInt(seq) - 1n}&limit=1`, token: await r.client.sessionToken() })
      const frame = res.body.messages[0]
      t.equal(frame?.seq, seq, `bob device ${i + 1}: the copy has a new seq`)
      t.equal(frame?.id, envelope.id, `bob device ${i + 1}: and the same message id`)
      await publisher.publish(`mvm:device:${r.client.deviceId}`, JSON.stringify(frame))
    }
    await rejectedOnce(t, bob, before, 'the replay')
    await genuineGetsThrough(t)
  })

  t.test('a genuine message attributed by the server to another user, or from a device the directory does not know: rejected, acknowledged, and a genuine message follows', async (t) => {
    // from.user is covered by no MAC: a server could claim alice's genuine message came from carol.
    const misattributed = sealForBob('who sent this?')
    const unknown = sealForBob('from nowhere')
    for (const [what, envelope, senderUserId, senderDeviceId] of [
      ['a message from alice\'s device claimed to be carol\'s', misattributed, carol.client.userId, alice.client.deviceId],
      ['a message from a device id that does not exist', unknown, alice.client.userId, randomUUID()],
    ] as const) {
      const before = snapshot(bob)
      const seqs = await insertEnvelope(pool, {
        senderUserId, senderDeviceId, messageId: envelope.id, recipientUserId: bobUserId, body: boxBytes(envelope.body),
        keys: envelope.keys.map((k) => ({ device: k.device, sealedKey: boxBytes(k) })),
      })
      await Promise.all(bob.map(async (r) => { await r.disconnect(); await r.connect() }))
      await rejectedOnce(t, bob, before, what)
      t.same(bob.map((r) => r.rejections.at(-1)!.seq), bob.map((r) => seqs.get(r.client.deviceId)), 'the rejections are for the inserted deliveries')
      await genuineGetsThrough(t)
    }
  })

  t.test('a message reflected back to its sender\'s own device: rejected, acknowledged, and a genuine message follows', async (t) => {
    const aliceInbox = receiver(alice.client)
    // Sealed also for alice's own device, so that only the reflection check can stop it.
    const all = [...bobDevices, { deviceId: alice.client.deviceId, x25519PublicKey: base64Decode(alice.client.identity.x25519.publicKey) }]
    const envelope = handSeal({ provider: p, sender: alice.client, to: bobUserId, recipients: all, text: 'reflect me', id: newId('reflect') })
    const selfKey = envelope.keys.pop()!
    t.equal((await post(envelope)).status, 200, 'sent to bob')
    const { rows: [env] } = await pool.query<{ id: string }>('SELECT id FROM envelopes WHERE client_message_id = $1', [envelope.id])
    const reflected = await insertDelivery(pool, env!.id, alice.client.deviceId, boxBytes(selfKey))
    t.ok(reflected, 'the server delivers alice\'s own envelope to alice\'s own device')
    await aliceInbox.connect()
    await rejectedOnce(t, [aliceInbox], [{ rejections: 0, inbox: 0 }], 'the reflection')
    t.same(aliceInbox.rejections.map((r) => r.seq), [reflected], 'the rejection is for the reflected delivery')

    // The plain copy a malicious server would make: bob's delivery row for alice's device.
    const before = snapshot([aliceInbox])
    await insertDelivery(pool, env!.id, alice.client.deviceId, boxBytes(envelope.keys[0]!))
    await aliceInbox.disconnect()
    await aliceInbox.connect()
    await rejectedOnce(t, [aliceInbox], before, 'a copy of bob\'s delivery')

    await bobPhone.client.sendText('alice', 'genuine, bob to alice')
    await aliceInbox.count(3)
    t.same(aliceInbox.inbox.map((m) => m.content.text), ['genuine, bob to alice'], 'a genuine message still reaches alice')
    await aliceInbox.disconnect()
    await genuineGetsThrough(t)
  })

  t.test('a ciphertext that is empty or not a multiple of 16 bytes: the gateway refuses it with 400', async (t) => {
    const b64 = (bytes: number) => Buffer.alloc(bytes, 5).toString('base64')
    const cases: [string, (e: WireEnvelope) => void][] = [
      ['empty body ciphertext', (e) => { e.body.ct = '' }],
      ['8-byte body ciphertext', (e) => { e.body.ct = b64(8) }],
      ['15-byte body ciphertext', (e) => { e.body.ct = b64(15) }],
      ['17-byte body ciphertext', (e) => { e.body.ct = b64(17) }],
      ['33-byte body ciphertext', (e) => { e.body.ct = b64(33) }],
      ['empty key ciphertext', (e) => { e.keys[0]!.ct = '' }],
      ['40-byte key ciphertext', (e) => { e.keys[1]!.ct = b64(40) }],
      ['47-byte key ciphertext', (e) => { e.keys[0]!.ct = b64(47) }],
    ]
    for (const [what, mutate] of cases) {
      const envelope = sealForBob(what)
      mutate(envelope)
      const res = await post(envelope)
      t.equal(res.status, 400, `${what}: 400`)
      t.equal(res.body?.code, 'MVM_REQUEST_INVALID', `${what}: MVM_REQUEST_INVALID`)
      t.equal(await pendingFor(envelope.id), 0, `${what}: nothing stored`)
    }
  })

  t.test('a ciphertext that is empty or not a multiple of 16 bytes, stored by the server anyway: rejected, acknowledged, and a genuine message follows', async (t) => {
    // Every box carries a correct MAC, so only the shape check (or the decryption) can refuse it.
    const cases: [string, { bodyCt?: number; keyCt?: number }][] = [
      ['an empty body ciphertext', { bodyCt: 0 }],
      ['a 17-byte body ciphertext', { bodyCt: 17 }],
      ['a 40-byte key ciphertext', { keyCt: 40 }],
    ]
    for (const [what, shape] of cases) {
      const messageId = newId('malformed')
      const contentKey = p.randomBytes(32)
      const bodyAd = associatedData({ purpose: 'body', senderDeviceId: alice.client.deviceId, recipient: bobUserId, messageId })
      const bodyBox = shape.bodyCt === undefined
        ? seal(p, contentKeys(p, contentKey), bodyAd, utf8.encode(JSON.stringify({ v: 1, type: 'text', text: what })))
        : craftBox(p, contentKeys(p, contentKey), bodyAd, p.randomBytes(shape.bodyCt))
      const keys = bobDevices.map((d) => {
        const pair = pairwiseKeys(p, base64Decode(alice.client.identity.x25519.privateKey), d.x25519PublicKey)
        const ad = associatedData({ purpose: 'key', senderDeviceId: alice.client.deviceId, recipient: d.deviceId, messageId })
        const box = shape.keyCt === undefined ? seal(p, pair, ad, contentKey) : craftBox(p, pair, ad, p.randomBytes(shape.keyCt))
        return { device: d.deviceId, sealedKey: boxBytes(box) }
      })
      const before = snapshot(bob)
      const seqs = await insertEnvelope(pool, {
        senderUserId: alice.client.userId, senderDeviceId: alice.client.deviceId, messageId, recipientUserId: bobUserId, body: boxBytes(bodyBox), keys,
      })
      await Promise.all(bob.map(async (r) => { await r.disconnect(); await r.connect() }))
      await rejectedOnce(t, bob, before, what)
      t.same(bob.map((r) => r.rejections.at(-1)!.seq), bob.map((r) => seqs.get(r.client.deviceId)), 'the rejections are for the inserted deliveries')
      await genuineGetsThrough(t)
    }
  })

  t.test('a sender device with a low-order X25519 key: the SDK refuses to seal to it on both providers', async (t) => {
    for (const [provider, impl] of PROVIDERS) {
      for (const [name, key] of Object.entries(LOW_ORDER_KEYS)) {
        t.throws(() => sealMessage(impl, {
          senderDeviceId: alice.client.deviceId, senderPrivateKey: impl.x25519KeyPair().privateKey, messageId: 'low-order-seal', recipientUserId: bobUserId,
          plaintext: utf8.encode('{"v":1,"type":"text","text":"x"}'), recipients: [{ deviceId: randomUUID(), x25519PublicKey: key }],
        }), CryptoError, `${provider}: sealMessage to the ${name} key throws CryptoError`)
        t.throws(() => impl.x25519(impl.x25519KeyPair().privateKey, key), { code: 'MVM_CRYPTO_REJECTED' }, `${provider}: X25519 with the ${name} key is refused`)
      }
    }
    // Through the client: mallory's only device has a low-order key (inserted by the server).
    const { rows: [m] } = await pool.query<{ id: string }>(`UPDATE users SET status = 'active' WHERE username = 'mallory' RETURNING id`)
    const malloryDevice = randomUUID()
    await pool.query(`INSERT INTO devices (id, user_id, x25519_public_key, ed25519_public_key, platform) VALUES ($1, $2, $3, $4, 'other')`,
      [malloryDevice, m!.id, Buffer.from(LOW_ORDER_KEYS['all-zero']), Buffer.from(p.randomBytes(32))])
    for (const [who, client] of [['alice (native)', alice.client], ['bob\'s tablet (pure)', bobTablet.client]] as const) {
      await t.rejects(client.sendText('mallory', 'to a low-order key'), { code: 'MVM_CRYPTO_REJECTED' }, `${who}: sending to mallory fails`)
    }
    const { rows: [stored] } = await pool.query('SELECT count(*) AS n FROM envelopes WHERE recipient_user_id = $1', [m!.id])
    t.equal(Number(stored.n), 0, 'and nothing was sent to her')
  })

  t.test('a message "from" a device with a low-order X25519 key: rejected on both providers, acknowledged, and a genuine message follows', async (t) => {
    const { rows: [m] } = await pool.query<{ id: string }>(`UPDATE users SET status = 'active' WHERE username = 'mallory' RETURNING id`)
    for (const [name, lowKey] of Object.entries(LOW_ORDER_KEYS)) {
      const deviceId = randomUUID()
      await pool.query(`INSERT INTO devices (id, user_id, x25519_public_key, ed25519_public_key, platform) VALUES ($1, $2, $3, $4, 'other')`,
        [deviceId, m!.id, Buffer.from(lowKey), Buffer.from(p.randomBytes(32))])
      // The shared secret with a low-order key is all zeros whatever the private key: anyone can
      // derive the pairwise keys. Sealed with them, this would open if the zero check were missing.
      const okm = p.hkdfSha256(new Uint8Array(32), new Uint8Array(32), utf8.encode(INFO.pairwise), 64)
      const zeroKeys = { encKey: okm.slice(0, 32), macKey: okm.slice(32) }
      const messageId = newId('low-order')
      const contentKey = p.randomBytes(32)
      const bodyBox = seal(p, contentKeys(p, contentKey), associatedData({ purpose: 'body', senderDeviceId: deviceId, recipient: bobUserId, messageId }),
        utf8.encode(JSON.stringify({ v: 1, type: 'text', text: `from the ${name} key` })))
      const keys = bobDevices.map((d) => ({
        device: d.deviceId,
        sealedKey: boxBytes(seal(p, zeroKeys, associatedData({ purpose: 'key', senderDeviceId: deviceId, recipient: d.deviceId, messageId }), contentKey)),
      }))
      const before = snapshot(bob)
      const seqs = await insertEnvelope(pool, { senderUserId: m!.id, senderDeviceId: deviceId, messageId, recipientUserId: bobUserId, body: boxBytes(bodyBox), keys })
      await Promise.all(bob.map(async (r) => { await r.disconnect(); await r.connect() }))
      await rejectedOnce(t, bob, before, `a message from the ${name} key`)
      t.same(bob.map((r) => r.rejections.at(-1)!.seq), bob.map((r) => seqs.get(r.client.deviceId)), 'the rejections are for the inserted deliveries')
      await genuineGetsThrough(t)
    }
  })
})
