// The worker process's parts, built from config: BullMQ workers (one per queue contract) and
// the schedules of periodic jobs. main.ts runs it; tests build it against real services.
import { Queue, Worker } from 'bullmq'
import type pino from 'pino'
import type { Config } from '#core/config.ts'
import { createDb } from '#core/db/client.ts'
import { Queues, type BulkJob } from '#core/queues.ts'
import { createMetrics } from '#core/metrics.ts'
import { createRedis, redisOptions } from '#core/redis.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'
import { createSessionService } from '#core/identity/sessions.ts'
import { createUserAdmin } from '#core/admin/users.ts'
import { createBulkOperations } from '#core/admin/bulk.ts'
import { runRetention } from './jobs/retention.ts'
import { bulkGaveUp, bulkProcessor } from './jobs/bulk.ts'

/** `prefix` namespaces the queues in Redis (tests use their own, so runs never share jobs). */
export async function startWorker(config: Config, log: pino.Logger, opts: { schedule?: boolean; prefix?: string } = {}) {
  const prefix = opts.prefix ?? config.MVM_QUEUE_PREFIX
  const db = createDb(config.DATABASE_URL, { poolSize: 4, onError: (err) => log.warn({ err: err.message }, 'database pool error') })
  // BullMQ opens (and on close, closes) its own connections; they block, so they must not give up on requests.
  const connection = redisOptions(config, { maxRetriesPerRequest: null })

  const retentionQueue = new Queue(Queues.retention.name, { connection, prefix })
  if (opts.schedule !== false) await retentionQueue.upsertJobScheduler('retention-periodic', { every: Queues.retention.everyMs }, { name: 'retention', data: {}, opts: Queues.retention.opts })

  const retention = new Worker(Queues.retention.name, async () => {
    const result = await runRetention(db.pool, {
      deliveredRetentionHours: config.MVM_DELIVERED_RETENTION_HOURS,
      undeliveredRetentionDays: config.MVM_UNDELIVERED_RETENTION_DAYS,
      activityRetentionDays: config.MVM_ACTIVITY_RETENTION_DAYS,
    })
    log.info(result, 'retention done')
    return result
  }, { connection, prefix, concurrency: 1 })
  retention.on('failed', (job, err) => log.error({ jobId: job?.id, err: err.message }, 'retention failed'))

  // Bulk operations end sessions and announce changes (Redis) and write audit entries, as the
  // gateway's single-user operations do.
  const redis = createRedis(config, { maxRetriesPerRequest: 3 })
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'))
  const audit = createAuditLog({ pool: db.pool })
  const sessions = createSessionService({ prisma: db.prisma, redis, ttlSeconds: config.MVM_SESSION_TTL_SECONDS })
  const users = createUserAdmin({ pool: db.pool, redis, sessions, audit, enrollmentTtlHours: config.MVM_ENROLLMENT_TTL_HOURS })
  const bulkOps = createBulkOperations({ pool: db.pool, redis, sessions, audit, users })
  const bulkQueue = new Queue<BulkJob>(Queues.bulk.name, { connection, prefix })
  const bulk = new Worker<BulkJob>(Queues.bulk.name, bulkProcessor({ bulk: bulkOps, log }), { connection, prefix, ...Queues.bulk.worker })
  bulk.on('failed', (job, err) => void bulkGaveUp({ bulk: bulkOps, log }, job, err).catch((e: Error) => log.error({ err: e.message }, 'marking a bulk operation failed')))
  // Operations whose job was never added (created while the queue was unreachable), at start and
  // every minute; the job id makes this a no-op for every operation whose job exists.
  const sweep = async () => {
    for (const id of await bulkOps.unfinished()) await bulkQueue.add('bulk', { operationId: id }, { ...Queues.bulk.opts, jobId: id })
  }
  await sweep()
  const sweeper = setInterval(() => void sweep().catch((err: Error) => log.warn({ err: err.message }, 'bulk sweep failed')), Queues.bulk.sweepEveryMs)
  sweeper.unref()

  const metrics = createMetrics('worker')
  const queues = [retentionQueue, bulkQueue]
  // Queue depths are read from Redis when Prometheus scrapes, not polled.
  const collectDepths = async () => {
    for (const queue of queues) {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed')
      for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ queue: queue.name, state }, n)
    }
  }

  return {
    queues: { retention: retentionQueue, bulk: bulkQueue },
    metrics,
    collectDepths,
    workers: [retention, bulk],
    /** Stop intake, let running jobs finish, then close Redis and the database; `purge` (tests) also deletes the queues' keys. */
    async close(opts: { purge?: boolean } = {}) {
      clearInterval(sweeper)
      const workers = [retention, bulk]
      await Promise.all(workers.map((w) => w.close()))
      if (opts.purge) await Promise.all([retentionQueue, bulkQueue].map((q) => q.obliterate({ force: true })))
      await Promise.all([retentionQueue.close(), bulkQueue.close()])
      await redis.quit().catch(() => redis.disconnect())
      await db.close()
    },
  }
}
