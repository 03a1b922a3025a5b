// Store-and-forward of envelopes. An envelope is accepted only when its per-device keys cover
// exactly the current active devices of the recipient and of the sender's other devices;
// it is persisted (envelope + one delivery per device, one statement) before it is acknowledged,
// and each delivery is deleted when its device acknowledges it.
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { AuthFailed, BadRequest, DeviceMismatchError, PeerHasNoDevices, PeerNotReachable, UserNotFound } from '../errors.ts'
import { boxFromBytes, boxToBytes, type WireBox } from './boxes.ts'
import { createBatcher } from './batcher.ts'
import type { RecipientCache } from './recipient-cache.ts'

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

// Many envelopes, one statement: envelopes first (a resend of a stored id is skipped), then
// one delivery per key, in input order so that each device's seq follows the order of sending,
// and the per-user daily counts (message_counts, metadata only): each stored envelope is one
// message sent by its sender and one received by its recipient, however many devices it was
// sealed for; a resend counts nothing. The counts are summed per (user, UTC day) first, so the
// batch costs one upsert row per user, and locked in key order, so that two batches in flight
// cannot deadlock on them.
const INSERT_ENVELOPES = `
WITH e AS (
  INSERT INTO envelopes (id, sender_user_id, sender_device_id, client_message_id, recipient_user_id, content_class, body)
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::varchar[], $5::uuid[], $6::content_class[], $7::bytea[])
  ON CONFLICT (sender_device_id, client_message_id) DO NOTHING
  RETURNING id, created_at, sender_user_id, recipient_user_id
), c AS (
  INSERT INTO message_counts AS m (user_id, day, sent, received)
  SELECT user_id, day, sum(sent)::int, sum(received)::int
  FROM (
    SELECT sender_user_id AS user_id, (created_at AT TIME ZONE 'UTC')::date AS day, 1 AS sent, 0 AS received FROM e
    UNION ALL
    SELECT recipient_user_id, (created_at AT TIME ZONE 'UTC')::date, 0, 1 FROM e
  ) AS counted
  GROUP BY user_id, day
  ORDER BY user_id, day
  ON CONFLICT (user_id, day) DO UPDATE SET sent = m.sent + EXCLUDED.sent, received = m.received + EXCLUDED.received
), d AS (
  INSERT INTO deliveries (envelope_id, device_id, sealed_key)
  SELECT k.envelope_id, k.device_id, k.sealed_key
  FROM unnest($8::uuid[], $9::uuid[], $10::bytea[]) WITH ORDINALITY AS k(envelope_id, device_id, sealed_key, ord)
  JOIN e ON e.id = k.envelope_id
  ORDER BY k.ord
  RETURNING id, envelope_id, device_id
)
SELECT e.id AS envelope_id, e.created_at, d.id AS seq, d.device_id FROM e LEFT JOIN d ON d.envelope_id = e.id`

const DELETE_ACKED = `
DELETE FROM deliveries d USING unnest($1::uuid[], $2::bigint[]) AS a(device_id, id)
WHERE d.id = a.id AND d.device_id = a.device_id
RETURNING d.device_id`

const PENDING = `
SELECT d.id AS seq, d.sealed_key, e.client_message_id, e.sender_user_id, e.sender_device_id,
       e.recipient_user_id, e.content_class, e.body, e.created_at
FROM deliveries d JOIN envelopes e ON e.id = d.envelope_id
WHERE d.device_id = $1 AND d.id > $2
ORDER BY d.id LIMIT $3`

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

interface NewEnvelope {
  id: string
  sender: Sender
  clientMessageId: string
  to: string
  contentClass: ContentClass
  body: Buffer
  keys: Map<string, Buffer>
}
type Stored = { createdAt: Date; seqs: Map<string, string> } | undefined

const BATCH_LIMIT = 200

export function createEnvelopeService(deps: { pool: pg.Pool; recipients: RecipientCache; mayExchange?: ExchangePolicy }) {
  const { pool } = deps

  const inserts = createBatcher<NewEnvelope, Stored>(async (batch) => {
    const keys = batch.flatMap((e) => [...e.keys].map(([device, key]) => ({ envelope: e.id, device, key })))
    const { rows } = await pool.query<{ envelope_id: string; created_at: Date; seq: string | null; device_id: string | null }>({
      name: 'mvm_insert_envelopes',
      text: INSERT_ENVELOPES,
      values: [
        batch.map((e) => e.id), batch.map((e) => e.sender.userId), batch.map((e) => e.sender.deviceId),
        batch.map((e) => e.clientMessageId), batch.map((e) => e.to), batch.map((e) => e.contentClass), batch.map((e) => e.body),
        keys.map((k) => k.envelope), keys.map((k) => k.device), keys.map((k) => k.key),
      ],
    })
    const stored = new Map<string, NonNullable<Stored>>()
    for (const r of rows) {
      let entry = stored.get(r.envelope_id)
      if (!entry) stored.set(r.envelope_id, entry = { createdAt: r.created_at, seqs: new Map() })
      if (r.seq !== null) entry.seqs.set(r.device_id!, r.seq)
    }
    return batch.map((e) => stored.get(e.id))
  }, { maxItems: BATCH_LIMIT })

  const acks = createBatcher<{ deviceId: string; seqs: string[] }, number>(async (batch) => {
    const devices = batch.flatMap((a) => a.seqs.map(() => a.deviceId))
    const { rows } = await pool.query<{ device_id: string }>({ name: 'mvm_delete_acked', text: DELETE_ACKED, values: [devices, batch.flatMap((a) => a.seqs)] })
    const deleted = new Map<string, number>()
    for (const r of rows) deleted.set(r.device_id, (deleted.get(r.device_id) ?? 0) + 1)
    // one device may appear twice in a batch: the first gets the count, the rest none
    return batch.map((a) => { const n = deleted.get(a.deviceId) ?? 0; deleted.delete(a.deviceId); return n })
  }, { maxItems: BATCH_LIMIT })

  async function priorSend(deviceId: string, clientMessageId: string): Promise<Date | undefined> {
    const { rows } = await pool.query<{ created_at: Date }>({
      name: 'mvm_prior_send', text: 'SELECT created_at FROM envelopes WHERE sender_device_id = $1 AND client_message_id = $2', values: [deviceId, clientMessageId],
    })
    return rows[0]?.created_at
  }

  /** The devices an envelope from `sender` to `to` must carry keys for, or why there are none. */
  async function currentDevices(sender: Sender, to: string, fresh: boolean): Promise<Set<string>> {
    const users = await deps.recipients.get([sender.userId, to], { fresh })
    // A socket opened just before its user was locked must not send after the lock.
    if (users.get(sender.userId)?.status !== 'active') throw new AuthFailed()
    const recipient = users.get(to)
    // the same answers as the key directory gives, so neither can probe account states
    if (!recipient || (recipient.status !== 'active' && recipient.status !== 'invited')) throw new UserNotFound()
    if (deps.mayExchange && !(await deps.mayExchange(sender.userId, to))) throw new PeerNotReachable()
    // A message nobody on the other side can ever open (no device enrolled yet) is refused
    // rather than stored for the sender's own devices only.
    if (!recipient.devices.some((id) => id !== sender.deviceId)) throw new PeerHasNoDevices()
    const devices = new Set<string>()
    for (const id of [...recipient.devices, ...(users.get(sender.userId)?.devices ?? [])]) if (id !== sender.deviceId) devices.add(id)
    return devices
  }

  /** Checks the keys against the current devices, reading past the cache once before refusing. */
  async function checkDevices(sender: Sender, input: EnvelopeInput, given: Map<string, Buffer>): Promise<void> {
    for (const fresh of [false, true]) {
      try {
        const expected = await currentDevices(sender, input.to, fresh)
        const missing = [...expected].filter((d) => !given.has(d))
        const extra = [...given.keys()].filter((d) => !expected.has(d))
        if (missing.length === 0 && extra.length === 0) return
        throw new DeviceMismatchError(missing.sort(), extra.sort())
      } catch (err) {
        if (fresh) throw err
      }
    }
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
      try {
        await checkDevices(sender, input, given)
      } catch (err) {
        // A resend of a stored message is acknowledged as it was, whatever changed since.
        const prior = await priorSend(sender.deviceId, input.id)
        if (prior) return { id: input.id, sentAt: prior.toISOString(), duplicate: true, frames: [] }
        throw err
      }

      const stored = await inserts.add({ id: randomUUID(), sender, clientMessageId: input.id, to: input.to, contentClass: input.class, body, keys: given })
      if (!stored) {
        // a concurrent resend stored it first
        return { id: input.id, sentAt: ((await priorSend(sender.deviceId, input.id)) ?? new Date()).toISOString(), duplicate: true, frames: [] }
      }
      const sentAt = stored.createdAt.toISOString()
      const wireBody = boxFromBytes(body)
      const frames = [...stored.seqs].map(([device, seq]) => ({
        type: 'message' as const,
        seq,
        id: input.id,
        from: { user: sender.userId, device: sender.deviceId },
        to: input.to,
        class: input.class,
        sentAt,
        // re-encoded from the checked bytes, so live frames are byte-identical to stored ones
        body: wireBody,
        key: boxFromBytes(given.get(device)!),
        device,
      }))
      return { id: input.id, sentAt, duplicate: false, frames }
    },

    async pending(deviceId: string, afterSeq: string, limit: number): Promise<DeliveryFrame[]> {
      const { rows } = await pool.query({ name: 'mvm_pending', text: PENDING, values: [deviceId, afterSeq, limit] })
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
      return acks.add({ deviceId, seqs })
    },
  }
}

export type EnvelopeService = ReturnType<typeof createEnvelopeService>
