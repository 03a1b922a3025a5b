// Builds the gateway: plugins and routes registered explicitly and in order. It never listens;
// server/src/main.ts does.
import Fastify, { LogController, type FastifyReply, type FastifyServerOptions } from 'fastify'
import websocket from '@fastify/websocket'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { TlsOptions } from 'node:tls'
import type { Config } from '#core/config.ts'
import errors from './plugins/errors.ts'
import services from './plugins/services.ts'
import deviceAuth from './plugins/device-auth.ts'
import health from './routes/health.ts'
import enrollment from './routes/enrollment.ts'
import directory from './routes/directory.ts'
import envelopes from './routes/envelopes.ts'
import socket from './routes/socket.ts'
import admin, { ADMIN_PREFIX } from './routes/admin/index.ts'
import portal from './routes/portal.ts'
import { SECURITY_HEADERS } from './tls.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Set once shutdown begins: /readyz fails so load balancers stop sending new clients. */
    draining: boolean
    /** WebSocket frames being handled: shutdown waits for them before it closes the database. */
    inflight: Set<Promise<unknown>>
    drainSockets(): Promise<void>
  }
}

export const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-csrf-token"]', 'res.headers["set-cookie"]', 'req.body', 'res.body', '*.token', '*.signature', '*.password']

export interface BuildOptions {
  config: Config
  https?: TlsOptions | null
  logger?: FastifyServerOptions['logger']
}

export async function buildApp({ config, https = null, logger }: BuildOptions) {
  const maxBody = config.MVM_MAX_ENVELOPE_BYTES
  const bodyLimit = Math.ceil(maxBody / 3) * 4 + 64 * 1024
  const app = Fastify({
    ...(https ? { https } : {}),
    logger: logger ?? { level: config.MVM_LOG_LEVEL, redact: { paths: REDACT, censor: '[redacted]' } },
    bodyLimit,
    // Only named proxies may say who the client is; everyone else's X-Forwarded-For is ignored.
    trustProxy: config.MVM_TRUSTED_PROXIES ?? false,
    requestIdHeader: false,
    // one line per request drowns what matters; errors are logged by the error handler
    logController: new LogController({ disableRequestLogging: true }),
    // Errors Fastify raises before routing (a bad percent-escape, an over-long path parameter)
    // get the same body as every other refusal.
    frameworkErrors: (_error, req, reply) => {
      void (reply as FastifyReply).code(400).send({ statusCode: 400, code: 'MVM_REQUEST_INVALID', message: 'the request URL is malformed', reqId: req.id })
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('draining', false)
  app.decorate('inflight', new Set<Promise<unknown>>())
  app.decorate('drainSockets', async () => { await Promise.allSettled([...app.inflight]) })
  app.addHook('onSend', async (_req, reply) => { reply.headers(SECURITY_HEADERS) })

  await app.register(errors)
  await app.register(services, { config })
  await app.register(deviceAuth)
  await app.register(websocket, { options: { maxPayload: bodyLimit } })
  await app.register(health)
  await app.register(enrollment, { prefix: '/v1' })
  await app.register(directory, { prefix: '/v1' })
  await app.register(envelopes, { prefix: '/v1' })
  await app.register(socket, { prefix: '/v1' })
  await app.register(admin, { prefix: ADMIN_PREFIX })
  await app.register(portal)
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
