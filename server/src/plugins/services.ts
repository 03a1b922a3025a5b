// Builds the process's connections and domain services once and closes them in order on shutdown.
import fp from 'fastify-plugin'
import { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Config } from '#core/config.ts'
import { createDb, type Db } from '#core/db/client.ts'
import { createRedis, redisOptions } from '#core/redis.ts'
import { Queues, type BulkJob } from '#core/queues.ts'
import { createBulkOperations, type BulkOperations } from '#core/admin/bulk.ts'
import { createUserService, type UserService } from '#core/identity/users.ts'
import { createEnrollmentService, type EnrollmentService } from '#core/identity/enrollment.ts'
import { createSessionService, type SessionService } from '#core/identity/sessions.ts'
import { createEnvelopeService, type EnvelopeService } from '#core/messaging/envelopes.ts'
import { createDeviceSubscriptions, type DeviceSubscriptions } from '#core/messaging/fanout.ts'
import { createMessenger, type Messenger } from '#core/messaging/messenger.ts'
import { createMetrics, type Metrics } from '#core/metrics.ts'
import { announceUserChanged, createRecipientCache } from '#core/messaging/recipient-cache.ts'
import { createDirectoryService, type DirectoryService } from '#core/messaging/directory.ts'
import { createAuditLog, type AuditLog } from '#core/audit/audit-log.ts'
import { createAdminService, type AdminService } from '#core/admin/admins.ts'
import { createAdminSessionStore, type AdminSessionStore } from '#core/admin/sessions.ts'
import { createApiTokenService, type ApiTokenService } from '#core/admin/api-tokens.ts'
import { createUserAdmin, type UserAdmin } from '#core/admin/users.ts'
import { createPolicyCache, type PolicyCache } from '#core/policy/policy.ts'
import { createPolicyAdmin, type PolicyAdmin } from '#core/policy/admin.ts'

export interface Services {
  db: Db
  redis: Redis
  subscriber: Redis
  users: UserService
  enrollment: EnrollmentService
  sessions: SessionService
  envelopes: EnvelopeService
  messenger: Messenger
  directory: DirectoryService
  subscriptions: DeviceSubscriptions
  audit: AuditLog
  policy: PolicyCache
  admin: { accounts: AdminService; sessions: AdminSessionStore; apiTokens: ApiTokenService; users: UserAdmin; policy: PolicyAdmin; bulk: BulkOperations }
  /** Producers of worker jobs (MVM_QUEUE_PREFIX: the workers' prefix). */
  queues: { bulk: Queue<BulkJob> }
}

declare module 'fastify' {
  interface FastifyInstance { config: Config; services: Services; metrics: Metrics }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  const db = createDb(config.DATABASE_URL, { poolSize: config.MVM_DATABASE_POOL_SIZE, onError: (err) => app.log.warn({ err }, 'database pool error') })
  const redis = createRedis(config, { maxRetriesPerRequest: 3 })
  const subscriber = createRedis(config)
  for (const r of [redis, subscriber]) r.on('error', (err) => app.log.warn({ err: err.message }, 'redis error'))
  const recipients = createRecipientCache({ pool: db.pool })
  await recipients.listen(subscriber)
  const policy = createPolicyCache({ pool: db.pool })
  await policy.listen(subscriber)
  const mayExchange = (a: string, b: string) => policy.mayExchange(a, b)
  const envelopes = createEnvelopeService({ pool: db.pool, recipients, mayExchange })
  const sessions = createSessionService({ prisma: db.prisma, redis, ttlSeconds: config.MVM_SESSION_TTL_SECONDS, mayConnect: (userId) => policy.isWhitelisted(userId) })
  const audit = createAuditLog({ pool: db.pool })
  const userAdmin = createUserAdmin({ pool: db.pool, redis, sessions, audit, enrollmentTtlHours: config.MVM_ENROLLMENT_TTL_HOURS })
  // Not a blocking connection: an add fails fast while Redis is away (the worker re-enqueues unfinished operations at start).
  const bulkQueue = new Queue<BulkJob>(Queues.bulk.name, { connection: redisOptions(config, { maxRetriesPerRequest: 3 }), prefix: config.MVM_QUEUE_PREFIX })
  bulkQueue.on('error', (err) => app.log.warn({ err: err.message }, 'bulk queue error'))
  const bulk = createBulkOperations({
    pool: db.pool, redis, sessions, audit, users: userAdmin,
    enqueue: async (operationId) => { await bulkQueue.add('bulk', { operationId }, { ...Queues.bulk.opts, jobId: operationId }) },
    onEnqueueError: (err, operationId) => app.log.warn({ err: err.message, operationId }, 'bulk operation not enqueued; the workers will pick it up'),
  })
  const services: Services = {
    db, redis, subscriber,
    users: createUserService({ prisma: db.prisma, enrollmentTtlHours: config.MVM_ENROLLMENT_TTL_HOURS }),
    enrollment: createEnrollmentService({ prisma: db.prisma, mayEnroll: (userId) => policy.isWhitelisted(userId), onDevicesChanged: (userId) => announceUserChanged(redis, userId) }),
    sessions,
    envelopes,
    messenger: createMessenger({ envelopes, redis, onPublishError: (err) => app.log.warn({ err: err.message }, 'publish failed; recipients will read the store') }),
    directory: createDirectoryService({ pool: db.pool, mayExchange }),
    subscriptions: createDeviceSubscriptions(subscriber),
    audit,
    policy,
    admin: {
      accounts: createAdminService({ pool: db.pool, redis, audit }),
      sessions: createAdminSessionStore({ redis }),
      apiTokens: createApiTokenService({ pool: db.pool, audit }),
      users: userAdmin,
      policy: createPolicyAdmin({ pool: db.pool, redis, audit, sessions }),
      bulk,
    },
    queues: { bulk: bulkQueue },
  }
  app.decorate('config', config)
  app.decorate('services', services)
  app.decorate('metrics', createMetrics('gateway'))
  app.addHook('onClose', async () => {
    await bulkQueue.close()
    subscriber.disconnect()
    await redis.quit().catch(() => redis.disconnect())
    await db.close()
  })
}, { name: 'services' })
