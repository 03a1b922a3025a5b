// Tools for hostile tests: raw HTTPS requests and WebSocket frames that no SDK would send,
// hand-built envelopes, a direct line to PostgreSQL and Redis (the "malicious server"), and
// a receiver that records which delivery seq each rejection was for.
import https from 'node:https'
import pg from 'pg'
import { Redis } from 'ioredis'
import { WebSocket } from 'ws'
import { randomUUID } from 'node:crypto'
import {
  base64Decode, boxToWire, concatBytes, sealMessage,
  type BoxKeys, type CryptoProvider, type MessengerClient, type ReceivedMessage, type SealedBox, type WireBox,
} from '#sdk/index.ts'
import { TEST_REDIS_URL } from './services.ts'

interface Teardown { teardown(fn: () => unknown): void }
interface Target { url: string; ca: Buffer }

export interface RawResponse {
  status: number
  text: string
  /** The parsed JSON body, or undefined when it was not JSON. */
  body: any
}

export interface RawRequest {
  method?: string
  path: string
  token?: string
  headers?: Record<string, string>
  /** An object is sent as JSON; a string or Buffer is sent as it is, labelled application/json. */
  body?: unknown
}

/** One request on a fresh TLS connection, so that a reset by the server cannot leak into the next. */
export function request(gw: Target, opts: RawRequest): Promise<RawResponse> {
  const { method = opts.body === undefined ? 'GET' : 'POST', path, token } = opts
  const payload = opts.body === undefined ? undefined
    : Buffer.isBuffer(opts.body) ? opts.body
      : typeof opts.body === 'string' ? Buffer.from(opts.body) : Buffer.from(JSON.stringify(opts.body))
  const headers: Record<string, string> = {}
  if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(payload.length) })
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  Object.assign(headers, opts.headers ?? {})
  return new Promise((resolve, reject) => {
    const req = https.request(`${gw.url}${path}`, { method, headers, ca: gw.ca, agent: false, timeout: 15_000 }, (res) => {
      readResponse(res).then(resolve, reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)))
    // The server may answer (401, 413) before it has read a large body and then close: the
    // answer is what counts, a failed write after it is not.
    req.on('error', (err) => reject(err))
    if (payload) req.write(payload, () => {})
    req.end()
  })
}

/** Whether the gateway process is alive (exit code null) and ready (GET /readyz 200). */
export async function alive(gw: Target & { process: { exitCode: number | null; signalCode: string | null } }): Promise<boolean> {
  if (gw.process.exitCode !== null || gw.process.signalCode !== null) return false
  const res = await request(gw, { path: '/readyz' }).catch(() => undefined)
  return res?.status === 200 && res.body?.status === 'ready'
}

// --- WebSocket -------------------------------------------------------------------------------

export interface TestSocket {
  frames: any[]
  send(data: string | Buffer, opts?: { binary?: boolean }): void
  /** The next frame (after those already taken) that matches, within the timeout. */
  next(match?: (frame: any) => boolean, timeoutMs?: number): Promise<any>
  /** Sends a frame and returns the next frame that matches. */
  ask(data: string | Buffer | object, match?: (frame: any) => boolean): Promise<any>
  readonly closed: Promise<{ code: number; reason: string }>
  readonly isOpen: boolean
  close(): void
}

export function openSocket(t: Teardown, gw: Target, token: string): Promise<TestSocket> {
  const ws = new WebSocket(`${gw.url.replace(/^https/, 'wss')}/v1/ws`, { headers: { authorization: `Bearer ${token}` }, ca: gw.ca })
  const frames: any[] = []
  let taken = 0
  const waiters = new Set<() => void>()
  ws.on('message', (data, isBinary) => {
    frames.push(isBinary ? { binary: true } : JSON.parse(data.toString()))
    for (const w of waiters) w()
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => { resolve({ code, reason: reason.toString() }); for (const w of waiters) w() })
  })
  ws.on('error', () => { /* 'close' follows */ })
  t.teardown(() => ws.terminate())
  const socket: TestSocket = {
    frames,
    send: (data, opts = {}) => ws.send(data, { binary: opts.binary ?? Buffer.isBuffer(data) }),
    async next(match = () => true, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        while (taken < frames.length) {
          const frame = frames[taken++]
          if (match(frame)) return frame
        }
        if (ws.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting for a frame')
        if (Date.now() > deadline) throw new Error(`no matching frame within ${timeoutMs} ms; frames: ${JSON.stringify(frames).slice(0, 500)}`)
        await new Promise<void>((r) => { const w = () => { waiters.delete(w); r() }; waiters.add(w); setTimeout(w, 50) })
      }
    },
    ask(data, match = (f) => f.type !== 'message' && f.type !== 'synced') {
      socket.send(typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data))
      return socket.next(match)
    },
    closed,
    get isOpen() { return ws.readyState === WebSocket.OPEN },
    close: () => ws.close(1000),
  }
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(socket))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

/** Tries the WebSocket upgrade with the given Authorization header and returns the refusal. */
export function refusedUpgrade(gw: Target, authorization?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gw.url.replace(/^https/, 'wss')}/v1/ws`, { headers: authorization ? { authorization } : {}, ca: gw.ca })
    ws.on('open', () => { ws.terminate(); reject(new Error('the upgrade was accepted')) })
    ws.on('unexpected-response', (_req, res) => {
      readResponse(res).then((r) => { ws.terminate(); resolve(r) }, reject)
    })
    ws.on('error', () => { /* reported through unexpected-response or open */ })
  })
}

// --- the malicious server's tools ------------------------------------------------------------

export function database(t: Teardown, url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  t.teardown(() => pool.end())
  return pool
}

export function redis(t: Teardown): Redis {
  const r = new Redis(TEST_REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 2 })
  t.teardown(() => r.disconnect())
  return r
}

/** The seq of each pending delivery of an envelope, by recipient device. */
export async function deliveriesOf(db: pg.Pool, senderDeviceId: string, messageId: string): Promise<Map<string, string>> {
  const { rows } = await db.query<{ seq: string; device_id: string }>(
    `SELECT d.id AS seq, d.device_id FROM deliveries d JOIN envelopes e ON e.id = d.envelope_id
     WHERE e.sender_device_id = $1 AND e.client_message_id = $2`, [senderDeviceId, messageId])
  return new Map(rows.map((r) => [r.device_id, String(r.seq)]))
}

export async function deliveryExists(db: pg.Pool, seq: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM deliveries WHERE id = $1', [seq])
  return (rowCount ?? 0) > 0
}

/** Polls until `check` holds or the timeout passes; returns the last result. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 50))
  }
}

// --- hand-built envelopes ----------------------------------------------------------------------

export interface WireEnvelope {
  id: string
  to: string
  class: string
  body: WireBox
  keys: (WireBox & { device: string })[]
}

export interface HandSealOptions {
  provider: CryptoProvider
  sender: MessengerClient
  to: string
  recipients: { deviceId: string; x25519PublicKey: Uint8Array }[]
  text: string
  id: string
  /** Associated data to seal with where it differs from what is sent: the tamper. */
  sealAs?: { messageId?: string; recipientUserId?: string; senderDeviceId?: string; recipientDeviceId?: string }
}

/** Seals a text the way the SDK does (DESIGN §5) but by hand, so that any part can be altered. */
export function handSeal(o: HandSealOptions): WireEnvelope {
  const plaintext = new TextEncoder().encode(JSON.stringify({ v: 1, type: 'text', text: o.text }))
  const sealed = sealMessage(o.provider, {
    senderDeviceId: o.sealAs?.senderDeviceId ?? o.sender.deviceId,
    senderPrivateKey: base64Decode(o.sender.identity.x25519.privateKey),
    messageId: o.sealAs?.messageId ?? o.id,
    recipientUserId: o.sealAs?.recipientUserId ?? o.to,
    plaintext,
    recipients: o.recipients.map((r) => ({ ...r, deviceId: o.sealAs?.recipientDeviceId ?? r.deviceId })),
  })
  return {
    id: o.id, to: o.to, class: 'text', body: boxToWire(sealed.body),
    // Labelled for the real devices even where sealed for another one.
    keys: sealed.keys.map((k, i) => ({ device: o.recipients[i]!.deviceId, ...boxToWire(k.key) })),
  }
}

/** A box with any iv and ciphertext whose MAC is nevertheless right: only shape checks can stop it. */
export function craftBox(p: CryptoProvider, keys: BoxKeys, ad: Uint8Array, ct: Uint8Array, iv = p.randomBytes(16)): SealedBox {
  return { iv, ct, mac: p.hmacSha256(keys.macKey, concatBytes(ad, iv, ct)) }
}

/** The storage form of a box (iv || ct || mac), as the deliveries and envelopes tables hold it. */
export function boxBytes(box: WireBox | SealedBox): Buffer {
  const part = (v: string | Uint8Array) => (typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.from(v))
  return Buffer.concat([part(box.iv), part(box.ct), part(box.mac)])
}

/** What a malicious server can do: store an envelope and deliveries of its own making. Returns the seq per device. */
export async function insertEnvelope(db: pg.Pool, e: {
  senderUserId: string; senderDeviceId: string; messageId: string; recipientUserId: string
  body: Buffer; keys: { device: string; sealedKey: Buffer }[]
}): Promise<Map<string, string>> {
  const id = randomUUID()
  await db.query(`INSERT INTO envelopes (id, sender_user_id, sender_device_id, client_message_id, recipient_user_id, content_class, body)
    VALUES ($1, $2, $3, $4, $5, 'text', $6)`, [id, e.senderUserId, e.senderDeviceId, e.messageId, e.recipientUserId, e.body])
  const seqs = new Map<string, string>()
  for (const k of e.keys) seqs.set(k.device, await insertDelivery(db, id, k.device, k.sealedKey))
  return seqs
}

/** A delivery row for an existing envelope (a copy of an old one: a replay or a reflection). Returns its seq. */
export async function insertDelivery(db: pg.Pool, envelopeId: string, deviceId: string, sealedKey: Buffer): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    'INSERT INTO deliveries (envelope_id, device_id, sealed_key) VALUES ($1, $2, $3) RETURNING id', [envelopeId, deviceId, sealedKey])
  return String(rows[0]!.id)
}

/** The same base64 with one bit flipped in the decoded bytes. */
export function flipBit(b64: string, byteIndex: number, bit = 0): string {
  const bytes = Buffer.from(b64, 'base64')
  const i = byteIndex < 0 ? bytes.length + byteIndex : byteIndex
  bytes[i] = bytes[i]! ^ (1 << bit)
  return bytes.toString('base64')
}

// --- a receiving SDK device that records the seq of each rejection -----------------------------

export interface Receiver {
  client: MessengerClient
  inbox: ReceivedMessage[]
  rejections: { seq: string; code: string }[]
  state: 'new' | 'open' | 'closed' | 'reconnecting'
  /** Resolves once inbox + rejections hold `n` deliveries in all. */
  count(n: number, timeoutMs?: number): Promise<void>
  connect(): Promise<void>
  /** Closes the socket and waits until it is closed, so that a later connect() opens exactly one. */
  disconnect(): Promise<void>
}

export function receiver(client: MessengerClient): Receiver {
  const r: Receiver = {
    client,
    inbox: [],
    rejections: [],
    state: 'new',
    async count(n, timeoutMs = 10_000) {
      const ok = await eventually(() => r.inbox.length + r.rejections.length >= n, timeoutMs)
      if (!ok) throw new Error(`expected ${n} deliveries, have ${r.inbox.length} messages and ${r.rejections.length} rejections`)
    },
    /** Opens the socket and resolves once the gateway has handed over everything stored. */
    async connect() {
      let synced!: () => void
      const done = new Promise<void>((resolve) => { synced = resolve })
      await client.connect({
        message: (m) => { r.inbox.push(m) },
        rejected: (info) => { r.rejections.push(info) },
        synced: () => synced(),
        connection: (state) => { r.state = state },
      })
      await done
    },
    async disconnect() {
      await client.close()
      if (!(await eventually(() => r.state !== 'open'))) throw new Error('the socket did not close')
    },
  }
  return r
}

function readResponse(res: import('node:http').IncomingMessage): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    res.on('data', (c: Buffer) => chunks.push(c))
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let body: unknown
      try { body = JSON.parse(text) } catch { body = undefined }
      resolve({ status: res.statusCode ?? 0, text, body })
    })
    res.on('error', reject)
  })
}
