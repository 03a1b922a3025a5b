// The load generator of `npm run bench`: one TLS WebSocket per simulated device, envelopes sealed
// with the SDK's crypto before a step, then sent on an open-loop schedule (never waiting for
// `sent`), deliveries timed against the send timestamp kept per message id and acknowledged
// in batches as the SDK does. The same code drives the gateways and the ceiling relays.
import { WebSocket } from 'ws'
import {
  associatedData, boxFromWire, boxToWire, contentKeys, newMessageId, openMessage, pairwiseKeys, seal,
  type BoxKeys, type CryptoProvider,
} from '#sdk/index.ts'

export interface BenchDevice {
  deviceId: string
  userId: string
  x25519: { publicKey: Uint8Array; privateKey: Uint8Array }
  /** Index of the other device of its pair: every message goes to it. */
  peer: number
  /** Which of the two processes (gateway or relay 0/1) this device connects to. */
  side: 0 | 1
}

export interface SealedBatch {
  n: number
  frames: string[]
  ids: string[]
  sender: Uint32Array
  recipient: Uint32Array
  plaintextBytes: number
  frameBytes: number
  sealMs: number
}

const ACK_BATCH = 200
const ACK_DELAY_MS = 10
const WORDS = ('angebot termin freigabe bitte danke morgen heute rückruf projekt besprechung lieferung rechnung ' +
  'vertrag kunde team standort bericht entwurf version prüfung status ok später gleich zentrale').split(' ')
const utf8 = new TextEncoder()

function text(minBytes: number, maxBytes: number): string {
  const target = minBytes + Math.floor(Math.random() * (maxBytes - minBytes + 1))
  let out = ''
  while (utf8.encode(out).length < target) out += (out ? ' ' : '') + WORDS[Math.floor(Math.random() * WORDS.length)]
  return out
}

/**
 * Seals `n` 1:1 text messages, senders taken round-robin from `first` on, exactly as
 * MessengerClient.send would (sealMessage's construction), except that each sender's pairwise
 * keys are derived once: they depend only on the two device keys, so the bytes are the same.
 */
export function sealBatch(p: CryptoProvider, devices: BenchDevice[], n: number, first = 0): SealedBatch {
  const started = performance.now()
  const pairKeys = new Map<number, BoxKeys>()
  const frames: string[] = new Array(n)
  const ids: string[] = new Array(n)
  const sender = new Uint32Array(n)
  const recipient = new Uint32Array(n)
  let plaintextBytes = 0
  let frameBytes = 0
  for (let i = 0; i < n; i++) {
    const s = (first + i) % devices.length
    const from = devices[s]!
    const to = devices[from.peer]!
    let pk = pairKeys.get(s)
    if (!pk) pairKeys.set(s, (pk = pairwiseKeys(p, from.x25519.privateKey, to.x25519.publicKey)))
    const id = newMessageId(p)
    // the SDK's plaintext: JSON of { v: 1, type: 'text', text } (MessengerClient.send)
    const plaintext = utf8.encode(JSON.stringify({ v: 1, type: 'text', text: text(70, 170) }))
    const contentKey = p.randomBytes(32)
    const body = seal(p, contentKeys(p, contentKey), associatedData({ purpose: 'body', senderDeviceId: from.deviceId, recipient: to.userId, messageId: id }), plaintext)
    const key = seal(p, pk, associatedData({ purpose: 'key', senderDeviceId: from.deviceId, recipient: to.deviceId, messageId: id }), contentKey)
    const frame = JSON.stringify({
      type: 'send',
      envelope: { id, to: to.userId, class: 'text', body: boxToWire(body), keys: [{ device: to.deviceId, ...boxToWire(key) }] },
    })
    frames[i] = frame
    ids[i] = id
    sender[i] = s
    recipient[i] = from.peer
    plaintextBytes += plaintext.length
    frameBytes += frame.length
  }
  return { n, frames, ids, sender, recipient, plaintextBytes: plaintextBytes / n, frameBytes: frameBytes / n, sealMs: performance.now() - started }
}

export interface StepStats {
  offeredRate: number
  seconds: number
  messages: number
  /** Messages the schedule had sent when the window closed (less than `messages` if the generator fell behind). */
  sentInWindow: number
  sentAcks: number
  errors: number
  errorCodes: Record<string, number>
  delivered: number
  deliveredInWindow: number
  deliveredRate: number
  deliveredShare: number
  p50: number
  p99: number
  max: number
  ackP50: number
  ackP99: number
  /** How far behind its schedule the generator fell at worst (ms). */
  scheduleLagMs: number
  duplicates: number
  misrouted: number
  verified: number
  sustained: boolean
}

interface ActiveStep {
  batch: SealedBatch
  index: Map<string, number>
  sendAt: Float64Array
  recvAt: Float64Array
  ackAt: Float64Array
  windowEnd: number
  sentAcks: number
  errors: number
  errorCodes: Map<string, number>
  delivered: number
  deliveredInWindow: number
  duplicates: number
  misrouted: number
  samples: { idx: number; frame: DeliveryFrame }[]
}

interface DeliveryFrame { type: 'message'; seq: string; id: string; from: { user: string; device: string }; to: string; body: unknown; key: unknown }

export interface Endpoint { url: string; ca: Buffer }

export class LoadGenerator {
  private sockets: WebSocket[] = []
  private ackQueues: string[][] = []
  private ackTimers: (ReturnType<typeof setTimeout> | undefined)[] = []
  private step: ActiveStep | undefined
  private synced: (() => void)[] = []
  private closing = false
  unexpectedCloses = 0

  constructor(private readonly p: CryptoProvider, private readonly devices: BenchDevice[]) {}

  /** Opens one socket per device on its side's endpoint and waits for each to be `synced`. */
  async connect(endpoints: [Endpoint, Endpoint], token: (d: BenchDevice) => string): Promise<void> {
    this.closing = false
    await Promise.all(this.devices.map((d, i) => new Promise<void>((resolve, reject) => {
      const ep = endpoints[d.side]
      const ws = new WebSocket(`${ep.url.replace(/^https/, 'wss')}/v1/ws`, {
        headers: { authorization: `Bearer ${token(d)}` }, ca: ep.ca, perMessageDeflate: false, maxPayload: 32 * 1024 * 1024,
      })
      this.sockets[i] = ws
      this.ackQueues[i] = []
      this.synced[i] = resolve
      ws.on('message', (data, isBinary) => { if (!isBinary) this.onFrame(i, data.toString()) })
      ws.on('unexpected-response', (_req, res) => reject(new Error(`socket of device ${i} refused: HTTP ${res.statusCode}`)))
      ws.on('error', (err) => reject(err))
      ws.on('close', (code) => {
        if (!this.closing) {
          this.unexpectedCloses++
          reject(new Error(`socket of device ${i} closed (${code})`))
        }
      })
    })))
  }

  private onFrame(i: number, text: string) {
    const f = JSON.parse(text) as { type: string; [k: string]: unknown }
    const st = this.step
    switch (f.type) {
      case 'message': {
        const frame = f as unknown as DeliveryFrame
        this.queueAck(i, frame.seq)
        const idx = st?.index.get(frame.id)
        if (st === undefined || idx === undefined) return
        if (st.recvAt[idx] !== 0) { st.duplicates++; return }
        const now = performance.now()
        st.recvAt[idx] = now
        st.delivered++
        if (now <= st.windowEnd) st.deliveredInWindow++
        if (st.batch.recipient[idx] !== i) st.misrouted++
        if (st.samples.length < 3 && idx % 97 === 0) st.samples.push({ idx, frame })
        return
      }
      case 'sent': {
        const idx = st?.index.get(f.id as string)
        if (st && idx !== undefined && st.ackAt[idx] === 0) { st.ackAt[idx] = performance.now(); st.sentAcks++ }
        return
      }
      case 'error': {
        const idx = st?.index.get(f.ref as string)
        if (st && idx !== undefined) {
          st.errors++
          const code = String(f.code)
          st.errorCodes.set(code, (st.errorCodes.get(code) ?? 0) + 1)
        }
        return
      }
      case 'synced': {
        const resolve = this.synced[i]
        this.synced[i] = () => {}
        resolve?.()
      }
    }
  }

  private queueAck(i: number, seq: string) {
    const q = this.ackQueues[i]!
    q.push(seq)
    if (q.length >= ACK_BATCH) return this.flushAcks(i)
    this.ackTimers[i] ??= setTimeout(() => this.flushAcks(i), ACK_DELAY_MS)
  }

  private flushAcks(i: number) {
    clearTimeout(this.ackTimers[i])
    this.ackTimers[i] = undefined
    const seq = this.ackQueues[i]!.splice(0)
    const ws = this.sockets[i]
    if (seq.length > 0 && ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ack', seq }))
  }

  /** Sends `batch` at `rate` msgs/s, then waits up to `drainMs` for the stragglers. */
  async run(batch: SealedBatch, rate: number, opts: { drainMs: number; maxP99Ms: number; minShare: number }): Promise<StepStats> {
    const n = batch.n
    const interval = 1000 / rate
    const st: ActiveStep = {
      batch,
      index: new Map(batch.ids.map((id, i) => [id, i])),
      sendAt: new Float64Array(n),
      recvAt: new Float64Array(n),
      ackAt: new Float64Array(n),
      windowEnd: Infinity,
      sentAcks: 0, errors: 0, errorCodes: new Map(), delivered: 0, deliveredInWindow: 0, duplicates: 0, misrouted: 0,
      samples: [],
    }
    this.step = st
    const t0 = performance.now() + 5
    st.windowEnd = t0 + n * interval
    let next = 0
    let lag = 0
    await new Promise<void>((resolve) => {
      const tick = () => {
        if (this.closing) return resolve()
        const now = performance.now()
        const due = Math.min(n, Math.floor((now - t0) / interval) + 1)
        if (due > next) lag = Math.max(lag, now - (t0 + next * interval))
        while (next < due) {
          st.sendAt[next] = performance.now()
          this.sockets[batch.sender[next]!]!.send(batch.frames[next]!)
          next++
        }
        if (next < n) setTimeout(tick, 1)
        else resolve()
      }
      setTimeout(tick, Math.max(0, t0 - performance.now()))
    })
    if (this.closing) throw new Error('the load generator was closed during a step')
    const sentInWindow = st.sendAt.reduce((c, t) => c + (t > 0 && t <= st.windowEnd ? 1 : 0), 0)
    while (performance.now() < st.windowEnd) await new Promise((r) => setTimeout(r, 5))
    const drainUntil = st.windowEnd + opts.drainMs
    while ((st.delivered < n || st.sentAcks + st.errors < n) && performance.now() < drainUntil) {
      await new Promise((r) => setTimeout(r, 20))
    }

    const latencies = new Float64Array(n)
    const acks = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      latencies[i] = st.recvAt[i]! > 0 ? st.recvAt[i]! - st.sendAt[i]! : Infinity
      acks[i] = st.ackAt[i]! > 0 ? st.ackAt[i]! - st.sendAt[i]! : Infinity
    }
    latencies.sort()
    acks.sort()
    const q = (a: Float64Array, p: number) => a[Math.max(0, Math.ceil(p * a.length) - 1)]!
    const seconds = (n * interval) / 1000
    const deliveredRate = st.deliveredInWindow / seconds
    const deliveredShare = st.deliveredInWindow / n
    const p99 = q(latencies, 0.99)
    return {
      offeredRate: rate,
      seconds,
      messages: n,
      sentInWindow,
      sentAcks: st.sentAcks,
      errors: st.errors,
      errorCodes: Object.fromEntries(st.errorCodes),
      delivered: st.delivered,
      deliveredInWindow: st.deliveredInWindow,
      deliveredRate,
      deliveredShare,
      p50: q(latencies, 0.5),
      p99,
      max: q(latencies, 1),
      ackP50: q(acks, 0.5),
      ackP99: q(acks, 0.99),
      scheduleLagMs: lag,
      duplicates: st.duplicates,
      misrouted: st.misrouted,
      verified: this.verify(st),
      sustained: deliveredShare >= opts.minShare && p99 < opts.maxP99Ms,
    }
  }

  /** Opens a few delivered frames with the recipient's key: the benchmark carries real messages. */
  private verify(st: ActiveStep): number {
    let ok = 0
    for (const { idx, frame } of st.samples) {
      const from = this.devices[st.batch.sender[idx]!]!
      const to = this.devices[st.batch.recipient[idx]!]!
      const plaintext = openMessage(this.p, {
        myDeviceId: to.deviceId, myPrivateKey: to.x25519.privateKey, senderDeviceId: frame.from.device,
        senderX25519PublicKey: from.x25519.publicKey, messageId: frame.id, recipientUserId: frame.to,
        body: boxFromWire(frame.body), key: boxFromWire(frame.key),
      })
      const content = JSON.parse(new TextDecoder().decode(plaintext)) as { type?: string }
      if (content.type === 'text' && frame.from.device === from.deviceId) ok++
    }
    return ok
  }

  /** Waits until the last step's messages are all answered and delivered (a backlog has drained). */
  async settle(timeoutMs: number): Promise<boolean> {
    const st = this.step
    if (!st) return true
    const until = performance.now() + timeoutMs
    while (st.delivered + st.errors < st.batch.n || st.sentAcks + st.errors < st.batch.n) {
      if (performance.now() > until) return false
      await new Promise((r) => setTimeout(r, 50))
    }
    await new Promise((r) => setTimeout(r, 2 * ACK_DELAY_MS + 50))
    return true
  }

  async close(): Promise<void> {
    this.closing = true
    this.step = undefined
    this.ackTimers.forEach((t, i) => { clearTimeout(t); this.flushAcks(i) })
    await Promise.all(this.sockets.map((ws) => new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve()
      ws.once('close', () => resolve())
      ws.close(1000, 'bench done')
      setTimeout(() => { ws.terminate(); resolve() }, 2000).unref()
    })))
    this.sockets = []
  }
}

