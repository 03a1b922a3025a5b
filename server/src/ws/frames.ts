// Parsing and validation of client frames on /v1/ws. A bad frame gets an error frame with a
// stable code and the socket stays open: one client bug must not cost it its other messages.
import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { AckRequest, EnvelopeSchema } from '../schemas.ts'

export function createFrameParser(maxBodyBytes: number) {
  const Send = Type.Object({ type: Type.Literal('send'), envelope: EnvelopeSchema(maxBodyBytes) }, { additionalProperties: false })
  const Ack = Type.Object({ type: Type.Literal('ack'), seq: AckRequest.properties.seq }, { additionalProperties: false })
  const Ping = Type.Object({ type: Type.Literal('ping') }, { additionalProperties: false })
  const validators = { send: Compile(Send), ack: Compile(Ack), ping: Compile(Ping) }
  type Frame = Static<typeof Send> | Static<typeof Ack> | Static<typeof Ping>

  return function parse(data: string): { frame: Frame } | { code: string; message: string; ref?: string } {
    let value: unknown
    try {
      value = JSON.parse(data)
    } catch {
      return { code: 'MVM_FRAME_MALFORMED', message: 'frame is not valid JSON' }
    }
    const type = (value as { type?: unknown } | null)?.type
    const validator = typeof type === 'string' && Object.hasOwn(validators, type) ? validators[type as keyof typeof validators] : undefined
    if (!validator) return { code: 'MVM_FRAME_UNKNOWN', message: 'type must be one of send, ack, ping' }
    if (!validator.Check(value)) {
      const error = [...validator.Errors(value)].find((e) => e.message !== 'schema is false') ?? validator.Errors(value)[0]
      const ref = (value as { envelope?: { id?: unknown } }).envelope?.id
      return { code: 'MVM_FRAME_INVALID', message: `${error?.instancePath || 'frame'} ${error?.message ?? 'is invalid'}`, ...(typeof ref === 'string' ? { ref } : {}) }
    }
    return { frame: value as Frame }
  }
}
