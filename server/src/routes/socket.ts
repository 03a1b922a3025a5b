// GET /v1/ws: the device's WebSocket (docs/protocol.md §6). The session token is checked before
// the upgrade, so an unauthenticated client gets a plain 401 and never a socket; a plain HTTP
// request gets 426.
import type { FastifyPluginAsync } from 'fastify'
import { createDeviceSocketHandler } from '../ws/device-socket.ts'

const socket: FastifyPluginAsync = async (app) => {
  const handle = createDeviceSocketHandler(app)
  app.route({
    method: 'GET',
    url: '/ws',
    onRequest: app.authenticate,
    handler: async (req, reply) => {
      app.metrics.errors.inc({ code: 'MVM_UPGRADE_REQUIRED' })
      return reply.code(426).header('upgrade', 'websocket')
        .send({ statusCode: 426, code: 'MVM_UPGRADE_REQUIRED', message: 'this endpoint speaks WebSocket only', reqId: req.id })
    },
    wsHandler: (socket, req) => handle(socket, req.session, req.authenticatedAt),
  })
}
export default socket
