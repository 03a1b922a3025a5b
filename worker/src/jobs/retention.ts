// Retention: what the store-and-forward tables (and the activity counts) may hold and for how long. Runs in batches so a
// large backlog never holds long locks; idempotent, so a retried job simply finds less to do.
import type pg from 'pg'

const BATCH = 5000

export interface RetentionPolicy { deliveredRetentionHours: number; undeliveredRetentionDays: number; activityRetentionDays: number }
export interface RetentionResult { expiredDeliveries: number; deliveredEnvelopes: number; enrollmentTokens: number; bulkEnrollmentTokens: number; messageCountDays: number }

async function deleteInBatches(pool: pg.Pool, sql: string, params: unknown[]): Promise<number> {
  let total = 0
  for (;;) {
    const { rowCount } = await pool.query(sql, [...params, BATCH])
    total += rowCount ?? 0
    if ((rowCount ?? 0) < BATCH) return total
  }
}

export async function runRetention(pool: pg.Pool, policy: RetentionPolicy): Promise<RetentionResult> {
  const expiredDeliveries = await deleteInBatches(pool, `
    DELETE FROM deliveries WHERE id IN (
      SELECT id FROM deliveries WHERE created_at < now() - make_interval(days => $1) LIMIT $2)`, [policy.undeliveredRetentionDays])
  const deliveredEnvelopes = await deleteInBatches(pool, `
    DELETE FROM envelopes WHERE id IN (
      SELECT e.id FROM envelopes e
      WHERE e.created_at < now() - make_interval(hours => $1)
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.envelope_id = e.id)
      LIMIT $2)`, [policy.deliveredRetentionHours])
  const enrollmentTokens = await deleteInBatches(pool, `
    DELETE FROM enrollment_tokens WHERE id IN (
      SELECT id FROM enrollment_tokens WHERE expires_at < now() - interval '7 days' OR used_at < now() - interval '7 days' LIMIT $1)`, [])
  // Tokens a bulk invite handed out are kept for the administrator to collect only while they can
  // still enroll a device: cleared once expired, used, or voided (offboarding marks them used).
  const bulkEnrollmentTokens = await deleteInBatches(pool, `
    UPDATE bulk_results SET enrollment_token = NULL, enrollment_expires_at = NULL WHERE (operation_id, seq) IN (
      SELECT r.operation_id, r.seq FROM bulk_results r WHERE r.enrollment_token IS NOT NULL AND (r.enrollment_expires_at < now()
        OR EXISTS (SELECT 1 FROM enrollment_tokens t WHERE t.token_hash = sha256(convert_to(r.enrollment_token, 'UTF8')) AND t.used_at IS NOT NULL))
      LIMIT $1)`, [])
  // Per-user daily message counts are metadata about people: kept for the activity view only as long as configured.
  const messageCountDays = await deleteInBatches(pool, `
    DELETE FROM message_counts WHERE (user_id, day) IN (
      SELECT user_id, day FROM message_counts WHERE day < (now() AT TIME ZONE 'UTC')::date - $1::int LIMIT $2)`, [policy.activityRetentionDays])
  return { expiredDeliveries, deliveredEnvelopes, enrollmentTokens, bulkEnrollmentTokens, messageCountDays }
}
