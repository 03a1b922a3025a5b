// The protocol client of docs/protocol.md: enroll, authenticate, look up devices, send with
// per-device keys (re-sealing on 409), and receive over a WebSocket that reconnects with
// backoff. Every delivery is acknowledged only after the app's handler has taken it, so a crash
// loses nothing: the gateway re-sends whatever was not acknowledged.
import {
  base64Decode, base64Encode, boxFromWire, boxToWire, CryptoError, openMessage, sealMessage, type CryptoProvider,
} from '../crypto/index.ts'
import { generateDeviceKeys, keysOf, toIdentity, type DeviceIdentity, type DeviceKeys } from './identity.ts'
import { memoryState, type ClientState } from './state.ts'
import { ApiError, type SocketConnection, type Transport } from './transport.ts'

export type ContentClass = 'text' | 'image' | 'video' | 'audio' | 'file'
export interface Content { type: 'text'; text: string }

export interface ReceivedMessage {
  seq: string
  id: string
  senderUserId: string
  senderDeviceId: string
  /** The other party of the conversation: the sender, or for a copy of one's own message, the recipient. */
  peerUserId: string
  outgoing: boolean
  class: ContentClass
  content: Content
  sentAt: string
}

export interface SendResult { id: string; sentAt: string; duplicate: boolean }

export interface ClientHandlers {
  /** Awaited before the delivery is acknowledged: store the message here. */
  message?(message: ReceivedMessage): void | Promise<void>
  /** A delivery that failed authentication, was replayed or reflected: one generic error, no details. */
  rejected?(info: { seq: string; code: 'MVM_CRYPTO_REJECTED' }): void
  synced?(): void
  connection?(state: 'open' | 'closed' | 'reconnecting'): void
  /**
   * The gateway refused this device for good (revoked, user locked or offboarded, not whitelisted):
   * the client stops reconnecting. `closeReason` is what the server said when it closed the socket
   * for that cause (4003: "account locked", "account offboarded", "not whitelisted"), if it did.
   */
  failed?(error: ApiError, context: { closeReason?: string }): void
}

interface DirectoryDevice { id: string; x25519PublicKey: string }
interface DirectoryEntry { userId: string; username: string; displayName: string; devices: DirectoryDevice[] }
interface DeliveryFrame {
  type: 'message'; seq: string; id: string; from: { user: string; device: string }; to: string
  class: ContentClass; sentAt: string; body: unknown; key: unknown
}

const AUTH_CONTEXT = 'mobivisor-messenger/v1 auth'
const DIRECTORY_TTL_MS = 60_000
const SEND_ATTEMPTS = 4
const SOCKET_SEND_TIMEOUT_MS = 15_000
const MAX_BACKOFF_MS = 30_000
const KEEPALIVE_MS = 30_000
const PONG_TIMEOUT_MS = 10_000
const utf8 = new TextEncoder()
const utf8Decode = new TextDecoder('utf-8', { fatal: true })

export function authMessage(deviceId: string, challenge: Uint8Array): Uint8Array {
  const parts = [utf8.encode(AUTH_CONTEXT), Uint8Array.of(0), utf8.encode(deviceId), Uint8Array.of(0), challenge]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

export function newMessageId(p: CryptoProvider): string {
  return base64Encode(p.randomBytes(16)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export interface EnrollOptions { transport: Transport; provider: CryptoProvider; server: string; token: string; platform?: string; name?: string }

export async function enrollDevice(opts: EnrollOptions): Promise<DeviceIdentity> {
  const keys = generateDeviceKeys(opts.provider)
  const res = await opts.transport.request<{ deviceId: string; userId: string; username: string }>('POST', '/v1/enroll', {
    body: {
      token: opts.token,
      x25519PublicKey: base64Encode(keys.x25519.publicKey),
      ed25519PublicKey: base64Encode(keys.ed25519.publicKey),
      platform: opts.platform ?? 'other',
      ...(opts.name ? { name: opts.name } : {}),
    },
  })
  return toIdentity({ server: opts.server, ...res }, keys)
}

export class MessengerClient {
  readonly identity: DeviceIdentity
  private readonly keys: DeviceKeys
  private readonly transport: Transport
  private readonly p: CryptoProvider
  private readonly state: ClientState
  private handlers: ClientHandlers = {}
  private token: { value: string; expiresAt: number } | undefined
  private directory = new Map<string, { entry: DirectoryEntry; at: number }>()
  private usernames = new Map<string, string>()
  /** Devices seen in the directory: their key and the user they belong to. */
  private devices = new Map<string, { key: Uint8Array; userId: string }>()
  private keepalive: ReturnType<typeof setInterval> | undefined
  private lastFrameAt = 0
  private socket: SocketConnection | undefined
  private wantSocket = false
  private attempt = 0
  /** The reason of the last 4003 close, for `failed` once re-authentication is refused. */
  private revokedReason: string | undefined
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private pendingSends = new Map<string, { resolve(r: SendResult): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }>()
  private inbox: Promise<void> = Promise.resolve()
  private ackQueue: string[] = []
  private ackTimer: ReturnType<typeof setTimeout> | undefined

  constructor(opts: { identity: DeviceIdentity; transport: Transport; provider: CryptoProvider; state?: ClientState }) {
    this.identity = opts.identity
    this.keys = keysOf(opts.identity)
    this.transport = opts.transport
    this.p = opts.provider
    this.state = opts.state ?? memoryState()
  }

  get deviceId(): string { return this.identity.deviceId }
  get userId(): string { return this.identity.userId }

  // --- authentication -----------------------------------------------------------------------
  async sessionToken(): Promise<string> {
    if (this.token && this.token.expiresAt - Date.now() > 30_000) return this.token.value
    try {
      return await this.authenticate()
    } catch (err) {
      // A challenge can expire between the two requests: one more round before giving up.
      if (err instanceof ApiError && err.status === 401) return this.authenticate()
      throw err
    }
  }

  private async authenticate(): Promise<string> {
    const { challenge } = await this.transport.request<{ challenge: string }>('POST', '/v1/auth/challenge', { body: { deviceId: this.deviceId } })
    const signature = this.p.ed25519Sign(this.keys.ed25519.privateKey, authMessage(this.deviceId, base64Decode(challenge)))
    const session = await this.transport.request<{ token: string; expiresAt: string }>('POST', '/v1/auth/session', {
      body: { deviceId: this.deviceId, challenge, signature: base64Encode(signature) },
    })
    this.token = { value: session.token, expiresAt: Date.parse(session.expiresAt) }
    return session.token
  }

  private async api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    try {
      return await this.transport.request<T>(method, path, { body, token: await this.sessionToken() })
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err
      this.token = undefined
      return this.transport.request<T>(method, path, { body, token: await this.sessionToken() })
    }
  }

  // --- directory ----------------------------------------------------------------------------
  async lookup(username: string): Promise<DirectoryEntry> {
    const entry = await this.api<DirectoryEntry>('GET', `/v1/users/${encodeURIComponent(username)}/devices`)
    this.remember(entry)
    return entry
  }

  /** Username and display name of a user id (cached like the device lists). */
  async profile(userId: string): Promise<{ userId: string; username: string; displayName: string }> {
    const { username, displayName } = await this.entry(userId)
    return { userId, username, displayName }
  }

  private async entry(userId: string, fresh = false): Promise<DirectoryEntry> {
    const cached = this.directory.get(userId)
    if (!fresh && cached && Date.now() - cached.at < DIRECTORY_TTL_MS) return cached.entry
    const entry = await this.api<DirectoryEntry>('GET', `/v1/users/by-id/${userId}/devices`)
    this.remember(entry)
    return entry
  }

  private remember(entry: DirectoryEntry) {
    this.directory.set(entry.userId, { entry, at: Date.now() })
    this.usernames.set(entry.username.toLowerCase(), entry.userId)
    for (const d of entry.devices) this.devices.set(d.id, { key: base64Decode(d.x25519PublicKey), userId: entry.userId })
  }

  private async resolveUser(to: string): Promise<string> {
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(to)) return to
    return this.usernames.get(to.toLowerCase()) ?? (await this.lookup(to)).userId
  }

  /** The sender device's key, after checking that the device belongs to the claimed user. */
  private async senderKey(deviceId: string, userId: string): Promise<Uint8Array> {
    let known = this.devices.get(deviceId)
    if (!known) {
      const device = await this.api<DirectoryDevice & { userId: string }>('GET', `/v1/devices/${deviceId}`)
      known = { key: base64Decode(device.x25519PublicKey), userId: device.userId }
      this.devices.set(deviceId, known)
    }
    if (known.userId !== userId) throw new CryptoError()
    return known.key
  }

  // --- sending ------------------------------------------------------------------------------
  /** Sends a text to a user (username or user id); resolves once the gateway has stored it. */
  async sendText(to: string, text: string, opts: { id?: string } = {}): Promise<SendResult> {
    return this.send(to, 'text', { type: 'text', text }, opts.id)
  }

  async send(to: string, contentClass: ContentClass, content: Content, id = newMessageId(this.p)): Promise<SendResult> {
    const recipientUserId = await this.resolveUser(to)
    const plaintext = utf8.encode(JSON.stringify({ v: 1, ...content }))
    let fresh = false
    for (let attempt = 1; ; attempt++) {
      const [peer, own] = await Promise.all([this.entry(recipientUserId, fresh), this.entry(this.userId, fresh)])
      const recipients = [...peer.devices, ...(peer.userId === this.userId ? [] : own.devices)]
        .filter((d) => d.id !== this.deviceId)
        .map((d) => ({ deviceId: d.id, x25519PublicKey: base64Decode(d.x25519PublicKey) }))
      const sealed = sealMessage(this.p, { senderDeviceId: this.deviceId, senderPrivateKey: this.keys.x25519.privateKey, messageId: id, recipientUserId, plaintext, recipients })
      const envelope = {
        id, to: recipientUserId, class: contentClass, body: boxToWire(sealed.body),
        keys: sealed.keys.map((k) => ({ device: k.deviceId, ...boxToWire(k.key) })),
      }
      try {
        return await this.deliverEnvelope(envelope)
      } catch (err) {
        // The device lists changed since we looked: look again and seal anew, same message id.
        if (err instanceof ApiError && err.code === 'MVM_ENVELOPE_DEVICE_MISMATCH' && attempt < SEND_ATTEMPTS) {
          fresh = true
          continue
        }
        throw err
      }
    }
  }

  private async deliverEnvelope(envelope: { id: string }): Promise<SendResult> {
    if (this.socket?.isOpen) {
      try {
        return await this.sendOnSocket(envelope)
      } catch (err) {
        if (err instanceof ApiError) throw err
        // The socket went away mid-send: the REST path is idempotent on the message id.
      }
    }
    return this.api<SendResult>('POST', '/v1/envelopes', envelope)
  }

  private sendOnSocket(envelope: { id: string }): Promise<SendResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingSends.delete(envelope.id)
        reject(new Error('send timed out on the socket'))
      }, SOCKET_SEND_TIMEOUT_MS)
      this.pendingSends.set(envelope.id, { resolve, reject, timer })
      this.socket!.send(JSON.stringify({ type: 'send', envelope }))
    })
  }

  // --- receiving ----------------------------------------------------------------------------
  /** Opens the socket and keeps it open (reconnecting with backoff) until close(). */
  async connect(handlers: ClientHandlers = {}): Promise<void> {
    this.handlers = handlers
    this.wantSocket = true
    await this.openSocket()
  }

  /** Resolves after the next 'synced' frame: everything stored for this device has been handed over. */
  waitForSync(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.handlers.synced
      this.handlers.synced = () => { this.handlers.synced = previous; previous?.(); resolve() }
    })
  }

  private async openSocket(): Promise<void> {
    let token: string
    try {
      token = await this.sessionToken()
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
        this.wantSocket = false
        this.handlers.failed?.(err, this.revokedReason ? { closeReason: this.revokedReason } : {})
        return
      }
      return this.scheduleReconnect()
    }
    await new Promise<void>((resolve) => {
      const socket = this.transport.socket('/v1/ws', token, {
        onOpen: () => {
          this.attempt = 0
          this.startKeepalive(socket)
          this.handlers.connection?.('open')
          resolve()
        },
        onMessage: (text) => { this.lastFrameAt = Date.now(); this.onFrame(text) },
        onRefused: (status) => {
          if (status === 401) this.token = undefined
          this.socket = undefined
          resolve()
          this.scheduleReconnect()
        },
        onClose: (code, reason) => {
          clearInterval(this.keepalive)
          if (this.socket === socket) this.socket = undefined
          for (const [id, pending] of this.pendingSends) {
            clearTimeout(pending.timer)
            pending.reject(new Error('socket closed'))
            this.pendingSends.delete(id)
          }
          // 4001: the session expired; 4003: the account was locked or offboarded and the token
          // revoked. Either way authenticate afresh, which for 4003 ends in the final 401 (§6.6).
          if (code === 4001 || code === 4003) this.token = undefined
          if (code === 4003) this.revokedReason = reason || undefined
          this.handlers.connection?.('closed')
          resolve()
          this.scheduleReconnect()
        },
      })
      this.socket = socket
    })
  }

  private scheduleReconnect() {
    if (!this.wantSocket || this.reconnectTimer) return
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.attempt++) * (0.5 + Math.random() / 2)
    this.handlers.connection?.('reconnecting')
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      if (this.wantSocket) this.openSocket().catch(() => this.scheduleReconnect())
    }, delay)
  }

  /** A ping after a quiet spell; no answer in time means a dead link, so reconnect. */
  private startKeepalive(socket: SocketConnection) {
    clearInterval(this.keepalive)
    this.lastFrameAt = Date.now()
    this.keepalive = setInterval(() => {
      const quiet = Date.now() - this.lastFrameAt
      if (quiet > KEEPALIVE_MS + PONG_TIMEOUT_MS) socket.terminate()
      else if (quiet > KEEPALIVE_MS && socket.isOpen) socket.send(JSON.stringify({ type: 'ping' }))
    }, PONG_TIMEOUT_MS / 2)
  }

  private onFrame(text: string) {
    let frame: { type?: string; [k: string]: unknown }
    try { frame = JSON.parse(text) } catch { return }
    switch (frame.type) {
      case 'message':
        // Strictly one at a time, in arrival order.
        this.inbox = this.inbox.then(() => this.receive(frame as unknown as DeliveryFrame)).catch(() => {})
        break
      case 'synced':
        void this.inbox.then(() => this.handlers.synced?.())
        break
      case 'sent':
      case 'error': {
        const ref = String(frame.type === 'sent' ? frame.id : frame.ref)
        const pending = this.pendingSends.get(ref)
        if (!pending) break
        clearTimeout(pending.timer)
        this.pendingSends.delete(ref)
        if (frame.type === 'sent') pending.resolve({ id: ref, sentAt: String(frame.sentAt), duplicate: Boolean(frame.duplicate) })
        // A server fault is worth another try (over REST, idempotent on the id); a refusal is final.
        else if (frame.code === 'MVM_INTERNAL' || (typeof frame.status === 'number' && frame.status >= 500)) {
          pending.reject(new Error(`the gateway could not take the send (${String(frame.code)})`))
        }
        else pending.reject(new ApiError(typeof frame.status === 'number' ? frame.status : 400, String(frame.code), String(frame.message), frame))
        break
      }
    }
  }

  private async receive(frame: DeliveryFrame): Promise<void> {
    const seen = await this.state.acceptedSeq(frame.from?.device, frame.id)
    if (seen === frame.seq) return this.ack(frame.seq) // the gateway re-sent what we took but had not acknowledged
    let message: ReceivedMessage
    try {
      if (seen !== undefined) throw new CryptoError() // the same message id again: a replay
      const plaintext = openMessage(this.p, {
        myDeviceId: this.deviceId,
        myPrivateKey: this.keys.x25519.privateKey,
        senderDeviceId: frame.from.device,
        senderX25519PublicKey: await this.senderKey(frame.from.device, frame.from.user).catch(() => { throw new CryptoError() }),
        messageId: frame.id,
        recipientUserId: frame.to,
        body: boxFromWire(frame.body),
        key: boxFromWire(frame.key),
      })
      const content = JSON.parse(utf8Decode.decode(plaintext)) as Content & { v?: number }
      if (typeof content !== 'object' || content === null || content.type !== 'text' || typeof content.text !== 'string') throw new CryptoError()
      const outgoing = frame.from.user === this.userId
      message = {
        seq: frame.seq, id: frame.id, senderUserId: frame.from.user, senderDeviceId: frame.from.device,
        peerUserId: outgoing ? frame.to : frame.from.user, outgoing, class: frame.class,
        content: { type: 'text', text: content.text }, sentAt: frame.sentAt,
      }
    } catch {
      this.handlers.rejected?.({ seq: frame.seq, code: 'MVM_CRYPTO_REJECTED' })
      return this.ack(frame.seq)
    }
    await this.handlers.message?.(message)
    await this.state.markAccepted(frame.from.device, frame.id, frame.seq)
    this.ack(frame.seq)
  }

  private ack(seq: string) {
    this.ackQueue.push(seq)
    if (this.ackQueue.length >= 200) return this.flushAcks()
    this.ackTimer ??= setTimeout(() => this.flushAcks(), 10)
  }

  private flushAcks() {
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    const seq = this.ackQueue.splice(0, 500)
    if (seq.length === 0) return
    if (this.socket?.isOpen) this.socket.send(JSON.stringify({ type: 'ack', seq }))
    // Without a socket the acknowledgement is lost on purpose: the delivery comes again and is
    // recognised as already taken.
  }

  /** Waits until queued deliveries are handled and their acknowledgements sent. */
  async drain(): Promise<void> {
    await this.inbox
    this.flushAcks()
  }

  async close(): Promise<void> {
    this.wantSocket = false
    clearInterval(this.keepalive)
    clearTimeout(this.reconnectTimer)
    this.reconnectTimer = undefined
    await this.drain()
    this.socket?.close(1000, 'bye')
    this.socket = undefined
  }
}
