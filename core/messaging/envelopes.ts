// Store-and-forward of envelopes. An envelope is accepted only when its per-device keys cover
// exactly the current active devices of the recipient and of the sender's other devices;
// it is persisted (envelope + one delivery per device, one statement) before it is acknowledged,
// and each delivery is deleted when its device acknowledges it.
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { BadRequest, DeviceMismatchError, PeerHasNoDevices, PeerNotReachable, UserNotFound } from '../errors.ts'
import { boxFromBytes, boxToBytes, type WireBox } from './boxes.ts'

export const CONTENT_CLASSES = ['text', 'image', 'video', 'audio', 'file'] as const
export type ContentClass = (typeof CONTENT_CLASSES)[number]

export interface EnvelopeInput {
  id: string
  to: string
  class: ContentClass
  body: WireBox
  keys: (WireBox & { device: string })[]
}

export interface Sender { userId: string; deviceId: string }

/** What a recipient device receives, over the socket or from the store. */
export interface DeliveryFrame {
  type: 'message'
  seq: string
  id: string
  from: { user: string; device: string }
  to: string
  class: ContentClass
  sentAt: string
  body: WireBox
  key: WireBox
}

export interface Accepted {
  id: string
  sentAt: string
  duplicate: boolean
  frames: (DeliveryFrame & { device: string })[]
}

export type ExchangePolicy = (a: string, b: string) => Promise<boolean>

const INSERT_ENVELOPE = `
WITH e AS (
  INSERT INTO envelopes (id, sender_user_id, sender_device_id, client_message_id, recipient_user_id, content_class, body)
  VALUES ($1, $2, $3, $4, $5, $6, $7)
  ON CONFLICT (sender_device_id, client_message_id) DO NOTHING
  RETURNING id, created_at
), d AS (
  INSERT INTO deliveries (envelope_id, device_id, sealed_key)
  SELECT e.id, k.device_id, k.sealed_key FROM e, unnest($8::uuid[], $9::bytea[]) AS k(device_id, sealed_key)
  RETURNING id, device_id
)
SELECT e.created_at, d.id AS seq, d.device_id FROM e LEFT JOIN d ON true`

// One round trip for what acceptance needs: both users' states, their active devices, and
// whether this sender device already stored this message id.
const RECIPIENTS = `
SELECT u.id AS user_id, u.status, d.id AS device_id,
       (SELECT created_at FROM envelopes WHERE sender_device_id = $2 AND client_message_id = $3) AS prior
FROM users u LEFT JOIN devices d ON d.user_id = u.id AND d.state = 'active'
WHERE u.id = ANY($1::uuid[])`

const PENDING = `
SELECT d.id AS seq, d.sealed_key, e.client_message_id, e.sender_user_id, e.sender_device_id,
       e.recipient_user_id, e.content_class, e.body, e.created_at
FROM deliveries d JOIN envelopes e ON e.id = d.envelope_id
WHERE d.device_id = $1 AND d.id > $2
ORDER BY d.id LIMIT $3`

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function createEnvelopeService(deps: { pool: pg.Pool; mayExchange?: ExchangePolicy }) {
  const { pool } = deps

  async function priorSend(deviceId: string, clientMessageId: string): Promise<Date | undefined> {
    const { rows } = await pool.query<{ created_at: Date }>(
      'SELECT created_at FROM envelopes WHERE sender_device_id = $1 AND client_message_id = $2', [deviceId, clientMessageId])
    return rows[0]?.created_at
  }

  async function currentDevices(sender: Sender, to: string, messageId: string): Promise<Set<string> | { prior: Date }> {
    const { rows } = await pool.query<{ user_id: string; status: string; device_id: string | null; prior: Date | null }>(
      RECIPIENTS, [[sender.userId, to], sender.deviceId, messageId])
    // A resend of a stored message is acknowledged as it was, whatever changed since.
    if (rows[0]?.prior) return { prior: rows[0].prior }
    const recipient = rows.filter((r) => r.user_id === to)
    // the same answer as the key directory gives, so neither can probe account states
    if (recipient.length === 0 || recipient[0]!.status !== 'active') throw new UserNotFound()
    if (deps.mayExchange && !(await deps.mayExchange(sender.userId, to))) throw new PeerNotReachable()
    const devices = new Set<string>()
    for (const r of rows) if (r.device_id && r.device_id !== sender.deviceId) devices.add(r.device_id)
    if (devices.size === 0) throw new PeerHasNoDevices()
    return devices
  }

  return {
    async accept(sender: Sender, input: EnvelopeInput): Promise<Accepted> {
      if (!UUID.test(input.to)) throw new BadRequest('to must be a user id')
      const body = boxToBytes(input.body, 'body')
      const given = new Map<string, Buffer>()
      input.keys.forEach((k, i) => {
        if (given.has(k.device)) throw new BadRequest(`keys[${i}].device is listed twice`)
        given.set(k.device, boxToBytes(k, `keys[${i}]`))
      })
      const expected = await currentDevices(sender, input.to, input.id)
      if ('prior' in expected) return { id: input.id, sentAt: expected.prior.toISOString(), duplicate: true, frames: [] }
      const missing = [...expected].filter((d) => !given.has(d))
      const extra = [...given.keys()].filter((d) => !expected.has(d))
      if (missing.length > 0 || extra.length > 0) throw new DeviceMismatchError(missing.sort(), extra.sort())

      const deviceIds = [...given.keys()]
      const { rows } = await pool.query<{ created_at: Date; seq: string | null; device_id: string | null }>(INSERT_ENVELOPE, [
        randomUUID(), sender.userId, sender.deviceId, input.id, input.to, input.class, body,
        deviceIds, deviceIds.map((d) => given.get(d)),
      ])
      if (rows.length === 0) {
        // a concurrent resend stored it first
        return { id: input.id, sentAt: ((await priorSend(sender.deviceId, input.id)) ?? new Date()).toISOString(), duplicate: true, frames: [] }
      }
      const sentAt = rows[0]!.created_at.toISOString()
      const frames = rows.filter((r) => r.seq !== null).map((r) => ({
        type: 'message' as const,
        seq: r.seq!,
        id: input.id,
        from: { user: sender.userId, device: sender.deviceId },
        to: input.to,
        class: input.class,
        sentAt,
        // re-encoded from the checked bytes, so live frames are byte-identical to stored ones
        body: boxFromBytes(body),
        key: boxFromBytes(given.get(r.device_id!)!),
        device: r.device_id!,
      }))
      return { id: input.id, sentAt, duplicate: false, frames }
    },

    async pending(deviceId: string, afterSeq: string, limit: number): Promise<DeliveryFrame[]> {
      const { rows } = await pool.query(PENDING, [deviceId, afterSeq, limit])
      return rows.map((r) => ({
        type: 'message' as const,
        seq: String(r.seq),
        id: r.client_message_id,
        from: { user: r.sender_user_id, device: r.sender_device_id },
        to: r.recipient_user_id,
        class: r.content_class,
        sentAt: (r.created_at as Date).toISOString(),
        body: boxFromBytes(r.body),
        key: boxFromBytes(r.sealed_key),
      }))
    },

    async ack(deviceId: string, seqs: string[]): Promise<number> {
      if (seqs.length === 0) return 0
      const { rowCount } = await pool.query('DELETE FROM deliveries WHERE device_id = $1 AND id = ANY($2::bigint[])', [deviceId, seqs])
      return rowCount ?? 0
    },
  }
}

export type EnvelopeService = ReturnType<typeof createEnvelopeService>
