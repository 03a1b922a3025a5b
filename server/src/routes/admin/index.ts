// The admin REST API under /admin/v1 (docs/admin-api.md): authentication and the role check of
// every route (plugins/admin-auth.ts), then one module per resource, and the OpenAPI document
// that @fastify/swagger builds from the routes' own schemas.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import swagger from '@fastify/swagger'
import adminAuth, { ADMIN_COOKIE } from '../../plugins/admin-auth.ts'
import session from './session.ts'
import users from './users.ts'
import apiTokens from './api-tokens.ts'
import admins from './admins.ts'
import policy from './policy.ts'
import bulk from './bulk.ts'
import audit from './audit.ts'

export const ADMIN_PREFIX = '/admin/v1'

const admin: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'MobiVisor Messenger admin API', version: '1', description: 'See docs/admin-api.md for roles, rights and every error code.' },
      servers: [{ url: app.config.MVM_PUBLIC_URL ?? '/' }],
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: ADMIN_COOKIE, description: 'from POST /admin/v1/login; state-changing requests also send x-csrf-token' },
          apiToken: { type: 'http', scheme: 'bearer', description: 'mvm_at_… API token' },
        },
      },
      security: [{ session: [] }, { apiToken: [] }],
    },
  })
  await app.register(adminAuth)
  // Answers carry passwords, tokens and personal data: no cache, shared or private, keeps them.
  app.addHook('onSend', async (_req, reply) => { reply.header('cache-control', 'no-store') })
  await app.register(session)
  await app.register(users)
  await app.register(apiTokens)
  await app.register(admins)
  await app.register(policy)
  await app.register(bulk)
  await app.register(audit)

  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger())
}
export default admin
