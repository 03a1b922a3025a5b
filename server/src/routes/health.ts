import type { FastifyPluginAsync } from 'fastify'

const health: FastifyPluginAsync = async (app) => {
  app.get('/healthz', { logLevel: 'silent' }, async () => ({ status: 'ok' }))
  app.get('/readyz', { logLevel: 'silent' }, async (_req, reply) => {
    const { db, redis } = app.services
    const checks = await Promise.allSettled([db.ping(), redis.ping()])
    const [database, cache] = checks.map((c) => (c.status === 'fulfilled' ? 'ok' : 'unreachable'))
    const ready = database === 'ok' && cache === 'ok' && !app.draining
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', database, redis: cache, draining: app.draining })
  })
}
export default health
