// Bearer session tokens for the device API and the WebSocket upgrade.
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { AuthFailed } from '#core/errors.ts'
import type { Session } from '#core/identity/sessions.ts'

declare module 'fastify' {
  interface FastifyRequest {
    session: Session
    /** When the token was looked up (taken before the look-up): a revocation heard later may have missed it. */
    authenticatedAt: number
  }
  interface FastifyInstance { authenticate(req: FastifyRequest): Promise<void> }
}

export default fp(async (app) => {
  app.decorateRequest('session', null as unknown as Session)
  app.decorateRequest('authenticatedAt', 0)
  app.decorate('authenticate', async (req: FastifyRequest) => {
    const header = req.headers.authorization
    if (!header?.startsWith('Bearer ')) throw new AuthFailed()
    const at = Date.now()
    req.session = await app.services.sessions.verify(header.slice(7).trim())
    req.authenticatedAt = at
  })
}, { name: 'device-auth', dependencies: ['services'] })
