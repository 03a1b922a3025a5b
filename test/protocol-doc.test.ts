// Keeps docs/protocol.md honest: every error code, route, frame type and close code the code
// defines is documented; the documented routes exist; the worked authentication example
// recomputes with node:crypto and authenticates against a real gateway built from server/src/app.ts.
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto'
import { buildApp } from '#server/app.ts'
import { HSTS } from '#server/tls.ts'
import { EnvelopeSchema, MAX_DEVICES_PER_ENVELOPE } from '#server/schemas.ts'
import { ConfigSchema } from '#core/config.ts'
import { createDb } from '#core/db/client.ts'
import { createUserService } from '#core/identity/users.ts'
import { AUTH_CONTEXT, authMessage, verifyEd25519 } from '#core/identity/sessions.ts'
import { authMessage as sdkAuthMessage } from '#sdk/client/messenger-client.ts'
import { freshDatabase, testConfig } from './support/services.ts'
import { addUsers } from './support/people.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DOC_PATH = process.env.MVM_PROTOCOL_DOC ?? join(ROOT, 'docs/protocol.md')
const doc = readFileSync(DOC_PATH, 'utf8')

const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8')
function tsFiles(rel: string): string[] {
  return readdirSync(join(ROOT, rel), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(rel, f))
}
const all = (re: RegExp, text: string) => [...text.matchAll(re)].map((m) => m[1]!)

/** The text of the section whose heading starts with `## N.`, up to the next `## `. */
function section(n: number): string {
  const start = doc.search(new RegExp(`^## ${n}\\. `, 'm'))
  if (start < 0) throw new Error(`docs/protocol.md has no section ${n}`)
  const rest = doc.slice(start + 3)
  const end = rest.search(/^## /m)
  return end < 0 ? rest : rest.slice(0, end)
}

// The admin API (/admin/v1, and the codes core/errors.ts lists under "Administration") is
// specified in docs/admin-api.md, not here.
const ERRORS_SOURCE = read('core/errors.ts')
const ADMIN_MARKER = ERRORS_SOURCE.indexOf('// Administration')
const ADMIN_CODES = new Set(ADMIN_MARKER < 0 ? [] : all(/'(MVM_[A-Z0-9_]+)'/g, ERRORS_SOURCE.slice(ADMIN_MARKER)))
const isAdmin = (s: string) => ADMIN_CODES.has(s) || s.startsWith('/admin')
const ERROR_SOURCES = ['core/errors.ts', ...tsFiles('server/src').filter((f) => !f.includes('/admin')), ...tsFiles('sdk/src/client')]
const CONFIG_NAMES = new Set(Object.keys(ConfigSchema.properties))

t.test('every MVM_* error code defined in the code is a row of the error table, and only those', async (t) => {
  const defined = new Set<string>()
  for (const file of ERROR_SOURCES) {
    for (const code of all(/['"`](MVM_[A-Z][A-Z0-9_]*)['"`]/g, read(file))) if (!CONFIG_NAMES.has(code) && !isAdmin(code)) defined.add(code)
  }
  for (const required of ['MVM_INTERNAL', 'MVM_NOT_FOUND', 'MVM_FRAME_INVALID', 'MVM_ENVELOPE_DEVICE_MISMATCH']) {
    t.ok(defined.has(required), `the scan finds ${required} in the sources`)
  }
  const table = section(7)
  const rows = new Map<string, string>()
  for (const m of table.matchAll(/^\| `(MVM_[A-Z0-9_]+)` \| ([^|]*) \|/gm)) rows.set(m[1]!, m[2]!.trim())
  for (const code of [...defined].sort()) t.ok(rows.has(code), `${code} is in the error table of §7`)
  for (const code of rows.keys()) t.ok(defined.has(code), `${code} in the table is defined in the code`)

  // The HTTP status column agrees with createError(code, message, status).
  for (const m of read('core/errors.ts').matchAll(/createError\('(MVM_[A-Z0-9_]+)',\s*'[^']*',\s*(\d{3})\)/g)) {
    if (isAdmin(m[1]!)) continue
    t.match(rows.get(m[1]!) ?? '', new RegExp(`^${m[2]}\\b`), `${m[1]} is documented with HTTP ${m[2]}`)
  }
})

t.test('routes, limits and constants against a gateway built by buildApp', async (t) => {
  const databaseUrl = await freshDatabase(t)
  const config = testConfig(databaseUrl)
  const app = await buildApp({ config })
  t.teardown(() => app.close())
  await app.ready()

  t.test('every registered route is documented, every documented route is registered', async (t) => {
    const registered: { method: string; path: string }[] = []
    const stack: string[] = []
    for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
      const m = /^(.*?)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line)
      if (!m) continue
      const depth = m[1]!.length / 4
      stack.length = depth
      const path = (stack[depth - 1] ?? '') + m[2]!
      stack[depth] = path
      for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) registered.push({ method, path })
    }
    t.ok(registered.some((r) => r.method === 'POST' && r.path === '/v1/deliveries/ack'), 'nested routes are parsed')
    t.ok(registered.length >= 11, 'the route list was parsed')
    for (const { method, path } of registered) {
      if (method === 'HEAD' || isAdmin(path)) continue // HEAD: answered for every GET route, as §1.6 says
      t.ok(doc.includes(`\`${method} ${path}\``), `\`${method} ${path}\` is documented`)
    }
    t.ok(doc.includes('`HEAD` is answered for every `GET` route'), 'HEAD routes are accounted for')
    const documented = all(/`((?:GET|POST|PUT|PATCH|DELETE) \/[^`\s]*)`/g, doc)
    t.ok(documented.length > 0)
    for (const route of new Set(documented)) {
      const [method, url] = route.split(' ') as [string, string]
      t.ok(app.hasRoute({ method: method as 'GET', url }), `documented \`${route}\` is a registered route`)
    }
  })

  t.test('frame types and close codes', async (t) => {
    const wsSources = [...tsFiles('server/src/ws'), 'server/src/schemas.ts'].map(read).join('\n')
    const types = new Set([...all(/type: '([a-z]+)'/g, wsSources), ...all(/type: Type\.Literal\('([a-z]+)'\)/g, wsSources)])
    for (const required of ['send', 'ack', 'ping', 'message', 'synced', 'sent', 'acked', 'pong', 'error']) {
      t.ok(types.has(required), `the scan finds frame type ${required}`)
    }
    for (const type of types) t.ok(doc.includes(`{"type":"${type}"`), `frame type ${type} has an example`)

    const closeSection = section(6)
    const codes = new Set(tsFiles('server/src').flatMap((f) => all(/\.close\((\d{4})\b/g, read(f))))
    for (const required of ['4001', '1011', '1012']) t.ok(codes.has(required), `the scan finds close code ${required}`)
    for (const code of [...codes, '1000', '1009']) t.ok(new RegExp(`^\\| ${code} \\|`, 'm').test(closeSection), `close code ${code} is in the table of §6.5`)
  })

  t.test('constants and limits', async (t) => {
    t.ok(doc.includes(HSTS), 'the HSTS header value')
    t.ok(doc.includes(`"${AUTH_CONTEXT}"`), 'the authentication context string')

    // Only an enrolled, active device gets a challenge (§3.1): enroll one the way an administrator
    // and a device would, with a user from the user service and fresh keys.
    const db = createDb(databaseUrl, { poolSize: 1 })
    const { token } = await createUserService({ prisma: db.prisma, enrollmentTtlHours: 1 }).add({ username: 'dana' })
      .finally(() => db.close())
    const raw = (key: KeyObject) => key.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64')
    const x25519 = generateKeyPairSync('x25519')
    const ed25519 = generateKeyPairSync('ed25519')
    const enrollment = { token, x25519PublicKey: raw(x25519.publicKey), ed25519PublicKey: raw(ed25519.publicKey), platform: 'other' }

    // §2.1: a low-order X25519 key is refused before the token is looked at, so it stays usable.
    const lowOrder = await app.inject({ method: 'POST', url: '/v1/enroll', payload: { ...enrollment, x25519PublicKey: Buffer.alloc(32).toString('base64') } })
    t.equal(lowOrder.statusCode, 400, 'a low-order X25519 key is refused')
    t.equal(lowOrder.json().code, 'MVM_REQUEST_INVALID')
    t.ok(doc.includes(`\`${lowOrder.json().message}\``), `the refusal's message "${lowOrder.json().message}" is documented`)

    const enrolled = await app.inject({ method: 'POST', url: '/v1/enroll', payload: enrollment })
    t.equal(enrolled.statusCode, 201, 'a device enrolls with fresh keys (the token survived the refusal)')
    const deviceId = enrolled.json().deviceId as string

    const res = await app.inject({ method: 'POST', url: '/v1/auth/challenge', payload: { deviceId } })
    t.equal(res.statusCode, 200, 'an enrolled, active device gets a challenge')
    t.ok(doc.includes(`"expiresIn": ${res.json().expiresIn}`), `challenge lifetime ${res.json().expiresIn} s`)
    t.equal(res.headers['strict-transport-security'], HSTS, 'the gateway sends the documented HSTS header')
    const unknown = await app.inject({ method: 'POST', url: '/v1/auth/challenge', payload: { deviceId: randomUUID() } })
    t.equal(unknown.statusCode, 401, 'a device id that is not enrolled gets no challenge')
    t.equal(unknown.json().code, 'MVM_AUTH_FAILED')
    t.match(section(3), /\| 401 \| `MVM_AUTH_FAILED` \| the device id is not an enrolled, `active` device \|/, '§3.1 documents the 401')

    const challenge = res.json().challenge as string
    const signature = sign(null, authMessage(deviceId, Buffer.from(challenge, 'base64')), ed25519.privateKey).toString('base64')
    const session = await app.inject({ method: 'POST', url: '/v1/auth/session', payload: { deviceId, challenge, signature } })
    t.equal(session.statusCode, 200, 'the device authenticates')
    const authorization = `Bearer ${session.json().token}`

    // §6.1: a plain request to the socket endpoint, with a valid token.
    const plain = await app.inject({ method: 'GET', url: '/v1/ws', headers: { authorization } })
    t.equal(plain.statusCode, 426, 'a plain GET /v1/ws gets 426')
    t.equal(plain.headers.upgrade, 'websocket')
    const { reqId: _reqId, ...plainBody } = plain.json()
    const documented = /^```json\n(\{"statusCode":426,.*\})\n```$/m.exec(section(6))
    t.ok(documented, '§6.1 shows the 426 body')
    const { reqId: _docReqId, ...documentedBody } = JSON.parse(documented?.[1] ?? '{}')
    t.same(plainBody, documentedBody, 'the 426 body is as documented')

    // §1.3: a seq has 1–18 digits.
    const after = (value: string) => app.inject({ method: 'GET', url: `/v1/deliveries?after=${value}`, headers: { authorization } })
    t.equal((await after('9'.repeat(18))).statusCode, 200, 'an 18-digit seq is accepted')
    t.equal((await after('1' + '0'.repeat(18))).statusCode, 400, 'a 19-digit seq is refused')
    t.ok(doc.includes('decimal string of 1–18 digits'), 'seq length')

    const max = config.MVM_MAX_ENVELOPE_BYTES
    t.ok(doc.includes(`default ${max},`), `default MAX ${max}`)
    t.ok(doc.includes(`| ${Math.ceil(max / 3) * 4 + 64 * 1024} |`), 'default request limit')
    t.ok(doc.includes(`${Math.ceil(max / 3) * 4} characters`), 'default body.ct limit')
    const keys = EnvelopeSchema(max).properties.keys as { minItems?: number; maxItems?: number }
    t.same([keys.minItems ?? 0, keys.maxItems], [0, MAX_DEVICES_PER_ENVELOPE], 'the envelope schema takes 0–64 keys')
    t.ok(doc.includes(`| devices per envelope (\`keys\`) | 0–${MAX_DEVICES_PER_ENVELOPE} `), 'devices per envelope (§1.5)')
    t.ok(doc.includes(`| \`keys\` | array, 0–${MAX_DEVICES_PER_ENVELOPE} |`), 'devices per envelope (§5.1)')
    t.ok(doc.includes(`default ${config.MVM_SESSION_TTL_SECONDS} s`), 'session lifetime')
  })

  t.test('the worked authentication example of §3.4', async (t) => {
    const example = section(3)
    const value = (label: string) => {
      const m = new RegExp(`^${label.replace(/[()]/g, '\\$&')} +(\\S+)$`, 'm').exec(example)
      if (!m) throw new Error(`§3.4 has no "${label}" line`)
      return m[1]!
    }
    const seed = Buffer.from(value('ed25519 seed (hex)'), 'hex')
    const deviceId = value('device id')
    const challenge = Buffer.from(value('challenge (hex)'), 'hex')
    t.equal(seed.length, 32)
    t.equal(challenge.length, 32)
    t.equal(Buffer.from(value('challenge (base64)'), 'base64').toString('hex'), challenge.toString('hex'), 'challenge hex and base64 agree')

    const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' })
    const publicKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32)
    t.equal(value('ed25519 public key (hex)'), publicKey.toString('hex'), 'public key (hex) derives from the seed')
    t.equal(value('ed25519 public key (base64)'), publicKey.toString('base64'), 'public key (base64) derives from the seed')

    // The rule as the document states it, built here independently of the code.
    const signed = Buffer.concat([Buffer.from('mobivisor-messenger/v1 auth', 'utf8'), Buffer.of(0), Buffer.from(deviceId, 'utf8'), Buffer.of(0), challenge])
    t.equal(signed.length, 97)
    t.equal(value('signed bytes (hex)'), signed.toString('hex'), 'signed bytes follow the documented rule')
    t.equal(authMessage(deviceId, challenge).toString('hex'), signed.toString('hex'), 'the gateway checks the same bytes')
    t.equal(Buffer.from(sdkAuthMessage(deviceId, challenge)).toString('hex'), signed.toString('hex'), 'the SDK signs the same bytes')

    const signature = sign(null, signed, privateKey)
    t.equal(value('signature (hex)'), signature.toString('hex'), 'signature (hex) recomputes')
    t.equal(value('signature (base64)'), signature.toString('base64'), 'signature (base64) recomputes')
    t.ok(verifyEd25519(publicKey, signed, signature), 'the gateway verifies it')
    t.notOk(verifyEd25519(publicKey, authMessage(deviceId, Buffer.alloc(32)), signature), 'and refuses it for another challenge')

    const request = /The request is then\s+```json\n(.*)\n```/.exec(example)
    t.ok(request, 'the example request is present')
    t.same(JSON.parse(request?.[1] ?? '{}'), { deviceId, challenge: challenge.toString('base64'), signature: signature.toString('base64') }, 'the example request carries these values')
    const refused = await app.inject({ method: 'POST', url: '/v1/auth/session', payload: JSON.parse(request?.[1] ?? '{}') })
    t.equal(refused.json().code, 'MVM_AUTH_FAILED', 'the example request is well-formed (its challenge was never issued, so 401)')

    // The same key, enrolled for real, authenticates by the documented rule.
    const { carol } = await addUsers(databaseUrl, ['carol'])
    const enrolled = await app.inject({
      method: 'POST', url: '/v1/enroll',
      payload: { token: carol, x25519PublicKey: Buffer.alloc(32, 9).toString('base64'), ed25519PublicKey: value('ed25519 public key (base64)'), platform: 'other' },
    })
    t.equal(enrolled.statusCode, 201, 'enrolled with the example key')
    const realDevice = enrolled.json().deviceId as string
    const issued = (await app.inject({ method: 'POST', url: '/v1/auth/challenge', payload: { deviceId: realDevice } })).json().challenge as string
    const bytes = Buffer.concat([Buffer.from('mobivisor-messenger/v1 auth'), Buffer.of(0), Buffer.from(realDevice), Buffer.of(0), Buffer.from(issued, 'base64')])
    const session = await app.inject({
      method: 'POST', url: '/v1/auth/session',
      payload: { deviceId: realDevice, challenge: issued, signature: sign(null, bytes, privateKey).toString('base64') },
    })
    t.equal(session.statusCode, 200, 'the gateway accepts a signature made by the documented rule')
    t.match(session.json().token, /^[A-Za-z0-9_-]{43}$/, 'the token is 32 bytes of base64url without padding')
    const devices = await app.inject({ method: 'GET', url: '/v1/users/carol/devices', headers: { authorization: `Bearer ${session.json().token}` } })
    t.equal(devices.statusCode, 200, 'and the token works as a Bearer token')
  })
})
