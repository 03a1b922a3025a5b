// One device's WebSocket: first everything pending in the store, in order, then live frames
// from Redis. Live frames that arrive during the catch-up are held back and de-duplicated
// against what the catch-up sent, so the device sees each delivery once and in sequence.
// Every gateway also keeps its sockets by user, and closes a user's sockets (4003) when the
// control channel says the user was locked or offboarded.
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import type { WebSocket } from 'ws'
import type { Session } from '#core/identity/sessions.ts'
import type { DeliveryFrame } from '#core/messaging/envelopes.ts'
import { CONTROL_CHANNEL, type UserRevoked } from '#core/messaging/recipient-cache.ts'
import { createFrameParser } from './frames.ts'

const PAGE = 200
const RECENT_LIMIT = 4096
const HIGH_WATER = 4 * 1024 * 1024

function refOf(text: string): { ref?: string } {
  try {
    const id = (JSON.parse(text) as { envelope?: { id?: unknown } }).envelope?.id
    return typeof id === 'string' ? { ref: id } : {}
  } catch {
    return {}
  }
}

const CLOSE_REASONS: Record<UserRevoked['reason'], string> = { locked: 'account locked', offboarded: 'account offboarded', not_whitelisted: 'not whitelisted' }
// How long a revocation is remembered, for sockets whose token was checked before it arrived.
const REVOCATION_MEMORY_MS = 60_000

/** This gateway's open sockets by user; closes them when a lock or offboarding is announced. */
function createSocketRegistry(subscriber: Redis) {
  const byUser = new Map<string, Set<WebSocket>>()
  const revokedAt = new Map<string, number>()
  subscriber.on('message', (channel: string, message: string) => {
    if (channel !== CONTROL_CHANNEL) return
    let event: Partial<UserRevoked>
    try { event = JSON.parse(message) as Partial<UserRevoked> } catch { return }
    if (event.type !== 'user-revoked' || typeof event.userId !== 'string') return
    const now = Date.now()
    for (const [userId, at] of revokedAt) if (now - at > REVOCATION_MEMORY_MS) revokedAt.delete(userId)
    revokedAt.set(event.userId, now)
    const reason = CLOSE_REASONS[event.reason ?? 'locked'] ?? CLOSE_REASONS.locked
    // 4003 (docs/protocol.md §6.5): the account was locked or offboarded; its tokens are revoked.
    for (const socket of byUser.get(event.userId) ?? []) socket.close(4003, reason)
  })
  return {
    /** Registers a socket; false (and closed) if a revocation for its user came after its token was checked. */
    add(userId: string, socket: WebSocket, authenticatedAt: number): boolean {
      if ((revokedAt.get(userId) ?? -1) >= authenticatedAt) {
        socket.close(4003, CLOSE_REASONS.locked)
        return false
      }
      let set = byUser.get(userId)
      if (!set) byUser.set(userId, (set = new Set()))
      set.add(socket)
      return true
    },
    remove(userId: string, socket: WebSocket): void {
      const set = byUser.get(userId)
      if (set?.delete(socket) && set.size === 0) byUser.delete(userId)
    },
  }
}

export function createDeviceSocketHandler(app: FastifyInstance) {
  const parse = createFrameParser(app.config.MVM_MAX_ENVELOPE_BYTES)
  const { envelopes, subscriptions, messenger } = app.services
  const { metrics, inflight } = app
  const registry = createSocketRegistry(app.services.subscriber)

  return function handle(socket: WebSocket, session: Session, authenticatedAt: number): void {
    const deviceId = session.deviceId
    const log = app.log.child({ deviceId })
    if (!registry.add(session.userId, socket, authenticatedAt)) return
    let syncing = true
    const held: DeliveryFrame[] = []
    const recent = new Set<string>()
    const reply = (frame: object) => { if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame)) }

    const deliver = (frame: DeliveryFrame, source: 'store' | 'live') => {
      if (recent.has(frame.seq) || socket.readyState !== socket.OPEN) return
      metrics.messagesOut.inc({ source })
      if (source === 'live') metrics.deliveryLatency.observe(Math.max(0, Date.now() - Date.parse(frame.sentAt)) / 1000)
      recent.add(frame.seq)
      if (recent.size > RECENT_LIMIT) recent.delete(recent.values().next().value!)
      socket.send(JSON.stringify(frame))
    }
    const onLive = (frame: DeliveryFrame) => (syncing ? held.push(frame) : deliver(frame, 'live'))
    metrics.connections.inc()

    socket.on('message', (data, isBinary) => {
      if (isBinary) return reply({ type: 'error', code: 'MVM_FRAME_INVALID', message: 'frames are JSON text' })
      const text = data.toString()
      const work = handleFrame(text).catch((err) => {
        log.error({ err }, 'frame handling failed')
        metrics.errors.inc({ code: 'MVM_INTERNAL' })
        reply({ type: 'error', code: 'MVM_INTERNAL', message: 'internal error', ...refOf(text) })
      })
      inflight.add(work)
      void work.finally(() => inflight.delete(work))
    })
    socket.on('error', (err) => log.debug({ err: err.message }, 'socket error'))
    const expiry = setTimeout(() => socket.close(4001, 'session expired'), Math.max(0, session.expiresAt - Date.now()))
    socket.on('close', () => {
      registry.remove(session.userId, socket)
      metrics.connections.dec()
      clearTimeout(expiry)
      subscriptions.remove(deviceId, onLive).catch((err: Error) => log.debug({ err: err.message }, 'unsubscribe failed'))
    })

    async function handleFrame(data: string) {
      const parsed = parse(data)
      if (!('frame' in parsed)) {
        metrics.errors.inc({ code: parsed.code })
        return reply({ type: 'error', ...parsed })
      }
      const frame = parsed.frame
      if (frame.type === 'ping') return reply({ type: 'pong' })
      if (frame.type === 'send' && app.draining) {
        return reply({ type: 'error', ref: frame.envelope.id, status: 503, code: 'MVM_UNAVAILABLE', message: 'this gateway is shutting down; reconnect and resend' })
      }
      if (frame.type === 'ack') {
        const deleted = await envelopes.ack(deviceId, frame.seq)
        metrics.acks.inc(deleted)
        return reply({ type: 'acked', seq: frame.seq, deleted })
      }
      try {
        const result = await messenger.send(session, frame.envelope)
        if (!result.duplicate) metrics.messagesIn.inc({ transport: 'ws' })
        reply({ type: 'sent', ...result })
      } catch (err) {
        const e = err as { statusCode?: number; code?: string; message: string; missingDevices?: string[]; extraDevices?: string[] }
        if (!e.statusCode || e.statusCode >= 500 || !e.code?.startsWith('MVM_')) throw err
        metrics.errors.inc({ code: e.code })
        reply({
          type: 'error', ref: frame.envelope.id, status: e.statusCode, code: e.code, message: e.message,
          ...(e.missingDevices ? { missingDevices: e.missingDevices, extraDevices: e.extraDevices } : {}),
        })
      }
    }

    async function catchUp() {
      await subscriptions.add(deviceId, onLive)
      let after = '0'
      for (;;) {
        const page = await envelopes.pending(deviceId, after, PAGE)
        for (const frame of page) deliver(frame, 'store')
        if (page.length < PAGE || socket.readyState !== socket.OPEN) break
        after = page.at(-1)!.seq
        while (socket.bufferedAmount > HIGH_WATER && socket.readyState === socket.OPEN) await new Promise((r) => setTimeout(r, 20))
      }
      held.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1)).forEach((f) => deliver(f, 'live'))
      held.length = 0
      syncing = false
      reply({ type: 'synced' })
    }

    catchUp().catch((err) => {
      log.error({ err }, 'catch-up failed')
      socket.close(1011, 'try again')
    })
  }
}
