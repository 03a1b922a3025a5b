// GET /v1/ws: the device's WebSocket (docs/protocol.md §6). The session token is checked before
// the upgrade, so an unauthenticated client gets a plain 401 and never a socket.
import type { FastifyPluginAsync } from 'fastify'
import { createDeviceSocketHandler } from '../ws/device-socket.ts'

const socket: FastifyPluginAsync = async (app) => {
  const handle = createDeviceSocketHandler(app)
  app.get('/ws', { websocket: true, onRequest: app.authenticate }, (socket, req) => handle(socket, req.session))
}
export default socket
