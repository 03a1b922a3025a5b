// Test fixtures: a valid chain built in JS at chosen times (append() takes the database clock, so
// boundary tests and the 100,000-entry export need rows written directly), a pool on a fresh
// database, and an independent re-implementation of the documented hash.
import { createHash } from 'node:crypto'
import pg from 'pg'
import { entryHash, ZERO_HASH, type JsonObject } from '../canonical.ts'
import type { ExportedEntry } from '../export-format.ts'
import { freshDatabase } from '../../../test/support/services.ts'

interface Teardown { teardown(fn: () => unknown): void }

export async function freshPool(t: Teardown, max = 5): Promise<{ url: string; pool: pg.Pool }> {
  const url = await freshDatabase(t)
  const pool = new pg.Pool({ connectionString: url, max })
  pool.on('error', () => {}) // idle clients die when the database is dropped at teardown
  t.teardown(() => pool.end().catch(() => {}))
  return { url, pool }
}

export interface FixtureEvent {
  at: Date
  actorType?: string
  actorId?: string | null
  action?: string
  targetType?: string | null
  targetId?: string | null
  sourceIp?: string | null
  details?: JsonObject
}

/** A chain continuing after `prev` (seq and hash), one entry per event. */
export function* buildChain(events: Iterable<FixtureEvent>, prev: { seq: number; hash: Buffer } = { seq: 0, hash: ZERO_HASH }): Generator<ExportedEntry> {
  let { seq, hash } = prev
  for (const ev of events) {
    seq++
    const fields = {
      seq, at: ev.at.toISOString(), actorType: ev.actorType ?? 'system', actorId: ev.actorId ?? null,
      action: ev.action ?? 'fixture.event', targetType: ev.targetType ?? null, targetId: ev.targetId ?? null,
      sourceIp: ev.sourceIp ?? null, details: ev.details ?? {},
    }
    const next = entryHash(fields, hash)
    yield { ...fields, prevHash: hash.toString('hex'), hash: next.toString('hex') }
    hash = next
  }
}

/** Writes entries with one INSERT … SELECT FROM unnest per batch. */
export async function insertEntries(pool: pg.Pool, entries: Iterable<ExportedEntry>, batchSize = 10_000): Promise<number> {
  let batch: ExportedEntry[] = []
  let total = 0
  const flush = async () => {
    if (batch.length === 0) return
    const col = <K extends keyof ExportedEntry>(k: K) => batch.map((e) => e[k])
    await pool.query(
      `INSERT INTO audit_entries (seq, at, actor_type, actor_id, action, target_type, target_id, source_ip, details, prev_hash, hash)
       SELECT seq, at, actor_type, actor_id, action, target_type, target_id, source_ip, details::jsonb, decode(prev_hash, 'hex'), decode(hash, 'hex')
       FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
         AS u(seq, at, actor_type, actor_id, action, target_type, target_id, source_ip, details, prev_hash, hash)`,
      [col('seq'), col('at'), col('actorType'), col('actorId'), col('action'), col('targetType'), col('targetId'), col('sourceIp'),
        batch.map((e) => JSON.stringify(e.details)), col('prevHash'), col('hash')])
    total += batch.length
    batch = []
  }
  for (const e of entries) {
    batch.push(e)
    if (batch.length >= batchSize) await flush()
  }
  await flush()
  return total
}

/** The hash exactly as docs/audit.md §3 describes it, written without the module under test. */
export function documentedHash(e: Omit<ExportedEntry, 'hash'>): string {
  const canonical = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>
      return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`
    }
    return JSON.stringify(v)
  }
  const body = canonical([String(e.seq), e.at, e.actorType, e.actorId, e.action, e.targetType, e.targetId, e.sourceIp, e.details])
  return createHash('sha256').update(Buffer.from(e.prevHash, 'hex')).update(Buffer.from(body, 'utf8')).digest('hex')
}

export async function collect(stream: AsyncIterable<Buffer | string>): Promise<string> {
  const parts: string[] = []
  for await (const chunk of stream) parts.push(chunk.toString())
  return parts.join('')
}
