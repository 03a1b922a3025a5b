// Send over REST and the store read by clients that poll (docs/protocol.md §5); the WebSocket
// carries the same envelope and frames.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { Accepted, AckRequest, DeliveryFrame, EnvelopeSchema, ErrorBody, Seq } from '../schemas.ts'

const envelopes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)
  const Envelope = EnvelopeSchema(app.config.MVM_MAX_ENVELOPE_BYTES)

  app.post('/envelopes', { schema: { body: Envelope, response: { 200: Accepted, '4xx': ErrorBody } } },
    async (req) => {
      const result = await app.services.messenger.send(req.session, req.body)
      if (!result.duplicate) app.metrics.messagesIn.inc({ transport: 'rest' })
      return result
    })

  app.get('/deliveries', {
    schema: {
      querystring: Type.Object({ after: Type.Optional(Seq), limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]?|[1-4][0-9]{2}|500)$' })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ messages: Type.Array(DeliveryFrame) }), '4xx': ErrorBody },
    },
  }, async (req) => ({
    messages: await app.services.envelopes.pending(req.session.deviceId, req.query.after ?? '0', Number(req.query.limit ?? 100)),
  }))

  app.post('/deliveries/ack', { schema: { body: AckRequest, response: { 200: Type.Object({ deleted: Type.Integer() }), '4xx': ErrorBody } } },
    async (req) => {
      const deleted = await app.services.envelopes.ack(req.session.deviceId, req.body.seq)
      app.metrics.acks.inc(deleted)
      return { deleted }
    })
}
export default envelopes
