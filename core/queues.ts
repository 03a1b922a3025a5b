// Queue contracts: one definition of name, payload and job options, shared by the producers
// (gateway, admin tools) and the consumers in worker/.
import { Type, type Static } from 'typebox'
import type { JobsOptions } from 'bullmq'

/** BullMQ key prefix in Redis for every queue of the product (MVM_QUEUE_PREFIX's default). */
export const QUEUE_PREFIX = 'mvm'

export const RetentionPayload = Type.Object({}, { additionalProperties: false })
export const BulkPayload = Type.Object({ operationId: Type.String({ format: 'uuid' }) }, { additionalProperties: false })

export const Queues = {
  retention: {
    name: 'retention',
    payload: RetentionPayload,
    opts: { attempts: 5, backoff: { type: 'exponential', delay: 10_000 }, removeOnComplete: 100, removeOnFail: 500 } satisfies JobsOptions,
    /** Runs on this schedule from every worker; BullMQ's job scheduler keeps one instance. */
    everyMs: 10 * 60_000,
  },
  /** One job per bulk operation (jobId = operation id); its rows in bulk_results are the work list. */
  bulk: {
    name: 'bulk',
    payload: BulkPayload,
    opts: { attempts: 10, backoff: { type: 'exponential', delay: 2_000 }, removeOnComplete: 1000, removeOnFail: 1000 } satisfies JobsOptions,
    // A killed worker's job is taken up again after at most lockDuration + stalledInterval; the
    // rows it finished are committed, so the next run continues with the pending ones.
    worker: { concurrency: 2, lockDuration: 10_000, stalledInterval: 5_000, maxStalledCount: 10 },
    /** How often workers enqueue operations whose job was never added. */
    sweepEveryMs: 60_000,
  },
} as const

export type RetentionJob = Static<typeof RetentionPayload>
export type BulkJob = Static<typeof BulkPayload>
