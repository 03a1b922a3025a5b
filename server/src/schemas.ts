// Request and frame schemas: every input has a type, a shape with no unknown fields, and limits.
// REST routes and WebSocket frames share them, so one envelope is checked the same way on both.
import { Type } from 'typebox'

export const MAX_DEVICES_PER_ENVELOPE = 64
const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

/** Text without control characters (PostgreSQL cannot store NUL; the rest has no place in names). */
// Names people read (display names, teams, pools…): no control characters, and none of the
// bidirectional embedding, override and isolate controls that make text read in another order
// than it is stored ("RTL override" shown as "edirrevo LTR").
export const PrintableText = (minLength: number, maxLength: number) =>
  Type.String({ minLength, maxLength, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]*$' })

export const Uuid = Type.String({ pattern: UUID_PATTERN, maxLength: 36 })
export const Base64Key32 = Type.String({ minLength: 44, maxLength: 44, pattern: '^[A-Za-z0-9+/]{43}=$' })
export const ClientMessageId = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
// 18 digits stay below 2^63, the range of the bigint sequence
export const Seq = Type.String({ pattern: '^[0-9]{1,18}$' })

/** base64 of 16 bytes, of a CBC ciphertext of at most `maxBytes`, and of 32 bytes. */
export function SealedBox(maxBytes: number) {
  return Type.Object({
    iv: Type.String({ minLength: 24, maxLength: 24 }),
    ct: Type.String({ minLength: 24, maxLength: Math.ceil(maxBytes / 3) * 4 }),
    mac: Type.String({ minLength: 44, maxLength: 44 }),
  }, { additionalProperties: false })
}

export const ContentClassSchema = Type.Union([
  Type.Literal('text'), Type.Literal('image'), Type.Literal('video'), Type.Literal('audio'), Type.Literal('file'),
])

export function EnvelopeSchema(maxBodyBytes: number) {
  return Type.Object({
    id: ClientMessageId,
    to: Uuid,
    class: ContentClassSchema,
    body: SealedBox(maxBodyBytes),
    keys: Type.Array(Type.Object({ device: Uuid, ...SealedBox(64).properties }, { additionalProperties: false }),
      { maxItems: MAX_DEVICES_PER_ENVELOPE }),
  }, { additionalProperties: false })
}

export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  message: Type.String(),
  reqId: Type.Optional(Type.String()),
  missingDevices: Type.Optional(Type.Array(Type.String())),
  extraDevices: Type.Optional(Type.Array(Type.String())),
})

export const Accepted = Type.Object({ id: Type.String(), sentAt: Type.String(), duplicate: Type.Boolean() })

export const DeliveryFrame = Type.Object({
  type: Type.Literal('message'),
  seq: Type.String(),
  id: Type.String(),
  from: Type.Object({ user: Type.String(), device: Type.String() }),
  to: Type.String(),
  class: Type.String(),
  sentAt: Type.String(),
  body: Type.Object({ iv: Type.String(), ct: Type.String(), mac: Type.String() }),
  key: Type.Object({ iv: Type.String(), ct: Type.String(), mac: Type.String() }),
})

export const AckRequest = Type.Object({
  seq: Type.Array(Seq, { minItems: 1, maxItems: 500 }),
}, { additionalProperties: false })
