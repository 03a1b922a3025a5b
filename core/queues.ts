// Queue contracts: one definition of name, payload and job options, shared by the producers
// (gateway, admin tools) and the consumers in worker/.
import { Type, type Static } from 'typebox'
import type { JobsOptions } from 'bullmq'

/** BullMQ key prefix in Redis for every queue of the product. */
export const QUEUE_PREFIX = 'mvm'

export const RetentionPayload = Type.Object({}, { additionalProperties: false })

export const Queues = {
  retention: {
    name: 'retention',
    payload: RetentionPayload,
    opts: { attempts: 5, backoff: { type: 'exponential', delay: 10_000 }, removeOnComplete: 100, removeOnFail: 500 } satisfies JobsOptions,
    /** Runs on this schedule from every worker; BullMQ's job scheduler keeps one instance. */
    everyMs: 10 * 60_000,
  },
} as const

export type RetentionJob = Static<typeof RetentionPayload>
