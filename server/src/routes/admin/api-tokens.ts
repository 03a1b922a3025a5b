// API tokens for automation: issued (shown once), listed, revoked (docs/admin-api.md §5).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AdminForbidden } from '#core/errors.ts'
import { PrintableText } from '../../schemas.ts'
import { ApiTokenView, ErrorBody, IdParams, Scope } from './schemas.ts'

const apiTokens: FastifyPluginAsyncTypebox = async (app) => {
  const tokens = app.services.admin.apiTokens

  app.get('/api-tokens', {
    config: { access: 'api-tokens:manage' },
    schema: { summary: 'Every API token, newest first (never the token itself)', response: { 200: Type.Object({ apiTokens: Type.Array(ApiTokenView) }), '4xx': ErrorBody } },
  }, async () => ({ apiTokens: await tokens.list() }))

  app.post('/api-tokens', {
    config: { access: 'api-tokens:manage' },
    schema: {
      summary: 'Issue an API token; the token is in this answer only',
      body: Type.Object({
        name: PrintableText(1, 128),
        scopes: Type.Array(Scope, { minItems: 1, maxItems: 8, uniqueItems: true }),
        expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ token: Type.String({ description: 'Authorization: Bearer <token>' }), apiToken: ApiTokenView }), '4xx': ErrorBody },
    },
  }, async (req, reply) => {
    const { role, adminId } = req.admin
    if (!role) throw new AdminForbidden('API tokens cannot use this route')
    return reply.code(201).send(await tokens.create(req.body, { id: adminId, role }, req.admin.actor))
  })

  app.delete('/api-tokens/:id', {
    config: { access: 'api-tokens:manage' },
    schema: { summary: 'Revoke an API token (at once)', params: IdParams, response: { 200: Type.Object({ apiToken: ApiTokenView }), '4xx': ErrorBody } },
  }, async (req) => ({ apiToken: await tokens.revoke(req.params.id, req.admin.actor) }))
}
export default apiTokens
