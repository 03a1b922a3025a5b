// The append-only, hash-chained audit log ("activity protocols"). Appends are serialised by a
// transaction-scoped advisory lock, so seq has no gaps and each entry's prev_hash is the hash of
// the entry before it; the table's triggers refuse UPDATE, DELETE and TRUNCATE. Exports stream by
// seq in bounded batches; verification recomputes every hash (docs/audit.md).
import { isIP } from 'node:net'
import { Readable } from 'node:stream'
import type pg from 'pg'
import type { AuditAction } from './actions.ts'
import { canonicalJson, checkText, entryHash, ZERO_HASH, type JsonObject } from './canonical.ts'
import {
  cleanFilters, csvHeader, csvRow, ndjsonHeader, ndjsonLine,
  type ExportedEntry, type ExportFilters, type ExportFormat, type ExportHeader,
} from './export-format.ts'
import { verifyChain, type Anchor, type VerifyResult } from './verify.ts'

export const ACTOR_TYPES = ['admin', 'device', 'user', 'system', 'api-token'] as const
export type ActorType = (typeof ACTOR_TYPES)[number]

export interface AuditEvent {
  /** who acted; id null only where there is none (e.g. system, or a sign-in for an unknown name) */
  actor: { type: ActorType; id: string | null }
  /** area.verb, e.g. 'admin.login', 'user.lock' (see AUDIT_ACTIONS) */
  action: AuditAction
  target?: { type: string; id: string }
  sourceIp?: string
  /**
   * A JSON object, e.g. { before, after } for a change. Integers only (put other numbers in
   * strings); undefined properties are left out; a Date becomes its ISO string; U+0000 and unpaired
   * surrogates in text become U+FFFD (so quoting client input is safe). NEVER secrets (passwords, tokens, keys,
   * TOTP codes) and never message content: the log is exported to auditors and kept for years.
   */
  details?: Record<string, unknown>
}

export interface AppendResult { seq: number; at: string; hash: string }

/** The transaction client Prisma passes to `prisma.$transaction(async (tx) => …)`. */
export interface PrismaTransaction {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>
}

/** Where a caller's own transaction runs: a pg client after BEGIN, or a Prisma transaction client. */
export type AuditTransaction = pg.ClientBase | PrismaTransaction

export interface ExportQuery extends ExportFilters {
  /** inclusive start of the period */
  from: Date
  /** exclusive end of the period */
  to: Date
  batchSize?: number
}

export interface ExportSummary { count: number; firstSeq: number | null; lastSeq: number | null; lastHash: string | null }

export interface AuditLog {
  /**
   * Appends one entry. Without `tx` it runs in a transaction of its own; with one (a pg client
   * after BEGIN, or Prisma's interactive-transaction client), inside the caller's open READ
   * COMMITTED transaction, so the action and its entry commit or roll back together. The append
   * lock is then held until the caller commits: keep that transaction short.
   */
  append(event: AuditEvent, tx?: AuditTransaction): Promise<AppendResult>
  /**
   * Appends several entries in this order, inside the caller's open pg transaction, with one lock,
   * one head read and one INSERT: for changes made many at a time (bulk operations). All or none.
   */
  appendMany(events: AuditEvent[], tx: pg.ClientBase): Promise<AppendResult[]>
  /** Entries in [from, to) matching the filters, by seq, fetched in batches (flat memory). */
  entries(query: ExportQuery): AsyncGenerator<ExportedEntry>
  /** The same as an NDJSON or CSV byte stream; `onEnd` gets the totals after the last byte. */
  exportEntries(query: ExportQuery & { format?: ExportFormat; onEnd?: (summary: ExportSummary) => void }): Readable
  /** Verifies entries (an export or any other source); see verify.ts. */
  verifyChain: typeof verifyChain
  /** Streams the whole table through verifyChain from seq 1; anchors catch a cut-off end. */
  verifyDatabase(opts?: { anchors?: Iterable<Anchor>; batchSize?: number }): Promise<VerifyResult>
  /** The last entry, to keep as an anchor. */
  head(): Promise<{ seq: number; at: string; hash: string } | null>
}

export class AuditEventError extends TypeError {
  override name = 'AuditEventError'
}

// Any fixed 64-bit key no other lock in the schema uses ("MVMAUDIT" would overflow int8).
const APPEND_LOCK_KEY = 0x4d564d41554454n // "MVMAUDT"
const BATCH_SIZE = 5000
const MAX_DETAILS_BYTES = 64 * 1024
const ACTION_PATTERN = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$/
const TYPE_PATTERN = /^[a-z][a-z0-9_-]*$/
const CONTROL = /[\u0000-\u001f\u007f]/

// After the lock (a statement of its own, so this one's snapshot sees the last committed entry).
// at is the database clock truncated to ms, never earlier than the last entry's: the log's order
// and its time order agree, so a period [from, to) is one contiguous run of seq.
const LOCK_SQL = `SELECT pg_advisory_xact_lock(${APPEND_LOCK_KEY})`
const HEAD_SQL = `SELECT last.seq::text AS seq, last.hash,
  GREATEST(date_trunc('milliseconds', clock_timestamp()), last.at) AS at, current_setting('transaction_isolation') AS isolation
  FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT seq, hash, at FROM audit_entries ORDER BY seq DESC LIMIT 1) AS last ON true`
// Many entries at once: the same columns, one array each.
const INSERT_MANY_SQL = `INSERT INTO audit_entries
  (seq, at, actor_type, actor_id, action, target_type, target_id, source_ip, details, prev_hash, hash)
  SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[], $10::bytea[], $11::bytea[])`
const INSERT_SQL = `INSERT INTO audit_entries
  (seq, at, actor_type, actor_id, action, target_type, target_id, source_ip, details, prev_hash, hash)
  VALUES ($1::bigint, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)`
// seq as text (int8 exceeds a JS number in principle); named apart so that ORDER BY seq stays numeric.
const COLUMNS = `seq::text AS seq_text, at, actor_type, actor_id, action, target_type, target_id, source_ip, details, prev_hash, hash`

interface Row {
  seq_text: string; at: Date; actor_type: string; actor_id: string | null; action: string; target_type: string | null
  target_id: string | null; source_ip: string | null; details: JsonObject; prev_hash: Buffer; hash: Buffer
}

interface HeadRow { seq: string | null; hash: Uint8Array | null; at: Date; isolation: string }

interface CheckedEvent {
  actorType: ActorType; actorId: string | null; action: string; targetType: string | null; targetId: string | null
  sourceIp: string | null; details: JsonObject; detailsJson: string
}

function checkEvent(event: AuditEvent): CheckedEvent {
  const fail = (msg: string): never => { throw new AuditEventError(`audit event: ${msg}`) }
  const text = (v: unknown, name: string, max: number): string => {
    if (typeof v !== 'string' || v.length === 0 || v.length > max) fail(`${name} must be a string of 1 to ${max} characters`)
    if (CONTROL.test(v as string)) fail(`${name} contains control characters`)
    try { checkText(v as string, name) } catch (err) { fail((err as Error).message) }
    return v as string
  }
  if (!event || typeof event !== 'object') fail('not an object')
  if (!event.actor || !(ACTOR_TYPES as readonly string[]).includes(event.actor.type)) fail(`actor.type must be one of ${ACTOR_TYPES.join(', ')}`)
  const actorId = event.actor.id === null ? null : text(event.actor.id, 'actor.id', 256)
  if (typeof event.action !== 'string' || event.action.length > 64 || !ACTION_PATTERN.test(event.action)) fail(`action must look like area.verb (lowercase, at most 64 characters), got ${JSON.stringify(event.action)}`)
  let targetType: string | null = null
  let targetId: string | null = null
  if (event.target !== undefined) {
    targetType = text(event.target?.type, 'target.type', 32)
    if (!TYPE_PATTERN.test(targetType)) fail('target.type must be a lowercase name such as user, device, admin, api-token')
    targetId = text(event.target.id, 'target.id', 256)
  }
  let sourceIp: string | null = null
  if (event.sourceIp !== undefined) {
    sourceIp = text(event.sourceIp, 'sourceIp', 45)
    if (isIP(sourceIp) === 0) fail(`sourceIp ${JSON.stringify(sourceIp)} is not an IP address`)
  }
  const details = event.details ?? {}
  if (typeof details !== 'object' || details === null || Array.isArray(details)) fail('details must be a JSON object')
  let detailsJson = ''
  try { detailsJson = canonicalJson(sanitiseDetails(details)) } catch (err) { fail(`details${(err as Error).message.slice(1)}`) }
  if (Buffer.byteLength(detailsJson) > MAX_DETAILS_BYTES) fail(`details exceed ${MAX_DETAILS_BYTES} bytes`)
  return {
    actorType: event.actor.type, actorId, action: event.action, targetType, targetId, sourceIp,
    details: JSON.parse(detailsJson) as JsonObject, detailsJson,
  }
}

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * Details often quote what a client sent (a username at a failed sign-in), so text that cannot be
 * stored is mended rather than refused: U+0000 (jsonb cannot hold it) and unpaired surrogates (no
 * UTF-8 form) become U+FFFD, and a Date becomes its ISO string. What is stored is what is hashed.
 */
function sanitiseDetails(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(UNSTORABLE, '\uFFFD')
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return value // refused by canonicalJson with its path
    return value.toISOString()
  }
  if (depth > 40 || typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map((v) => sanitiseDetails(v, depth + 1))
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k.replace(UNSTORABLE, '\uFFFD')] = sanitiseDetails(v, depth + 1)
  return out
}

function toSeq(text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new RangeError(`seq ${text} is beyond 2^53`)
  return n
}

function toEntry(r: Row): ExportedEntry {
  return {
    seq: toSeq(r.seq_text), at: r.at.toISOString(), actorType: r.actor_type, actorId: r.actor_id, action: r.action,
    targetType: r.target_type, targetId: r.target_id, sourceIp: r.source_ip, details: r.details,
    prevHash: r.prev_hash.toString('hex'), hash: r.hash.toString('hex'),
  }
}

export function createAuditLog(deps: { pool: pg.Pool }): AuditLog {
  const { pool } = deps

  /** Under the lock: the next entry after `head`, hashed, and the INSERT parameters for it. */
  function next(head: HeadRow, ev: CheckedEvent): { result: AppendResult; params: unknown[] } {
    if (head.isolation !== 'read committed') {
      throw new AuditEventError(`append needs a READ COMMITTED transaction (this one is ${head.isolation}): a snapshot older than the lock would reuse a seq`)
    }
    const seq = head.seq === null ? 1 : toSeq(head.seq) + 1
    const prevHash = head.hash === null ? ZERO_HASH : Buffer.from(head.hash)
    const at = head.at.toISOString()
    const hash = entryHash({ seq, at, ...ev }, prevHash)
    return {
      result: { seq, at, hash: hash.toString('hex') },
      params: [String(seq), at, ev.actorType, ev.actorId, ev.action, ev.targetType, ev.targetId, ev.sourceIp, ev.detailsJson, prevHash, hash],
    }
  }

  /**
   * Appends `evs` in order on a pg client. One round trip opens (BEGIN, or a savepoint in the
   * caller's transaction), takes the lock and reads the head: in READ COMMITTED each statement of a
   * simple-query string takes its own snapshot, so the head is read after the lock is held. Then
   * one INSERT for all; they share the one clock reading and take consecutive seqs.
   */
  async function appendWithPg(client: pg.ClientBase, evs: CheckedEvent[], opening: 'BEGIN' | 'SAVEPOINT mvm_audit_append'): Promise<AppendResult[]> {
    const opened = await client.query(`${opening}; ${LOCK_SQL}; ${HEAD_SQL}`) as unknown as pg.QueryResult[]
    let head = opened[2]!.rows[0] as HeadRow
    const results: AppendResult[] = []
    const columns: unknown[][] = Array.from({ length: 11 }, () => [])
    for (const ev of evs) {
      const { result, params } = next(head, ev)
      results.push(result)
      params.forEach((v, i) => columns[i]!.push(v))
      head = { ...head, seq: String(result.seq), hash: params[10] as Buffer }
    }
    if (evs.length === 1) await client.query(INSERT_SQL, columns.map((c) => c[0]))
    else await client.query(INSERT_MANY_SQL, columns)
    return results
  }

  async function appendWithPrisma(tx: PrismaTransaction, ev: CheckedEvent): Promise<AppendResult> {
    await tx.$executeRawUnsafe(LOCK_SQL)
    const [head] = await tx.$queryRawUnsafe<HeadRow[]>(HEAD_SQL)
    const { result, params } = next(head!, ev)
    await tx.$executeRawUnsafe(INSERT_SQL, ...params)
    return result
  }

  /**
   * Runs `work` (which opens the savepoint) inside the caller's transaction. A savepoint fails
   * outside a transaction block, where the xact lock would end with the statement; it also leaves
   * the caller's transaction usable when the append fails.
   */
  async function inCallersTransaction<T>(tx: AuditTransaction, outside: string, work: () => Promise<T>): Promise<T> {
    const exec = async (sql: string): Promise<unknown> => ('$executeRawUnsafe' in tx ? tx.$executeRawUnsafe(sql) : tx.query(sql))
    try {
      const result = await work()
      await exec('RELEASE SAVEPOINT mvm_audit_append')
      return result
    } catch (err) {
      if (/SAVEPOINT can only be used in transaction blocks/.test((err as Error).message)) throw new AuditEventError(outside, { cause: err })
      await exec('ROLLBACK TO SAVEPOINT mvm_audit_append').catch(() => {})
      throw err
    }
  }

  async function appendMany(events: AuditEvent[], tx: pg.ClientBase): Promise<AppendResult[]> {
    const checked = events.map(checkEvent)
    if (checked.length === 0) return []
    return inCallersTransaction(tx, 'appendMany(events, tx): tx must be a pg client inside a transaction',
      () => appendWithPg(tx, checked, 'SAVEPOINT mvm_audit_append'))
  }

  async function append(event: AuditEvent, tx?: AuditTransaction): Promise<AppendResult> {
    const ev = checkEvent(event)
    if (tx) {
      return inCallersTransaction(tx, 'append(event, tx): tx must be inside a transaction (a pg client after BEGIN, or the client Prisma passes to $transaction), or pass none', async () => {
        if (!('$executeRawUnsafe' in tx)) return (await appendWithPg(tx, [ev], 'SAVEPOINT mvm_audit_append'))[0]!
        await tx.$executeRawUnsafe('SAVEPOINT mvm_audit_append')
        return appendWithPrisma(tx, ev)
      })
    }
    const own = await pool.connect()
    try {
      const [result] = await appendWithPg(own, [ev], 'BEGIN')
      await own.query('COMMIT')
      own.release()
      return result!
    } catch (err) {
      const rolledBack = await own.query('ROLLBACK').then(() => true, () => false)
      own.release(rolledBack ? undefined : true)
      throw err
    }
  }

  /**
   * Entries with lo <= seq <= hi, read in windows of `batch` seqs: each query touches at most that
   * many rows whatever plan PostgreSQL picks, and no transaction or snapshot stays open while a
   * slow reader downloads. The period's bounds were fixed up front, so later appends stay out.
   */
  async function* scan(range: { lo: number; hi: number; filters?: ExportFilters; batchSize?: number }): AsyncGenerator<ExportedEntry> {
    const batch = range.batchSize ?? BATCH_SIZE
    const where = ['seq >= $1', 'seq <= $2']
    const params: unknown[] = [null, null]
    const add = (sql: string, value: unknown) => { params.push(value); where.push(sql.replace('?', `$${params.length}`)) }
    const f = range.filters ?? {}
    if (f.actorType !== undefined) add('actor_type = ?', f.actorType)
    if (f.action !== undefined) add('action = ?', f.action)
    if (f.targetType !== undefined) add('target_type = ?', f.targetType)
    if (f.targetId !== undefined) add('target_id = ?', f.targetId)
    const sql = `SELECT ${COLUMNS} FROM audit_entries WHERE ${where.join(' AND ')} ORDER BY seq`
    let next = range.lo
    while (next <= range.hi) {
      const last = Math.min(next + batch - 1, range.hi)
      params[0] = String(next)
      params[1] = String(last)
      const { rows } = await pool.query<Row>(sql, params)
      for (const row of rows) yield toEntry(row)
      next = last + 1
      if (rows.length === 0 && next <= range.hi) {
        // Rows missing (removed behind the triggers' back) or a forged far-away seq: skip the hole.
        const { rows: [gap] } = await pool.query<{ seq: string | null }>('SELECT min(seq)::text AS seq FROM audit_entries WHERE seq >= $1', [String(next)])
        next = gap?.seq == null ? range.hi + 1 : toSeq(gap.seq)
      }
    }
  }

  /** The seq run of [from, to): at never decreases along seq, so the period is contiguous. */
  async function bounds(from: Date, to: Date): Promise<{ lo: number; hi: number } | null> {
    const { rows } = await pool.query<{ lo: string | null; hi: string | null }>(
      `SELECT (SELECT seq FROM audit_entries WHERE at >= $1 AND at < $2 ORDER BY at, seq LIMIT 1)::text AS lo,
              (SELECT seq FROM audit_entries WHERE at >= $1 AND at < $2 ORDER BY at DESC, seq DESC LIMIT 1)::text AS hi`,
      [from, to])
    const { lo, hi } = rows[0]!
    return lo === null || hi === null ? null : { lo: toSeq(lo), hi: toSeq(hi) }
  }

  function checkQuery(q: ExportQuery): void {
    for (const k of ['from', 'to'] as const) {
      if (!(q[k] instanceof Date) || Number.isNaN(q[k].getTime())) throw new AuditEventError(`export: ${k} must be a valid Date`)
    }
  }

  async function* entries(q: ExportQuery): AsyncGenerator<ExportedEntry> {
    checkQuery(q)
    const range = await bounds(q.from, q.to)
    if (!range) return
    yield* scan({ ...range, filters: cleanFilters(q), ...(q.batchSize ? { batchSize: q.batchSize } : {}) })
  }

  function exportEntries(q: ExportQuery & { format?: ExportFormat; onEnd?: (summary: ExportSummary) => void }): Readable {
    checkQuery(q)
    const format = q.format ?? 'ndjson'
    if (format !== 'ndjson' && format !== 'csv') throw new AuditEventError(`export: unknown format ${String(format)}`)
    const filters = cleanFilters(q)
    async function* chunks(): AsyncGenerator<string> {
      const range = await bounds(q.from, q.to)
      const header: ExportHeader = {
        mvmAuditExport: 1, from: q.from.toISOString(), to: q.to.toISOString(), filters,
        firstSeq: range?.lo ?? null, lastSeq: range?.hi ?? null,
      }
      yield format === 'ndjson' ? ndjsonHeader(header) : csvHeader
      const summary: ExportSummary = { count: 0, firstSeq: null, lastSeq: null, lastHash: null }
      if (range) {
        let buffered = ''
        for await (const e of scan({ ...range, filters, ...(q.batchSize ? { batchSize: q.batchSize } : {}) })) {
          buffered += format === 'ndjson' ? ndjsonLine(e) : csvRow(e)
          summary.count++
          summary.firstSeq ??= e.seq
          summary.lastSeq = e.seq
          summary.lastHash = e.hash
          if (buffered.length >= 64 * 1024) { yield buffered; buffered = '' }
        }
        if (buffered) yield buffered
      }
      q.onEnd?.(summary)
    }
    return Readable.from(chunks(), { objectMode: false })
  }

  return {
    append,
    appendMany,
    entries,
    exportEntries,
    verifyChain,
    async verifyDatabase(opts = {}) {
      const { rows: [top] } = await pool.query<{ lo: string | null; hi: string | null }>('SELECT min(seq)::text AS lo, max(seq)::text AS hi FROM audit_entries')
      const range = top?.lo == null || top.hi == null ? { lo: 1, hi: 0 } : { lo: toSeq(top.lo), hi: toSeq(top.hi) }
      return verifyChain(scan({ ...range, ...(opts.batchSize ? { batchSize: opts.batchSize } : {}) }), {
        fromGenesis: true, ...(opts.anchors ? { anchors: opts.anchors } : {}),
      })
    },
    async head() {
      const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} FROM audit_entries ORDER BY seq DESC LIMIT 1`)
      if (rows.length === 0) return null
      const e = toEntry(rows[0]!)
      return { seq: e.seq, at: e.at, hash: e.hash }
    },
  }
}

export { AUDIT_ACTIONS, type AuditAction, type KnownAuditAction } from './actions.ts'
export { canonicalJson, entryHash, hashBody, ZERO_HASH, type HashedFields, type JsonObject, type JsonValue } from './canonical.ts'
export { readExport, isFiltered, neutraliseCell, ExportFormatError, type ExportedEntry, type ExportFilters, type ExportFormat, type ExportHeader } from './export-format.ts'
export { verifyChain, verifyExport, type Anchor, type VerifyOptions, type VerifyResult } from './verify.ts'
