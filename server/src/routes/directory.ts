// Key directory (docs/protocol.md §4): public keys of the devices a caller may address.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorBody, PrintableText, Uuid } from '../schemas.ts'

const Device = Type.Object({ id: Type.String(), x25519PublicKey: Type.String(), ed25519PublicKey: Type.String(), platform: Type.String(), state: Type.String() })
const Entry = Type.Object({ userId: Type.String(), username: Type.String(), displayName: Type.String(), devices: Type.Array(Device) })

const directory: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)

  app.get('/users/:username/devices', {
    schema: { params: Type.Object({ username: PrintableText(1, 64) }), response: { 200: Entry, '4xx': ErrorBody } },
  }, async (req) => app.services.directory.byUsername(req.session.userId, req.params.username))

  app.get('/users/by-id/:userId/devices', {
    schema: { params: Type.Object({ userId: Uuid }), response: { 200: Entry, '4xx': ErrorBody } },
  }, async (req) => app.services.directory.byUserId(req.session.userId, req.params.userId))

  app.get('/devices/:deviceId', {
    schema: { params: Type.Object({ deviceId: Uuid }), response: { 200: Type.Intersect([Device, Type.Object({ userId: Type.String() })]), '4xx': ErrorBody } },
  }, async (req) => app.services.directory.device(req.session.userId, req.params.deviceId))
}
export default directory
