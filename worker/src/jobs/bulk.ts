// Bulk operations: the job runs (or, after a crash or restart, continues) one operation to the end
// through core/admin/bulk.ts, reporting progress after every chunk. A job that gave up on every
// attempt marks its operation failed, so the portal does not wait on it forever.
import type { Job } from 'bullmq'
import type pino from 'pino'
import type { BulkOperations } from '#core/admin/bulk.ts'
import type { BulkJob } from '#core/queues.ts'

export function bulkProcessor(deps: { bulk: BulkOperations; log: pino.Logger }) {
  return async (job: Job<BulkJob>) => {
    const { operationId } = job.data
    const op = await deps.bulk.run(operationId, {
      onProgress: (v) => job.updateProgress({ done: v.done, total: v.total }),
    })
    // null: finished before, or vanished; either way nothing is left to do
    if (op) deps.log.info({ operationId, action: op.action, total: op.total, succeeded: op.succeeded, failed: op.failed }, 'bulk operation done')
    return op ? { total: op.total, succeeded: op.succeeded, failed: op.failed } : null
  }
}

/** After the last attempt failed. */
export async function bulkGaveUp(deps: { bulk: BulkOperations; log: pino.Logger }, job: Job<BulkJob> | undefined, err: Error): Promise<void> {
  if (!job) return
  deps.log.error({ jobId: job.id, operationId: job.data.operationId, attempts: job.attemptsMade, err: err.message }, 'bulk operation attempt failed')
  if (job.attemptsMade < (job.opts.attempts ?? 1)) return
  await deps.bulk.markFailed(job.data.operationId, 'stopped after repeated errors; the users not reached are still pending (see the worker log)')
}
