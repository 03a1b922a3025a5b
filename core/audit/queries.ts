// Reading the audit log for the admin API: pages of entries newest first (keyset on seq, so
// entries appended between pages shift nothing), the entries about one user and their devices,
// and the devices' failed sign-ins. Entries have the fields of the NDJSON export (docs/audit.md §5.1).
import type pg from 'pg'
import type { JsonObject } from './canonical.ts'
import type { ExportedEntry, ExportFilters } from './export-format.ts'

export const MAX_AUDIT_PAGE = 500

export interface AuditPageQuery extends ExportFilters {
  /** inclusive */
  from?: Date | undefined
  /** exclusive */
  to?: Date | undefined
  /** entries with a seq below this one: the last seq of the previous page */
  beforeSeq?: number | undefined
  limit?: number | undefined
}

export interface FailedAuthentication { at: string; deviceId: string | null; reason: string; sourceIp: string | null }

interface Row {
  seq_text: string; at: Date; actor_type: string; actor_id: string | null; action: string; target_type: string | null
  target_id: string | null; source_ip: string | null; details: JsonObject; prev_hash: Buffer; hash: Buffer
}

// seq as text: int8 may exceed a JS number in principle (toEntry refuses such a seq); named apart
// so that ORDER BY seq stays numeric.
const COLUMNS = 'seq::text AS seq_text, at, actor_type, actor_id, action, target_type, target_id, source_ip, details, prev_hash, hash'

function toEntry(r: Row): ExportedEntry {
  const seq = Number(r.seq_text)
  if (!Number.isSafeInteger(seq)) throw new RangeError(`seq ${r.seq_text} is beyond 2^53`)
  return {
    seq, at: r.at.toISOString(), actorType: r.actor_type, actorId: r.actor_id, action: r.action,
    targetType: r.target_type, targetId: r.target_id, sourceIp: r.source_ip, details: r.details,
    prevHash: r.prev_hash.toString('hex'), hash: r.hash.toString('hex'),
  }
}

export function createAuditQueries(deps: { pool: pg.Pool }) {
  const { pool } = deps

  return {
    /** One page, newest first; `nextSeq` is the value for `beforeSeq` of the next page, or null at the end. */
    async page(q: AuditPageQuery): Promise<{ entries: ExportedEntry[]; nextSeq: number | null }> {
      const limit = Math.min(Math.max(q.limit ?? 100, 1), MAX_AUDIT_PAGE)
      const where: string[] = []
      const params: unknown[] = []
      const add = (sql: string, value: unknown) => { params.push(value); where.push(sql.replace('?', `$${params.length}`)) }
      if (q.from) add('at >= ?', q.from)
      if (q.to) add('at < ?', q.to)
      if (q.beforeSeq !== undefined) add('seq < ?', String(q.beforeSeq))
      if (q.actorType !== undefined) add('actor_type = ?', q.actorType)
      if (q.action !== undefined) add('action = ?', q.action)
      if (q.targetType !== undefined) add('target_type = ?', q.targetType)
      if (q.targetId !== undefined) add('target_id = ?', q.targetId)
      params.push(limit + 1)
      const { rows } = await pool.query<Row>(
        `SELECT ${COLUMNS} FROM audit_entries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.length}`, params)
      const entries = rows.slice(0, limit).map(toEntry)
      return { entries, nextSeq: rows.length > limit ? entries.at(-1)!.seq : null }
    },

    /** The latest entries about a user or their devices (as target, or as the actor), newest first. */
    async about(userId: string, deviceIds: string[], limit = 100): Promise<ExportedEntry[]> {
      const { rows } = await pool.query<Row>(
        `SELECT ${COLUMNS} FROM audit_entries
         WHERE (target_type = 'user' AND target_id = $1) OR (actor_type = 'user' AND actor_id = $1)
            OR (target_type = 'device' AND target_id = ANY($2::text[])) OR (actor_type = 'device' AND actor_id = ANY($2::text[]))
         ORDER BY seq DESC LIMIT $3`, [userId, deviceIds, limit])
      return rows.map(toEntry)
    },

    /** Refused device sign-ins (device.auth_failed, written with the device as actor) since `since`, newest first. */
    async failedDeviceAuthentications(deviceIds: string[], since: Date, limit = 100): Promise<FailedAuthentication[]> {
      if (deviceIds.length === 0) return []
      const { rows } = await pool.query<{ at: Date; actor_id: string | null; reason: string | null; source_ip: string | null }>(
        `SELECT at, actor_id, details->>'reason' AS reason, source_ip FROM audit_entries
         WHERE actor_type = 'device' AND actor_id = ANY($1::text[]) AND action = 'device.auth_failed' AND at >= $2
         ORDER BY seq DESC LIMIT $3`, [deviceIds, since, limit])
      return rows.map((r) => ({ at: r.at.toISOString(), deviceId: r.actor_id, reason: r.reason ?? 'unknown', sourceIp: r.source_ip }))
    },
  }
}

export type AuditQueries = ReturnType<typeof createAuditQueries>
