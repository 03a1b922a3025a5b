// Hostile input against a real gateway process over TLS (DESIGN §6: "bad input gets a clear 4xx
// with a stable error code; it never crashes a process or loses data"): every REST route and the
// WebSocket get malformed, oversized, mistyped and absurd input, and each answer is a 4xx (or an
// error frame) with the exact MVM_* code. Afterwards the process still runs and a message stored
// before the barrage still reaches its offline recipient.
import t, { type Test } from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { authMessage, base64Decode, base64Encode, defaultProvider } from '#sdk/index.ts'
import { freshDatabase } from './support/services.ts'
import { startGateway } from './support/gateway.ts'
import { addUsers, enroll, newToken } from './support/people.ts'
import {
  alive, database, deliveriesOf, deliveryExists, eventually, openSocket, receiver, redis, refusedUpgrade, request,
  type RawRequest, type RawResponse,
} from './support/attack.ts'

// The smallest envelope limit the config allows keeps the oversized bodies small:
// bodyLimit = ceil(4096 / 3) * 4 + 64 KiB = 71000 bytes, the same for REST and WebSocket frames.
const MAX_ENVELOPE_BYTES = 4096
const BODY_LIMIT = Math.ceil(MAX_ENVELOPE_BYTES / 3) * 4 + 64 * 1024
const OVERSIZED = JSON.stringify({ pad: 'x'.repeat(BODY_LIMIT + 16) })

const b64 = (n: number, fill = 7) => Buffer.alloc(n, fill).toString('base64')
const BOX = { iv: b64(16), ct: b64(32), mac: b64(32, 3) }
const NIL_UUID = '00000000-0000-0000-0000-000000000000'
const KEY = () => randomBytes(32).toString('base64')
// X25519 public keys of small order (DESIGN §5: refused), in several encodings of each point.
const P_MINUS = (d: number) => Buffer.concat([Buffer.of(0xed - d), Buffer.alloc(30, 0xff), Buffer.of(0x7f)]).toString('hex')
const LOW_ORDER: Record<string, string> = {
  'zero': '00'.repeat(32),
  'one': `01${'00'.repeat(31)}`,
  'order 8': 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  'order 8 with the top bit set': 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
  'p - 1': P_MINUS(1),
  'p (non-canonical zero)': P_MINUS(0),
  'p + 1 (non-canonical one)': Buffer.concat([Buffer.of(0xee), Buffer.alloc(30, 0xff), Buffer.of(0x7f)]).toString('hex'),
}

type Check = { name: string; req: RawRequest; status: number; code: string }

/** The error shape of plugins/errors.ts: status, the exact code, a message and a request id. */
function isError(t: Test, res: RawResponse, status: number, code: string, name: string) {
  t.equal(res.status, status, `${name}: status ${status}`)
  t.equal(res.body?.code, code, `${name}: ${code}`)
  t.equal(res.body?.statusCode, status, `${name}: statusCode in the body`)
  t.type(res.body?.reqId, 'string', `${name}: reqId in the body`)
}

async function table(t: Test, gw: Parameters<typeof request>[0], checks: Check[]) {
  for (const c of checks) isError(t, await request(gw, c.req), c.status, c.code, c.name)
}

t.test('bad input on every route and on the socket', async (t) => {
  const db = await freshDatabase(t)
  const gw = await startGateway(t, db, { MVM_MAX_ENVELOPE_BYTES: String(MAX_ENVELOPE_BYTES) })
  const pool = database(t, db)
  const tokens = await addUsers(db, ['alice', 'bob', 'carol', 'dave', 'erin'])
  const [alice, bob, carol] = await Promise.all([enroll(t, gw, tokens.alice!), enroll(t, gw, tokens.bob!), enroll(t, gw, tokens.carol!)])
  const [aliceToken, bobToken] = await Promise.all([alice.client.sessionToken(), bob.client.sessionToken()])
  const erinId = (await pool.query<{ id: string }>(`SELECT id FROM users WHERE username = 'erin'`)).rows[0]!.id

  // Before the barrage: a message waits in the store for carol, who is offline throughout.
  const before = await alice.client.sendText('carol', 'sent before the barrage')
  const carolSeq = (await deliveriesOf(pool, alice.client.deviceId, before.id)).get(carol.client.deviceId)!
  t.ok(carolSeq, 'the message for carol is stored')

  let n = 0
  const envelope = (over: Record<string, unknown> = {}) => ({
    id: `bad-input-${++n}-${randomBytes(4).toString('hex')}`,
    to: bob.client.userId,
    class: 'text',
    body: { ...BOX },
    keys: [{ device: bob.client.deviceId, ...BOX }],
    ...over,
  })
  const envelopeWith = (mutate: (e: any) => void) => { const e = envelope(); mutate(e); return e }
  const asAlice = (path: string, body?: unknown, method?: string): RawRequest => ({ path, token: aliceToken, ...(body === undefined ? {} : { body }), ...(method ? { method } : {}) })

  t.test('unauthenticated requests get 401 MVM_AUTH_FAILED before any body or parameter validation; a plain GET /v1/ws with a token gets 426', async (t) => {
    const noAuth: Check[] = [
      { name: 'GET /v1/users/:username/devices', req: { path: '/v1/users/bob/devices' } },
      { name: 'GET /v1/users/by-id/:id/devices with a bad id', req: { path: '/v1/users/by-id/not-a-uuid/devices' } },
      { name: 'GET /v1/devices/:id with a bad id', req: { path: '/v1/devices/not-a-uuid' } },
      { name: 'POST /v1/envelopes with malformed JSON', req: { path: '/v1/envelopes', body: '{"id":' } },
      { name: 'POST /v1/envelopes with a valid envelope', req: { path: '/v1/envelopes', body: envelope() } },
      { name: 'POST /v1/envelopes oversized', req: { path: '/v1/envelopes', body: OVERSIZED } },
      { name: 'GET /v1/deliveries with a bad query', req: { path: '/v1/deliveries?after=abc&limit=0' } },
      { name: 'POST /v1/deliveries/ack with malformed JSON', req: { path: '/v1/deliveries/ack', body: '[' } },
      { name: 'POST /v1/deliveries/ack with a stranger\'s seq', req: { path: '/v1/deliveries/ack', body: { seq: [carolSeq] } } },
    ].map((c) => ({ ...c, status: 401, code: 'MVM_AUTH_FAILED' }))
    await table(t, gw, noAuth)

    const headers: [string, string][] = [
      ['Basic scheme', `Basic ${Buffer.from('alice:secret').toString('base64')}`],
      ['empty bearer', 'Bearer '],
      ['short token', 'Bearer abc'],
      ['unknown token', `Bearer ${randomBytes(32).toString('base64url')}`],
      ['10 kB token', `Bearer ${'A'.repeat(10_000)}`],
      ['a valid token with a suffix', `Bearer ${aliceToken}x`],
      ['the token without its scheme', aliceToken],
    ]
    for (const [name, authorization] of headers) {
      isError(t, await request(gw, { path: '/v1/deliveries', headers: { authorization } }), 401, 'MVM_AUTH_FAILED', `GET /v1/deliveries, ${name}`)
      isError(t, await request(gw, { path: '/v1/envelopes', headers: { authorization }, body: '{' }), 401, 'MVM_AUTH_FAILED', `POST /v1/envelopes, ${name}`)
    }
    isError(t, await request(gw, { path: '/v1/ws' }), 401, 'MVM_AUTH_FAILED', 'plain GET /v1/ws without a token')
    isError(t, await request(gw, { path: '/v1/ws', token: aliceToken }), 426, 'MVM_UPGRADE_REQUIRED', 'plain GET /v1/ws with a token')
    for (const [name, authorization] of [['no header', undefined], ...headers] as [string, string | undefined][]) {
      const res = await refusedUpgrade(gw, authorization)
      t.equal(res.status, 401, `WebSocket upgrade, ${name}: 401`)
      t.equal(res.body?.code, 'MVM_AUTH_FAILED', `WebSocket upgrade, ${name}: MVM_AUTH_FAILED`)
    }
    t.ok(await deliveryExists(pool, carolSeq), 'carol\'s delivery was not acknowledged by any of it')
  })

  t.test('POST /v1/enroll: 400/413/415 with stable codes; a rejected attempt does not use up the token', async (t) => {
    const token = await newToken(db, 'dave')
    const valid = { token, x25519PublicKey: KEY(), ed25519PublicKey: KEY(), platform: 'android' }
    const enrollWith = (over: Record<string, unknown>, drop: string[] = []) => {
      const body: Record<string, unknown> = { ...valid, x25519PublicKey: KEY(), ed25519PublicKey: KEY(), ...over }
      for (const k of drop) delete body[k]
      return { path: '/v1/enroll', body }
    }
    const invalid = (name: string, req: RawRequest): Check => ({ name, req, status: 400, code: 'MVM_REQUEST_INVALID' })
    await table(t, gw, [
      { name: 'malformed JSON', req: { path: '/v1/enroll', body: '{"token": "abc",' }, status: 400, code: 'MVM_REQUEST_MALFORMED' },
      { name: 'empty body', req: { path: '/v1/enroll', body: '' }, status: 400, code: 'MVM_REQUEST_MALFORMED' },
      { name: '__proto__ key', req: { path: '/v1/enroll', body: `{"__proto__":{"admin":true},"token":"${token}"}` }, status: 400, code: 'MVM_REQUEST_MALFORMED' },
      { name: 'constructor.prototype key', req: { path: '/v1/enroll', body: '{"constructor":{"prototype":{"admin":true}}}' }, status: 400, code: 'MVM_REQUEST_MALFORMED' },
      { name: 'oversized body', req: { path: '/v1/enroll', body: OVERSIZED }, status: 413, code: 'MVM_REQUEST_TOO_LARGE' },
      { name: 'XML', req: { path: '/v1/enroll', body: '<enroll/>', headers: { 'content-type': 'application/xml' } }, status: 415, code: 'MVM_REQUEST_MEDIA_TYPE' },
      invalid('JSON null', { path: '/v1/enroll', body: 'null' }),
      invalid('JSON array', { path: '/v1/enroll', body: JSON.stringify([valid]) }),
      invalid('JSON number', { path: '/v1/enroll', body: '42' }),
      invalid('30 000 nested arrays', { path: '/v1/enroll', body: '['.repeat(30_000) + ']'.repeat(30_000) }),
      invalid('unknown field', enrollWith({ admin: true })),
      invalid('token is a number', enrollWith({ token: 1234567890123456789 })),
      invalid('platform is a number', enrollWith({ platform: 1 })),
      invalid('key is an array of bytes', enrollWith({ x25519PublicKey: [...randomBytes(32)] })),
      invalid('name is an object', enrollWith({ name: { first: 'Dave' } })),
      invalid('missing token', enrollWith({}, ['token'])),
      invalid('missing x25519PublicKey', enrollWith({}, ['x25519PublicKey'])),
      invalid('missing ed25519PublicKey', enrollWith({}, ['ed25519PublicKey'])),
      invalid('missing platform', enrollWith({}, ['platform'])),
      invalid('bad base64 key', enrollWith({ x25519PublicKey: `${'!'.repeat(43)}=` })),
      invalid('base64url key', enrollWith({ ed25519PublicKey: `${'-_'.repeat(21)}A=` })),
      invalid('31-byte key', enrollWith({ x25519PublicKey: randomBytes(31).toString('base64') })),
      invalid('33-byte key', enrollWith({ ed25519PublicKey: randomBytes(33).toString('base64') })),
      invalid('empty key', enrollWith({ x25519PublicKey: '' })),
      invalid('unknown platform', enrollWith({ platform: 'symbian' })),
      ...Object.entries(LOW_ORDER).map(([name, hex]) => invalid(`low-order x25519PublicKey: ${name}`, enrollWith({ x25519PublicKey: Buffer.from(hex, 'hex').toString('base64') }))),
      invalid('token with bad characters', enrollWith({ token: `${token.slice(0, 20)}/../..` })),
      invalid('token too long', enrollWith({ token: 'A'.repeat(129) })),
      invalid('name too long', enrollWith({ name: 'D'.repeat(129) })),
      invalid('name with a NUL character', enrollWith({ name: 'Dave\u0000phone' })),
      { name: 'well-formed unknown token', req: enrollWith({ token: randomBytes(32).toString('base64url') }), status: 401, code: 'MVM_ENROLLMENT_INVALID' },
      { name: 'signing key already enrolled', req: enrollWith({ ed25519PublicKey: alice.client.identity.ed25519.publicKey }), status: 409, code: 'MVM_DEVICE_KEY_IN_USE' },
    ])
    const res = await request(gw, { path: '/v1/enroll', body: valid })
    t.equal(res.status, 201, 'the token still enrolls a device after all that')
    t.equal(res.body?.username, 'dave')
  })

  t.test('an enrollment token works once only: a concurrent double use enrolls exactly one device; an expired token none', async (t) => {
    const countDevices = async (name: string) => Number((await pool.query(
      'SELECT count(*) AS n FROM devices d JOIN users u ON u.id = d.user_id WHERE u.username = $1', [name])).rows[0].n)
    const token = await newToken(db, 'dave')
    const devicesBefore = await countDevices('dave')
    const attempts = await Promise.all(Array.from({ length: 6 }, () =>
      request(gw, { path: '/v1/enroll', body: { token, x25519PublicKey: KEY(), ed25519PublicKey: KEY(), platform: 'ios' } })))
    t.equal(attempts.filter((r) => r.status === 201).length, 1, 'exactly one of six concurrent uses succeeds')
    for (const r of attempts.filter((a) => a.status !== 201)) isError(t, r, 401, 'MVM_ENROLLMENT_INVALID', 'a losing concurrent use')
    t.equal(await countDevices('dave'), devicesBefore + 1, 'exactly one device was enrolled')
    isError(t, await request(gw, { path: '/v1/enroll', body: { token, x25519PublicKey: KEY(), ed25519PublicKey: KEY(), platform: 'ios' } }),
      401, 'MVM_ENROLLMENT_INVALID', 'the used token again')

    const expired = tokens.erin!
    const { rowCount } = await pool.query(`UPDATE enrollment_tokens SET expires_at = now() - interval '1 second'
      WHERE user_id = (SELECT id FROM users WHERE username = 'erin')`)
    t.equal(rowCount, 1, 'erin\'s token is now expired')
    isError(t, await request(gw, { path: '/v1/enroll', body: { token: expired, x25519PublicKey: KEY(), ed25519PublicKey: KEY(), platform: 'ios' } }),
      401, 'MVM_ENROLLMENT_INVALID', 'an expired token')
    t.equal(await countDevices('erin'), 0, 'no device for the expired token')
  })

  t.test('POST /v1/auth/challenge and /v1/auth/session: bad shapes 400; used, expired or foreign challenges and other keys 401', async (t) => {
    const deviceId = alice.client.deviceId
    const invalid = (name: string, path: string, body: unknown): Check => ({ name, req: { path, body }, status: 400, code: 'MVM_REQUEST_INVALID' })
    const C = '/v1/auth/challenge'
    const S = '/v1/auth/session'
    const sig = base64Encode(randomBytes(64))
    const ch = randomBytes(32).toString('base64')
    await table(t, gw, [
      { name: 'challenge: malformed JSON', req: { path: C, body: '{deviceId}' }, status: 400, code: 'MVM_REQUEST_MALFORMED' },
      { name: 'challenge: oversized', req: { path: C, body: OVERSIZED }, status: 413, code: 'MVM_REQUEST_TOO_LARGE' },
      invalid('challenge: unknown field', C, { deviceId, nonce: 1 }),
      invalid('challenge: deviceId is a number', C, { deviceId: 42 }),
      invalid('challenge: missing deviceId', C, {}),
      invalid('challenge: deviceId not a uuid', C, { deviceId: 'alice-phone' }),
      invalid('challenge: upper-case uuid', C, { deviceId: deviceId.toUpperCase() }),
      invalid('challenge: SQL in deviceId', C, { deviceId: `${deviceId}' OR '1'='1` }),
      invalid('challenge: path in deviceId', C, { deviceId: '../../../../etc/passwd' }),
      invalid('challenge: 20 kB deviceId', C, { deviceId: 'f'.repeat(20_000) }),
      { name: 'session: malformed JSON', req: { path: S, body: '{"deviceId":"' }, status: 400, code: 'MVM_REQUEST_MALFORMED' },
      { name: 'session: oversized', req: { path: S, body: OVERSIZED }, status: 413, code: 'MVM_REQUEST_TOO_LARGE' },
      invalid('session: unknown field', S, { deviceId, challenge: ch, signature: sig, admin: true }),
      invalid('session: missing signature', S, { deviceId, challenge: ch }),
      invalid('session: missing challenge', S, { deviceId, signature: sig }),
      invalid('session: signature as bytes', S, { deviceId, challenge: ch, signature: [...randomBytes(64)] }),
      invalid('session: challenge bad base64', S, { deviceId, challenge: `${'*'.repeat(43)}=`, signature: sig }),
      invalid('session: 16-byte challenge', S, { deviceId, challenge: randomBytes(16).toString('base64'), signature: sig }),
      invalid('session: 32-byte signature', S, { deviceId, challenge: ch, signature: randomBytes(32).toString('base64') }),
      invalid('session: 65-byte signature', S, { deviceId, challenge: ch, signature: randomBytes(65).toString('base64') }),
      invalid('session: deviceId not a uuid', S, { deviceId: 'x', challenge: ch, signature: sig }),
    ])

    const p = defaultProvider()
    const aliceSeed = base64Decode(alice.client.identity.ed25519.privateKey)
    const bobSeed = base64Decode(bob.client.identity.ed25519.privateKey)
    const challenge = async (id = deviceId) => {
      const res = await request(gw, { path: C, body: { deviceId: id } })
      t.equal(res.status, 200, 'a challenge is issued')
      return res.body.challenge as string
    }
    const sign = (seed: Uint8Array, id: string, c: string) => base64Encode(p.ed25519Sign(seed, authMessage(id, base64Decode(c))))
    const open = (c: string, signature: string, id = deviceId) => request(gw, { path: S, body: { deviceId: id, challenge: c, signature } })

    const used = await challenge()
    t.equal((await open(used, sign(aliceSeed, deviceId, used))).status, 200, 'control: a correct signature opens a session')
    isError(t, await open(used, sign(aliceSeed, deviceId, used)), 401, 'MVM_AUTH_FAILED', 'a used challenge')

    const racing = await challenge()
    const race = await Promise.all([1, 2, 3].map(() => open(racing, sign(aliceSeed, deviceId, racing))))
    t.equal(race.filter((r) => r.status === 200).length, 1, 'one challenge used three times at once opens one session')

    const expiring = await challenge()
    const r = redis(t)
    const keys = (await r.keys('*')).filter((k) => k.includes(expiring))
    t.equal(keys.length, 1, 'the challenge is held in Redis')
    await r.pexpire(keys[0]!, 1)
    await new Promise((res) => setTimeout(res, 20))
    isError(t, await open(expiring, sign(aliceSeed, deviceId, expiring)), 401, 'MVM_AUTH_FAILED', 'an expired challenge')

    isError(t, await open(randomBytes(32).toString('base64'), sig), 401, 'MVM_AUTH_FAILED', 'a challenge never issued')
    const other = await challenge()
    isError(t, await open(other, sign(bobSeed, deviceId, other)), 401, 'MVM_AUTH_FAILED', 'a signature by another device\'s key')
    isError(t, await open(other, sign(aliceSeed, deviceId, other)), 401, 'MVM_AUTH_FAILED', 'the right signature after a failed attempt: the challenge is spent')
    const foreign = await challenge(bob.client.deviceId)
    isError(t, await open(foreign, sign(aliceSeed, deviceId, foreign)), 401, 'MVM_AUTH_FAILED', 'a challenge issued to another device')
    const wrongId = await challenge()
    isError(t, await open(wrongId, sign(aliceSeed, bob.client.deviceId, wrongId)), 401, 'MVM_AUTH_FAILED', 'a signature over another device id')
    isError(t, await request(gw, { path: C, body: { deviceId: NIL_UUID } }), 401, 'MVM_AUTH_FAILED', 'a challenge for a device that does not exist')
    isError(t, await open(randomBytes(32).toString('base64'), sig, NIL_UUID), 401, 'MVM_AUTH_FAILED', 'a session for a device that does not exist')
  })

  t.test('key directory routes: absurd names and ids get 400 MVM_REQUEST_INVALID, unknown ones 404', async (t) => {
    const get = (path: string) => asAlice(path)
    const invalid = (name: string, path: string): Check => ({ name, req: get(path), status: 400, code: 'MVM_REQUEST_INVALID' })
    t.equal((await request(gw, get('/v1/users/bob/devices'))).status, 200, 'control: bob by name')
    t.equal((await request(gw, get(`/v1/users/by-id/${bob.client.userId}/devices`))).status, 200, 'control: bob by id')
    t.equal((await request(gw, get(`/v1/devices/${bob.client.deviceId}`))).status, 200, 'control: bob\'s device')
    await table(t, gw, [
      invalid('username of 65 characters', `/v1/users/${'b'.repeat(65)}/devices`),
      invalid('username with a NUL character', '/v1/users/b%00ob/devices'),
      invalid('username with a broken percent escape', '/v1/users/%E0%A4%A/devices'),
      invalid('username that is not UTF-8', '/v1/users/%FF%FE/devices'),
      { name: 'unknown username', req: get('/v1/users/nobody/devices'), status: 404, code: 'MVM_USER_NOT_FOUND' },
      { name: 'SQL as a username', req: get(`/v1/users/${encodeURIComponent("bob' OR '1'='1")}/devices`), status: 404, code: 'MVM_USER_NOT_FOUND' },
      { name: 'a path as a username', req: get(`/v1/users/${encodeURIComponent('../../etc')}/devices`), status: 404, code: 'MVM_USER_NOT_FOUND' },
      invalid('user id not a uuid', '/v1/users/by-id/bob/devices'),
      invalid('upper-case user id', `/v1/users/by-id/${bob.client.userId.toUpperCase()}/devices`),
      invalid('user id with SQL', `/v1/users/by-id/${encodeURIComponent(`${bob.client.userId}' OR 1=1 --`)}/devices`),
      invalid('user id of 2000 characters', `/v1/users/by-id/${'f'.repeat(2000)}/devices`),
      { name: 'unknown user id', req: get(`/v1/users/by-id/${NIL_UUID}/devices`), status: 404, code: 'MVM_USER_NOT_FOUND' },
      invalid('device id not a uuid', '/v1/devices/phone'),
      invalid('device id -1', '/v1/devices/-1'),
      invalid('device id of 2000 characters', `/v1/devices/${'0'.repeat(2000)}`),
      { name: 'unknown device id', req: get(`/v1/devices/${NIL_UUID}`), status: 404, code: 'MVM_DEVICE_NOT_FOUND' },
      { name: 'a method the route does not have', req: { ...get('/v1/devices/x'), method: 'DELETE' }, status: 404, code: 'MVM_NOT_FOUND' },
      { name: 'a route that does not exist', req: get('/v1/admin/users'), status: 404, code: 'MVM_NOT_FOUND' },
    ])
  })

  t.test('POST /v1/envelopes: malformed, oversized, unknown fields, wrong types, missing fields, bad boxes and absurd ids', async (t) => {
    const post = (body: unknown) => asAlice('/v1/envelopes', body)
    const invalid = (name: string, body: unknown): Check => ({ name, req: post(body), status: 400, code: 'MVM_REQUEST_INVALID' })
    const drop = (path: string) => envelopeWith((e) => {
      const parts = path.split('.')
      let o = e
      for (const p of parts.slice(0, -1)) o = o[p]
      delete o[parts.at(-1)!]
    })
    const keys65 = Array.from({ length: 65 }, () => ({ device: randomUUID(), ...BOX }))
    await table(t, gw, [
      { name: 'malformed JSON', req: post('{"id":"abcdefgh","to":'), status: 400, code: 'MVM_REQUEST_MALFORMED' },
      { name: 'empty body', req: post(''), status: 400, code: 'MVM_REQUEST_MALFORMED' },
      { name: 'oversized body', req: post(OVERSIZED), status: 413, code: 'MVM_REQUEST_TOO_LARGE' },
      { name: 'text/plain', req: { ...post('hello bob'), headers: { 'content-type': 'application/x-www-form-urlencoded' } }, status: 415, code: 'MVM_REQUEST_MEDIA_TYPE' },
      invalid('a ciphertext over the envelope limit', envelopeWith((e) => { e.body.ct = b64(MAX_ENVELOPE_BYTES + 16) })),
      invalid('JSON array', [envelope()]),
      invalid('unknown top-level field', envelope({ priority: 'high' })),
      invalid('unknown field in body', envelopeWith((e) => { e.body.tag = 'x' })),
      invalid('unknown field in a key', envelopeWith((e) => { e.keys[0].user = bob.client.userId })),
      invalid('id is a number', envelope({ id: 12345678 })),
      invalid('to is a number', envelope({ to: 5 })),
      invalid('class is not a content class', envelope({ class: 'exe' })),
      invalid('class is an array', envelope({ class: ['text'] })),
      invalid('body is a string', envelope({ body: 'hello bob' })),
      invalid('keys is an object', envelope({ keys: { [bob.client.deviceId]: BOX } })),
      invalid('a key is a string', envelope({ keys: ['x'] })),
      invalid('iv is a number', envelopeWith((e) => { e.body.iv = 16 })),
      invalid('missing id', drop('id')),
      invalid('missing to', drop('to')),
      invalid('missing class', drop('class')),
      invalid('missing body', drop('body')),
      invalid('missing keys', drop('keys')),
      invalid('missing body.mac', drop('body.mac')),
      invalid('missing keys[0].device', envelopeWith((e) => { delete e.keys[0].device })),
      invalid('65 keys', envelope({ keys: keys65 })),
      invalid('body.iv not base64', envelopeWith((e) => { e.body.iv = `${'!'.repeat(22)}==` })),
      invalid('body.ct with a line break', envelopeWith((e) => { e.body.ct = `${e.body.ct.slice(0, 20)}\n${e.body.ct.slice(21)}` })),
      invalid('keys[0].mac in the URL alphabet', envelopeWith((e) => { e.keys[0].mac = `${'-_'.repeat(21)}A=` })),
      invalid('body.iv of 18 bytes', envelopeWith((e) => { e.body.iv = 'A'.repeat(24) })),
      invalid('body.iv of 3 bytes', envelopeWith((e) => { e.body.iv = 'AAAA' })),
      invalid('body.mac of 33 bytes', envelopeWith((e) => { e.body.mac = 'A'.repeat(44) })),
      invalid('keys[0].mac of 31 bytes', envelopeWith((e) => { e.keys[0].mac = b64(31) })),
      invalid('body.ct of 17 bytes', envelopeWith((e) => { e.body.ct = b64(17) })),
      invalid('keys[0].ct of 40 bytes', envelopeWith((e) => { e.keys[0].ct = b64(40) })),
      invalid('to not a uuid', envelope({ to: 'bob' })),
      invalid('to upper-case', envelope({ to: bob.client.userId.toUpperCase() })),
      invalid('to with SQL', envelope({ to: `${bob.client.userId}'; DELETE FROM deliveries; --` })),
      invalid('id of 7 characters', envelope({ id: 'abcdefg' })),
      invalid('id of 65 characters', envelope({ id: 'a'.repeat(65) })),
      invalid('id with a slash', envelope({ id: 'abc/defgh' })),
      invalid('id with a NUL character', envelope({ id: 'abcd\u0000efgh' })),
      invalid('key device not a uuid', envelopeWith((e) => { e.keys[0].device = 'bob-phone' })),
      invalid('the same device twice', envelopeWith((e) => { e.keys.push({ ...e.keys[0] }) })),
      { name: 'to the nil uuid', req: post(envelope({ to: NIL_UUID })), status: 404, code: 'MVM_USER_NOT_FOUND' },
      { name: 'to a device id instead of a user id', req: post(envelope({ to: bob.client.deviceId })), status: 404, code: 'MVM_USER_NOT_FOUND' },
      { name: 'to an invited user without devices', req: post(envelope({ to: erinId, keys: [] })), status: 409, code: 'MVM_PEER_NO_DEVICES' },
      { name: 'no keys', req: post(envelope({ keys: [] })), status: 409, code: 'MVM_ENVELOPE_DEVICE_MISMATCH' },
      { name: 'a note to self from the only device', req: post(envelope({ to: alice.client.userId, keys: [] })), status: 409, code: 'MVM_PEER_NO_DEVICES' },
      { name: 'a key for an unknown device', req: post(envelopeWith((e) => { e.keys[0].device = NIL_UUID })), status: 409, code: 'MVM_ENVELOPE_DEVICE_MISMATCH' },
      { name: 'a key for the sender\'s own device', req: post(envelopeWith((e) => { e.keys.push({ device: alice.client.deviceId, ...BOX }) })), status: 409, code: 'MVM_ENVELOPE_DEVICE_MISMATCH' },
    ])
    const mismatch = await request(gw, post(envelopeWith((e) => { e.keys[0].device = carol.client.deviceId })))
    t.same([mismatch.body?.missingDevices, mismatch.body?.extraDevices], [[bob.client.deviceId], [carol.client.deviceId]], '409 names the missing and the extra device')
    const control = await request(gw, post(envelope()))
    t.equal(control.status, 200, 'control: the unmutated envelope is accepted')
    t.equal(control.body?.duplicate, false)
  })

  t.test('GET /v1/deliveries and POST /v1/deliveries/ack: bad seqs and limits get 400 MVM_REQUEST_INVALID', async (t) => {
    const get = (query: string) => asAlice(`/v1/deliveries${query}`)
    const ack = (body: unknown) => asAlice('/v1/deliveries/ack', body)
    const invalid = (name: string, req: RawRequest): Check => ({ name, req, status: 400, code: 'MVM_REQUEST_INVALID' })
    t.equal((await request(gw, get('?after=999999999999999999&limit=500'))).status, 200, 'control: the largest seq (18 digits) and limit')
    t.same((await request(gw, ack({ seq: ['999999999999999999'] }))).body, { deleted: 0 }, 'control: acknowledging the largest seq')
    await table(t, gw, [
      invalid('after not a number', get('?after=abc')),
      invalid('after negative', get('?after=-1')),
      invalid('after a fraction', get('?after=1.5')),
      invalid('after empty', get('?after=')),
      invalid('after of 20 digits', get('?after=99999999999999999999')),
      invalid('after of 19 digits, the largest bigint', get('?after=9223372036854775807')),
      invalid('after of 19 digits beyond the bigint range', get('?after=9999999999999999999')),
      invalid('after twice', get('?after=1&after=2')),
      invalid('limit 0', get('?limit=0')),
      invalid('limit 501', get('?limit=501')),
      invalid('limit 1e2', get('?limit=1e2')),
      invalid('unknown query parameter', get('?device=all')),
      { name: 'ack: malformed JSON', req: ack('{"seq":[1,'), status: 400, code: 'MVM_REQUEST_MALFORMED' },
      { name: 'ack: oversized', req: ack(OVERSIZED), status: 413, code: 'MVM_REQUEST_TOO_LARGE' },
      invalid('ack: missing seq', ack({})),
      invalid('ack: unknown field', ack({ seq: ['1'], device: bob.client.deviceId })),
      invalid('ack: seq a string', ack({ seq: '1' })),
      invalid('ack: no seqs', ack({ seq: [] })),
      invalid('ack: seqs as numbers', ack({ seq: [1, 2] })),
      invalid('ack: negative seq', ack({ seq: ['-1'] })),
      invalid('ack: seq with SQL', ack({ seq: ['1) OR (1=1'] })),
      invalid('ack: 501 seqs', ack({ seq: Array.from({ length: 501 }, (_, i) => String(i + 1)) })),
      invalid('ack: seq of 20 digits', ack({ seq: ['99999999999999999999'] })),
      invalid('ack: seq of 19 digits, the largest bigint', ack({ seq: ['9223372036854775807'] })),
      invalid('ack: seq of 19 digits beyond the bigint range', ack({ seq: ['1', '9999999999999999999'] })),
    ])
  })

  t.test('WebSocket /v1/ws: every bad frame gets an error frame with a stable code and the socket stays open', async (t) => {
    const ws = await openSocket(t, gw, aliceToken)
    t.same(await ws.next(), { type: 'synced' }, 'the socket opens with nothing pending')
    const expectFrame = async (name: string, data: string | Buffer | object, code: string, ref?: string, status?: number) => {
      const reply = await ws.ask(data)
      t.equal(reply.type, 'error', `${name}: an error frame`)
      t.equal(reply.code, code, `${name}: ${code}`)
      if (ref) t.equal(reply.ref, ref, `${name}: refers to the envelope`)
      if (status) t.equal(reply.status, status, `${name}: carries the REST status ${status}`)
    }
    const send = (e: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'send', envelope: e, ...extra })

    await expectFrame('not JSON', 'hello gateway', 'MVM_FRAME_MALFORMED')
    await expectFrame('truncated JSON', '{"type":"send","envelope":{', 'MVM_FRAME_MALFORMED')
    await expectFrame('a large non-JSON frame under the limit', 'x'.repeat(BODY_LIMIT - 100), 'MVM_FRAME_MALFORMED')
    await expectFrame('binary', randomBytes(64), 'MVM_FRAME_INVALID')
    await expectFrame('binary JSON', Buffer.from(JSON.stringify({ type: 'ping' })), 'MVM_FRAME_INVALID')
    for (const [name, text] of [
      ['unknown type', '{"type":"subscribe","device":"*"}'], ['no type', '{}'], ['type is a number', '{"type":1}'],
      ['type __proto__', '{"type":"__proto__"}'], ['type constructor', '{"type":"constructor"}'], ['type toString', '{"type":"toString"}'],
      ['JSON null', 'null'], ['JSON array', '[{"type":"ping"}]'], ['JSON number', '42'], ['JSON string', '"ping"'],
    ] as const) await expectFrame(name, text, 'MVM_FRAME_UNKNOWN')

    let e = envelope()
    await expectFrame('send with an unknown top-level field', send(e, { priority: 'high' }), 'MVM_FRAME_INVALID', e.id)
    e = envelope({ forward: true })
    await expectFrame('send with an unknown envelope field', send(e), 'MVM_FRAME_INVALID', e.id)
    e = envelopeWith((x) => { x.body.tag = 1 })
    await expectFrame('send with an unknown box field', send(e), 'MVM_FRAME_INVALID', e.id)
    e = envelope({ class: 5 })
    await expectFrame('send with class a number', send(e), 'MVM_FRAME_INVALID', e.id)
    e = envelope({ keys: 'all' })
    await expectFrame('send with keys a string', send(e), 'MVM_FRAME_INVALID', e.id)
    await expectFrame('send with the envelope a string', { type: 'send', envelope: 'hi' }, 'MVM_FRAME_INVALID')
    await expectFrame('send without an envelope', { type: 'send' }, 'MVM_FRAME_INVALID')
    e = envelopeWith((x) => { delete x.to })
    await expectFrame('send without to', send(e), 'MVM_FRAME_INVALID', e.id)
    e = envelope({ to: 'bob' })
    await expectFrame('send to a name instead of an id', send(e), 'MVM_FRAME_INVALID', e.id)
    e = envelope({ keys: [...Array(65)].map(() => ({ device: randomUUID(), ...BOX })) })
    await expectFrame('send with 65 keys', send(e), 'MVM_FRAME_INVALID', e.id)
    e = envelopeWith((x) => { x.body.iv = `${'!'.repeat(22)}==` })
    await expectFrame('send with an iv that is not base64', send(e), 'MVM_REQUEST_INVALID', e.id, 400)
    e = envelopeWith((x) => { x.body.mac = 'A'.repeat(44) })
    await expectFrame('send with a 33-byte mac', send(e), 'MVM_REQUEST_INVALID', e.id, 400)
    e = envelopeWith((x) => { x.body.ct = b64(17) })
    await expectFrame('send with a 17-byte ciphertext', send(e), 'MVM_REQUEST_INVALID', e.id, 400)
    e = envelopeWith((x) => { x.keys[0].ct = b64(40) })
    await expectFrame('send with a 40-byte key ciphertext', send(e), 'MVM_REQUEST_INVALID', e.id, 400)
    e = envelopeWith((x) => { x.keys.push({ ...x.keys[0] }) })
    await expectFrame('send with the same device twice', send(e), 'MVM_REQUEST_INVALID', e.id, 400)
    e = envelope({ to: NIL_UUID })
    await expectFrame('send to the nil uuid', send(e), 'MVM_USER_NOT_FOUND', e.id, 404)
    e = envelope({ keys: [] })
    await expectFrame('send with no keys', send(e), 'MVM_ENVELOPE_DEVICE_MISMATCH', e.id, 409)
    e = envelope({ to: alice.client.userId, keys: [] })
    await expectFrame('send a note to self from the only device', send(e), 'MVM_PEER_NO_DEVICES', e.id, 409)
    e = envelopeWith((x) => { x.keys[0].device = NIL_UUID })
    await expectFrame('send with a key for an unknown device', send(e), 'MVM_ENVELOPE_DEVICE_MISMATCH', e.id, 409)

    for (const [name, seq] of [
      ['a string', '1'], ['no seqs', []], ['numbers', [1]], ['negative', ['-1']], ['not digits', ['1 OR 1=1']],
      ['20 digits', ['99999999999999999999']], ['19 digits, the largest bigint', ['9223372036854775807']],
      ['19 digits beyond the bigint range', ['1', '9999999999999999999']],
      ['501 seqs', Array.from({ length: 501 }, (_, i) => String(i + 1))],
    ] as const) await expectFrame(`ack with ${name}`, { type: 'ack', seq }, 'MVM_FRAME_INVALID')
    await expectFrame('ack with an unknown field', { type: 'ack', seq: ['1'], device: carol.client.deviceId }, 'MVM_FRAME_INVALID')

    t.same(await ws.ask({ type: 'ping' }), { type: 'pong' }, 'the socket still answers')
    e = envelope()
    const sent = await ws.ask(send(e))
    t.same([sent.type, sent.id, sent.duplicate], ['sent', e.id, false], 'and still takes a good envelope')
    t.ok(ws.isOpen, 'the socket is still open')
    ws.close()
  })

  t.test('WebSocket /v1/ws: a frame over the size limit closes the socket with 1009, and a new socket works', async (t) => {
    const ws = await openSocket(t, gw, aliceToken)
    await ws.next((f) => f.type === 'synced')
    ws.send(JSON.stringify({ type: 'send', envelope: envelope({ body: { ...BOX, ct: b64(BODY_LIMIT) } }) }))
    t.equal((await ws.closed).code, 1009, 'closed with 1009 (message too big)')
    const again = await openSocket(t, gw, aliceToken)
    await again.next((f) => f.type === 'synced')
    t.same(await again.ask({ type: 'ping' }), { type: 'pong' }, 'a new socket works')
    again.close()
  })

  t.test('another device\'s session cannot acknowledge carol\'s delivery: deleted 0 over REST and the socket', async (t) => {
    t.same((await request(gw, { path: '/v1/deliveries/ack', token: bobToken, body: { seq: [carolSeq] } })).body, { deleted: 0 }, 'REST ack by bob: deleted 0')
    const ws = await openSocket(t, gw, bobToken)
    await ws.next((f) => f.type === 'synced')
    const acked = await ws.ask({ type: 'ack', seq: [carolSeq] })
    t.same([acked.type, acked.deleted], ['acked', 0], 'socket ack by bob: deleted 0')
    ws.close()
    const pending = await request(gw, { path: '/v1/deliveries', token: bobToken })
    t.notOk(pending.body.messages.some((m: { seq: string }) => m.seq === carolSeq), 'bob cannot read carol\'s delivery either')
    t.ok(await deliveryExists(pool, carolSeq), 'carol\'s delivery is still stored')
  })

  t.test('afterwards the gateway still runs and carol receives the message sent before the barrage', async (t) => {
    t.equal(gw.process.exitCode, null, 'the gateway process has not exited')
    t.ok(await alive(gw), 'GET /readyz answers 200 ready')
    const { rows: [stored] } = await pool.query(`SELECT count(*) AS n FROM envelopes WHERE client_message_id LIKE 'bad-input-%'`)
    t.equal(Number(stored.n), 2, 'of all the bad envelopes nothing was stored: only the two controls (REST and socket)')
    const carolInbox = receiver(carol.client)
    await carolInbox.connect()
    await carolInbox.count(1)
    t.same(carolInbox.inbox.map((m) => [m.id, m.content.text]), [[before.id, 'sent before the barrage']], 'delivered once, intact')
    t.same(carolInbox.rejections, [], 'nothing rejected')
    t.ok(await eventually(async () => !(await deliveryExists(pool, carolSeq))), 'and acknowledged by carol herself')
  })
})
