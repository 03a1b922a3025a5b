// The worker process's parts, built from config: BullMQ workers (one per queue contract) and
// the schedules of periodic jobs. main.ts runs it; tests build it against real services.
import { Queue, Worker } from 'bullmq'
import type pino from 'pino'
import type { Config } from '#core/config.ts'
import { createDb } from '#core/db/client.ts'
import { QUEUE_PREFIX, Queues } from '#core/queues.ts'
import { createMetrics } from '#core/metrics.ts'
import { redisOptions } from '#core/redis.ts'
import { runRetention } from './jobs/retention.ts'

/** `prefix` namespaces the queues in Redis (tests use their own, so runs never share jobs). */
export async function startWorker(config: Config, log: pino.Logger, opts: { schedule?: boolean; prefix?: string } = {}) {
  const prefix = opts.prefix ?? QUEUE_PREFIX
  const db = createDb(config.DATABASE_URL, { poolSize: 4, onError: (err) => log.warn({ err: err.message }, 'database pool error') })
  // BullMQ opens (and on close, closes) its own connections; they block, so they must not give up on requests.
  const connection = redisOptions(config, { maxRetriesPerRequest: null })

  const retentionQueue = new Queue(Queues.retention.name, { connection, prefix })
  if (opts.schedule !== false) await retentionQueue.upsertJobScheduler('retention-periodic', { every: Queues.retention.everyMs }, { name: 'retention', data: {}, opts: Queues.retention.opts })

  const retention = new Worker(Queues.retention.name, async () => {
    const result = await runRetention(db.pool, {
      deliveredRetentionHours: config.MVM_DELIVERED_RETENTION_HOURS,
      undeliveredRetentionDays: config.MVM_UNDELIVERED_RETENTION_DAYS,
    })
    log.info(result, 'retention done')
    return result
  }, { connection, prefix, concurrency: 1 })
  retention.on('failed', (job, err) => log.error({ jobId: job?.id, err: err.message }, 'retention failed'))

  const metrics = createMetrics('worker')
  const queues = [retentionQueue]
  // Queue depths are read from Redis when Prometheus scrapes, not polled.
  const collectDepths = async () => {
    for (const queue of queues) {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed')
      for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ queue: queue.name, state }, n)
    }
  }

  return {
    queues: { retention: retentionQueue },
    metrics,
    collectDepths,
    workers: [retention],
    /** Stop intake, let running jobs finish, then close Redis and the database; `purge` (tests) also deletes the queues' keys. */
    async close(opts: { purge?: boolean } = {}) {
      const workers = [retention]
      await Promise.all(workers.map((w) => w.close()))
      if (opts.purge) await retentionQueue.obliterate({ force: true })
      await retentionQueue.close()
      await db.close()
    },
  }
}
