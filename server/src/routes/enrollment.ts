// Device enrollment and authentication (docs/protocol.md §2, §3).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { BadRequest } from '#core/errors.ts'
import { isUsableX25519PublicKey } from '#core/identity/keys.ts'
import { Base64Key32, ErrorBody, PrintableText, Uuid } from '../schemas.ts'

const Signature = Type.String({ minLength: 88, maxLength: 88, pattern: '^[A-Za-z0-9+/]{86}==$' })

function key32(field: string, value: string): Buffer {
  const bytes = Buffer.from(value, 'base64')
  if (bytes.length !== 32) throw new BadRequest(`${field} must be 32 bytes`)
  return bytes
}

const enrollment: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/enroll', {
    schema: {
      body: Type.Object({
        token: Type.String({ minLength: 16, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' }),
        x25519PublicKey: Base64Key32,
        ed25519PublicKey: Base64Key32,
        platform: Type.Union(['android', 'ios', 'terminal', 'web', 'other'].map((p) => Type.Literal(p))),
        name: Type.Optional(PrintableText(1, 128)),
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ deviceId: Type.String(), userId: Type.String(), username: Type.String() }), '4xx': ErrorBody },
    },
  }, async (req, reply) => {
    const x25519PublicKey = key32('x25519PublicKey', req.body.x25519PublicKey)
    if (!isUsableX25519PublicKey(x25519PublicKey)) throw new BadRequest('x25519PublicKey is a low-order point')
    const device = await app.services.enrollment.enroll({
      token: req.body.token,
      x25519PublicKey,
      ed25519PublicKey: key32('ed25519PublicKey', req.body.ed25519PublicKey),
      platform: req.body.platform,
      name: req.body.name,
    })
    req.log.info({ deviceId: device.deviceId, userId: device.userId }, 'device enrolled')
    await app.services.audit.append({
      actor: { type: 'user', id: device.userId }, action: 'device.enrolled', target: { type: 'device', id: device.deviceId },
      sourceIp: req.ip, details: { platform: req.body.platform },
    })
    return reply.code(201).send(device)
  })

  app.post('/auth/challenge', {
    schema: {
      body: Type.Object({ deviceId: Uuid }, { additionalProperties: false }),
      response: { 200: Type.Object({ challenge: Type.String(), expiresIn: Type.Integer() }), '4xx': ErrorBody },
    },
  }, async (req) => app.services.sessions.challenge(req.body.deviceId))

  app.post('/auth/session', {
    schema: {
      body: Type.Object({ deviceId: Uuid, challenge: Base64Key32, signature: Signature }, { additionalProperties: false }),
      response: { 200: Type.Object({ token: Type.String(), expiresAt: Type.String(), userId: Type.String() }), '4xx': ErrorBody },
    },
  }, async (req) => {
    try {
      const { token, expiresAt, session } = await app.services.sessions.open(req.body.deviceId, req.body.challenge, Buffer.from(req.body.signature, 'base64'), {
        // written only for a challenge the gateway issued, so strangers cannot flood the log
        onRejected: (reason) => app.services.audit.append({ actor: { type: 'device', id: req.body.deviceId }, action: 'device.auth_failed', sourceIp: req.ip, details: { reason } }).then(() => {}),
      })
      return { token, expiresAt: expiresAt.toISOString(), userId: session.userId }
    } catch (err) {
      req.log.info({ deviceId: req.body.deviceId }, 'device authentication failed')
      throw err
    }
  })
}
export default enrollment
