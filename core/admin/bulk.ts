// Bulk operations (docs/admin-api.md §11): one action on many users. Creating one (in the gateway)
// checks it, writes every target user as a pending row of bulk_results and the bulk.started entry
// in one transaction, so the total is fixed; running it (in the worker) takes the pending rows in
// chunks, each chunk one transaction with a savepoint per user (lock and unlock: one statement for
// the chunk, with the same per-user refusals): each user's change, its audit
// entry, its outcome and the progress counters commit together, and a user who cannot be changed
// (not found, offboarded, in the pool already, username taken…) is recorded with the error code and
// does not stop the rest. A run that was killed leaves its current chunk uncommitted and pending,
// so the next run continues exactly where the last commit left off. After each chunk commits, its
// sessions are ended and gateways told, as the single-user operations do.
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import { inTransaction } from '../db/client.ts'
import {
  BadRequest, BulkOperationNotFound, PoolMemberExists, PoolMemberNotFound, PoolNotFound, UserNotFound,
  UsernameTaken, WhitelistEntryExists, WhitelistEntryNotFound,
} from '../errors.ts'
import type { AuditLog } from '../audit/audit-log.ts'
import type { SessionService } from '../identity/sessions.ts'
import { announceUserChanged, announceUsersRevoked } from '../messaging/recipient-cache.ts'
import { announcePolicyChanged } from '../policy/policy.ts'
import { endUnlistedSessions, findUnlisted, type Unlisted } from '../policy/unlisted.ts'
import { actorOf, type Actor } from './actor.ts'
import type { Right } from './roles.ts'
import { userFilterSql, type UserFilter } from './user-filter.ts'
import type { NewUser, UserAdmin } from './users.ts'

export const BULK_ACTIONS = ['lock', 'unlock', 'offboard', 'invite', 'pool.add', 'pool.remove', 'whitelist.add', 'whitelist.remove'] as const
export type BulkAction = (typeof BULK_ACTIONS)[number]
export type BulkState = 'queued' | 'running' | 'done' | 'failed'

/** The right an administrator needs for each action (the route itself needs only users:read). */
export const ACTION_RIGHTS: Record<BulkAction, Right> = {
  lock: 'users:lock',
  unlock: 'users:lock',
  offboard: 'users:write',
  invite: 'users:invite',
  'pool.add': 'policy:manage',
  'pool.remove': 'policy:manage',
  'whitelist.add': 'policy:manage',
  'whitelist.remove': 'policy:manage',
}

export const MAX_BULK_USER_IDS = 10_000
export const MAX_BULK_NEW_USERS = 1000
/** What a filter may select; more is refused (narrow the filter or split the operation). */
export const MAX_BULK_TARGETS = 100_000
export const MAX_RESULTS_PAGE = 1000
const DEFAULT_CHUNK = 250

export interface BulkRequest {
  action: BulkAction
  userIds?: string[] | undefined
  filter?: UserFilter | undefined
  poolId?: string | undefined
  users?: NewUser[] | undefined
}

export interface BulkOperationView {
  id: string
  action: BulkAction
  state: BulkState
  total: number
  done: number
  succeeded: number
  failed: number
  poolId: string | null
  createdBy: { type: string; id: string }
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  error: string | null
}

export interface BulkResultView {
  userId: string | null
  username: string | null
  ok: boolean
  error: { code: string; message: string } | null
  /** invite: the one-time token (turned into a link by the API) while it is kept */
  enrollment?: { token: string; expiresAt: string }
}

interface OperationRow {
  id: string; action: BulkAction; state: BulkState; pool_id: string | null; total: number; succeeded: number; failed: number
  created_by_type: string; created_by_id: string; source_ip: string | null; created_at: Date; started_at: Date | null
  finished_at: Date | null; error: string | null
}

interface PendingRow { seq: number; user_id: string | null; username: string | null; new_user: NewUser | null }

interface Outcome {
  seq: number
  ok: boolean
  userId: string | null
  username: string | null
  code?: string
  message?: string
  token?: string
  expiresAt?: string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

function view(r: OperationRow): BulkOperationView {
  return {
    id: r.id, action: r.action, state: r.state, total: r.total, done: r.succeeded + r.failed, succeeded: r.succeeded, failed: r.failed,
    poolId: r.pool_id, createdBy: { type: r.created_by_type, id: r.created_by_id }, createdAt: r.created_at.toISOString(),
    startedAt: r.started_at?.toISOString() ?? null, finishedAt: r.finished_at?.toISOString() ?? null, error: r.error,
  }
}

function actorOfRow(r: OperationRow): Actor {
  return { type: r.created_by_type as Actor['type'], id: r.created_by_id, ...(r.source_ip ? { sourceIp: r.source_ip } : {}) }
}

/** A refusal that belongs to one user (a coded 4xx), as opposed to a failure of the run itself. */
function userError(err: unknown): { code: string; message: string } | null {
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown }
  if (typeof e?.code === 'string' && e.code.startsWith('MVM_') && typeof e.statusCode === 'number' && e.statusCode < 500) {
    return { code: e.code, message: String(e.message).slice(0, 512) }
  }
  return null
}

function encodeCursor(seq: number): string { return Buffer.from(String(seq)).toString('base64url') }
function decodeCursor(cursor: string): number {
  const seq = Number(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (!Number.isSafeInteger(seq) || seq < 0) throw new BadRequest('cursor is not one this API returned')
  return seq
}

export function createBulkOperations(deps: {
  pool: pg.Pool
  redis: Redis
  sessions: Pick<SessionService, 'revokeDevices'>
  audit: Pick<AuditLog, 'append'>
  users: Pick<UserAdmin, 'inTransaction'>
  /** Hands an operation to the worker (the gateway's queue); absent where nothing is enqueued. */
  enqueue?: (operationId: string) => Promise<void>
  /** The queue did not take it: the operation stays queued and the workers' sweep enqueues it again. */
  onEnqueueError?: (err: Error, operationId: string) => void
  chunkSize?: number
}) {
  const { pool, audit } = deps
  const chunkSize = deps.chunkSize ?? DEFAULT_CHUNK
  const steps = deps.users.inTransaction

  async function load(id: string, client: pg.Pool | pg.PoolClient = pool, lock = false): Promise<OperationRow | undefined> {
    const { rows } = await client.query<OperationRow>(`SELECT * FROM bulk_operations WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id])
    return rows[0]
  }

  /** Writes the target set as pending rows; returns how many. */
  async function resolveTargets(client: pg.PoolClient, id: string, req: BulkRequest): Promise<number> {
    if (req.userIds) {
      const ids = [...new Set(req.userIds.map((u) => u.toLowerCase()))]
      if (ids.some((u) => !UUID.test(u))) throw new BadRequest('userIds holds something that is not a user id')
      const res = await client.query(
        `INSERT INTO bulk_results (operation_id, seq, user_id, username)
         SELECT $1, t.ord, t.id, u.username FROM unnest($2::uuid[]) WITH ORDINALITY AS t(id, ord) LEFT JOIN users u ON u.id = t.id`,
        [id, ids])
      return res.rowCount ?? 0
    }
    if (req.users) {
      const res = await client.query(
        `INSERT INTO bulk_results (operation_id, seq, username, new_user)
         SELECT $1, t.ord, t.x->>'username', t.x FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(x, ord)`,
        [id, JSON.stringify(req.users)])
      return res.rowCount ?? 0
    }
    // The list's own WHERE clause and order: the operation acts on exactly what the list shows.
    const params: unknown[] = [id]
    const where = userFilterSql(req.filter ?? {}, params)
    const res = await client.query(
      `INSERT INTO bulk_results (operation_id, seq, user_id, username)
       SELECT $1, row_number() OVER (ORDER BY u.username_key, u.id), u.id, u.username FROM users u WHERE ${where}`,
      params)
    const n = res.rowCount ?? 0
    if (n > MAX_BULK_TARGETS) throw new BadRequest(`the filter selects ${n} users; at most ${MAX_BULK_TARGETS} per operation`)
    return n
  }

  function check(req: BulkRequest): void {
    if (!(BULK_ACTIONS as readonly string[]).includes(req.action)) throw new BadRequest('unknown action')
    const given = [req.userIds, req.filter, req.users].filter((v) => v !== undefined).length
    if (given !== 1) throw new BadRequest('give exactly one of userIds, filter and users')
    if (req.users && req.action !== 'invite') throw new BadRequest('users (new users) go only with the invite action')
    if (req.userIds && (req.userIds.length < 1 || req.userIds.length > MAX_BULK_USER_IDS)) throw new BadRequest(`userIds holds 1 to ${MAX_BULK_USER_IDS} ids`)
    if (req.users && (req.users.length < 1 || req.users.length > MAX_BULK_NEW_USERS)) throw new BadRequest(`users holds 1 to ${MAX_BULK_NEW_USERS} new users`)
    const needsPool = req.action === 'pool.add' || req.action === 'pool.remove'
    if (needsPool && !req.poolId) throw new BadRequest(`${req.action} needs a poolId`)
    if (!needsPool && req.poolId !== undefined) throw new BadRequest(`${req.action} takes no poolId`)
    if (req.poolId !== undefined && !UUID.test(req.poolId.toLowerCase())) throw new BadRequest('poolId is not a pool id')
  }

  // --- one user's change, inside the chunk's transaction ------------------------------------

  type Step = (client: pg.PoolClient, row: PendingRow, ctx: { op: OperationRow; actor: Actor; note: Record<string, unknown>; known: Set<string> }) => Promise<Partial<Outcome>>

  const existing = (row: PendingRow, known: Set<string>): string => {
    if (!row.user_id || !known.has(row.user_id)) throw new UserNotFound()
    return row.user_id
  }

  const STEPS: Record<BulkAction, Step> = {
    lock: async (client, row, { actor, note, known }) => { await steps.lock(client, existing(row, known), actor, note); return {} },
    unlock: async (client, row, { actor, note, known }) => { await steps.unlock(client, existing(row, known), actor, note); return {} },
    offboard: async (client, row, { actor, note, known }) => { await steps.offboard(client, existing(row, known), actor, note); return {} },
    invite: async (client, row, { actor, note, known }) => {
      if (row.new_user) {
        try {
          const { user, enrollment } = await steps.invite(client, row.new_user, actor, note)
          return { userId: user.id, username: user.username, token: enrollment.token, expiresAt: enrollment.expiresAt }
        } catch (err) {
          if ((err as { code?: string }).code === '23505') throw new UsernameTaken(row.new_user.username)
          throw err
        }
      }
      const { enrollment } = await steps.issueToken(client, existing(row, known), actor, note)
      return { token: enrollment.token, expiresAt: enrollment.expiresAt }
    },
    'pool.add': async (client, row, { op, actor, note, known }) => {
      const userId = existing(row, known)
      const res = await client.query('INSERT INTO pool_members (pool_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [op.pool_id, userId])
      if (res.rowCount === 0) throw new PoolMemberExists()
      await audit.append({ ...actorOf(actor), action: 'pool.updated', target: { type: 'pool', id: op.pool_id! }, details: { ...note, added: [userId] } }, client)
      return {}
    },
    'pool.remove': async (client, row, { op, actor, note, known }) => {
      const userId = existing(row, known)
      const res = await client.query('DELETE FROM pool_members WHERE pool_id = $1 AND user_id = $2', [op.pool_id, userId])
      if (res.rowCount === 0) throw new PoolMemberNotFound()
      await audit.append({ ...actorOf(actor), action: 'pool.updated', target: { type: 'pool', id: op.pool_id! }, details: { ...note, removed: [userId] } }, client)
      return {}
    },
    'whitelist.add': async (client, row, { actor, note, known }) => {
      const userId = existing(row, known)
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO whitelist_entries (id, kind, value, created_by) VALUES ($1, 'user', $2, $3) ON CONFLICT (kind, value) DO NOTHING RETURNING id`,
        [randomUUID(), userId, actor.type === 'admin' ? actor.id : null])
      if (!rows[0]) throw new WhitelistEntryExists()
      await audit.append({ ...actorOf(actor), action: 'whitelist.updated', target: { type: 'whitelist_entry', id: rows[0].id }, details: { ...note, before: null, after: { kind: 'user', value: userId } } }, client)
      return {}
    },
    'whitelist.remove': async (client, row, { actor, note, known }) => {
      const userId = existing(row, known)
      const { rows } = await client.query<{ id: string }>("DELETE FROM whitelist_entries WHERE kind = 'user' AND value = $1 RETURNING id", [userId])
      if (!rows[0]) throw new WhitelistEntryNotFound()
      await audit.append({ ...actorOf(actor), action: 'whitelist.updated', target: { type: 'whitelist_entry', id: rows[0].id }, details: { ...note, before: { kind: 'user', value: userId }, after: null } }, client)
      return {}
    },
  }

  /** One chunk in one transaction: the pending rows it took (none: the operation is through). */
  async function runChunk(op: OperationRow): Promise<{ taken: number; ok: string[]; unlisted: Unlisted[] }> {
    return inTransaction(pool, async (client) => {
      // SKIP LOCKED: should a second run of the same operation ever overlap, it takes other rows.
      const { rows } = await client.query<PendingRow>(
        `SELECT seq, user_id, username, new_user FROM bulk_results WHERE operation_id = $1 AND outcome = 'pending'
         ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED`, [op.id, chunkSize])
      if (rows.length === 0) return { taken: 0, ok: [], unlisted: [] }
      // Locks in the order the single-user operations take them (pool, then users, then the audit
      // log's lock at the first entry), so a chunk and a single change never wait on each other in a cycle.
      const policy = op.action.startsWith('pool.') || op.action.startsWith('whitelist.')
      let poolGone = false
      if (op.pool_id) poolGone = (await client.query('SELECT 1 FROM pools WHERE id = $1 FOR UPDATE', [op.pool_id])).rowCount === 0
      const ids = rows.map((r) => r.user_id).filter((u): u is string => u !== null)
      const known = new Set(ids.length === 0 ? [] : (await client.query<{ id: string }>(
        `SELECT id FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR ${policy ? 'KEY SHARE' : 'UPDATE'}`, [ids])).rows.map((r) => r.id))
      const ctx = { op, actor: actorOfRow(op), note: { bulkOperation: op.id }, known }
      const outcomes: Outcome[] = []
      if (op.action === 'lock' || op.action === 'unlock') {
        // The whole chunk in one UPDATE and one audit append: a savepoint and the single-user step
        // for each would cost about eight round trips per user.
        const refusals = await steps.setLockedMany(client, rows.flatMap((r) => (r.user_id ? [r.user_id] : [])), op.action === 'lock', ctx.actor, ctx.note)
        for (const row of rows) {
          const refusal = row.user_id ? refusals.get(row.user_id) : new UserNotFound()
          const base = { seq: row.seq, userId: row.user_id, username: row.username }
          outcomes.push(refusal ? { ...base, ok: false, ...userError(refusal)! } : { ...base, ok: true })
        }
      } else {
        for (const row of rows) {
          const base = { seq: row.seq, userId: row.user_id, username: row.username }
          if (poolGone) { outcomes.push({ ...base, ok: false, ...userError(new PoolNotFound())! }); continue }
          await client.query('SAVEPOINT bulk_user')
          try {
            const done = await STEPS[op.action](client, row, ctx)
            await client.query('RELEASE SAVEPOINT bulk_user')
            outcomes.push({ ...base, ...done, ok: true })
          } catch (err) {
            const refused = userError(err)
            if (!refused) throw err
            await client.query('ROLLBACK TO SAVEPOINT bulk_user')
            outcomes.push({ ...base, ok: false, ...refused })
          }
        }
      }
      await client.query(
        `UPDATE bulk_results r SET outcome = CASE WHEN o.ok THEN 'ok'::bulk_outcome ELSE 'failed'::bulk_outcome END,
           user_id = o.user_id, username = o.username, error_code = o.code, error_message = o.message,
           enrollment_token = o.token, enrollment_expires_at = o.expires_at, new_user = NULL
         FROM unnest($2::int[], $3::bool[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])
           AS o(seq, ok, user_id, username, code, message, token, expires_at)
         WHERE r.operation_id = $1 AND r.seq = o.seq`,
        [op.id, outcomes.map((o) => o.seq), outcomes.map((o) => o.ok), outcomes.map((o) => o.userId), outcomes.map((o) => o.username),
          outcomes.map((o) => o.code ?? null), outcomes.map((o) => o.message ?? null), outcomes.map((o) => o.token ?? null), outcomes.map((o) => o.expiresAt ?? null)])
      const ok = outcomes.filter((o) => o.ok).map((o) => o.userId!)
      await client.query('UPDATE bulk_operations SET succeeded = succeeded + $2, failed = failed + $3 WHERE id = $1',
        [op.id, ok.length, outcomes.length - ok.length])
      const unlisted = op.action === 'whitelist.remove' && ok.length > 0 ? await findUnlisted(client, { userIds: ok }) : []
      return { taken: rows.length, ok, unlisted }
    })
  }

  /** What follows a committed chunk: sessions end, gateways drop what they cached. */
  async function afterCommit(action: BulkAction, ok: string[], unlisted: Unlisted[]): Promise<void> {
    if (ok.length === 0) return
    switch (action) {
      case 'lock':
      case 'offboard': {
        const { rows } = await pool.query<{ id: string }>('SELECT id FROM devices WHERE user_id = ANY($1::uuid[])', [ok])
        await deps.sessions.revokeDevices(rows.map((r) => r.id))
        await announceUsersRevoked(deps.redis, ok, action === 'lock' ? 'locked' : 'offboarded')
        break
      }
      case 'unlock':
        await Promise.all(ok.map((id) => announceUserChanged(deps.redis, id)))
        break
      case 'invite':
        break
      case 'whitelist.remove':
        await announcePolicyChanged(deps.redis)
        await endUnlistedSessions({ redis: deps.redis, sessions: deps.sessions }, unlisted)
        break
      default:
        await announcePolicyChanged(deps.redis)
    }
  }

  /** A resumed run cannot know whether the last committed chunk's sessions were ended: it ends them again (idempotent). */
  async function redoAfterCommit(op: OperationRow): Promise<void> {
    for (let after = 0; ;) {
      const { rows } = await pool.query<{ seq: number; user_id: string }>(
        `SELECT seq, user_id FROM bulk_results WHERE operation_id = $1 AND outcome = 'ok' AND seq > $2 ORDER BY seq LIMIT 1000`, [op.id, after])
      if (rows.length === 0) return
      const ok = rows.map((r) => r.user_id)
      const unlisted = op.action === 'whitelist.remove' ? await findUnlisted(pool, { userIds: ok }) : []
      await afterCommit(op.action, ok, unlisted)
      after = rows.at(-1)!.seq
    }
  }

  return {
    async create(req: BulkRequest, actor: Actor): Promise<BulkOperationView> {
      check(req)
      const id = randomUUID()
      const poolId = req.poolId?.toLowerCase() ?? null
      const op = await inTransaction(pool, async (client) => {
        if (poolId && (await client.query('SELECT 1 FROM pools WHERE id = $1', [poolId])).rowCount === 0) throw new PoolNotFound()
        await client.query(
          `INSERT INTO bulk_operations (id, action, pool_id, total, created_by_type, created_by_id, source_ip) VALUES ($1, $2, $3, 0, $4, $5, $6)`,
          [id, req.action, poolId, actor.type, actor.id, actor.sourceIp ?? null])
        const total = await resolveTargets(client, id, req)
        const { rows } = await client.query<OperationRow>('UPDATE bulk_operations SET total = $2 WHERE id = $1 RETURNING *', [id, total])
        const by = req.userIds ? 'userIds' : req.users ? 'users' : 'filter'
        await audit.append({
          ...actorOf(actor), action: 'bulk.started', target: { type: 'bulk_operation', id },
          details: { action: req.action, total, by, poolId, ...(req.filter ? { filter: { ...req.filter } } : {}) },
        }, client)
        return view(rows[0]!)
      })
      try {
        await deps.enqueue?.(id)
      } catch (err) {
        deps.onEnqueueError?.(err as Error, id)
      }
      return op
    },

    async get(id: string): Promise<BulkOperationView> {
      const row = await load(id)
      if (!row) throw new BulkOperationNotFound()
      return view(row)
    },

    /** The latest 50, newest first. */
    async list(): Promise<BulkOperationView[]> {
      const { rows } = await pool.query<OperationRow>('SELECT * FROM bulk_operations ORDER BY created_at DESC, id DESC LIMIT 50')
      return rows.map(view)
    },

    /** Outcomes in target order (pending rows are not listed), in pages by a keyset on seq. */
    async results(id: string, query: { outcome?: 'ok' | 'failed' | undefined; cursor?: string | undefined; limit?: number | undefined }): Promise<{ results: BulkResultView[]; nextCursor: string | null }> {
      if (!(await load(id))) throw new BulkOperationNotFound()
      const limit = Math.min(Math.max(query.limit ?? 100, 1), MAX_RESULTS_PAGE)
      const after = query.cursor ? decodeCursor(query.cursor) : 0
      const { rows } = await pool.query<{
        seq: number; user_id: string | null; username: string | null; outcome: 'ok' | 'failed'; error_code: string | null; error_message: string | null
        enrollment_token: string | null; enrollment_expires_at: Date | null
      }>(
        `SELECT seq, user_id, username, outcome, error_code, error_message, enrollment_token, enrollment_expires_at
         FROM bulk_results WHERE operation_id = $1 AND seq > $2
           AND ($3::bulk_outcome IS NULL AND outcome <> 'pending' OR outcome = $3::bulk_outcome)
         ORDER BY seq LIMIT $4`,
        [id, after, query.outcome ?? null, limit + 1])
      const page = rows.slice(0, limit)
      return {
        results: page.map((r) => ({
          userId: r.user_id, username: r.username, ok: r.outcome === 'ok',
          error: r.error_code ? { code: r.error_code, message: r.error_message ?? '' } : null,
          // an expired token is useless and is cleared by the worker's retention soon after
          ...(r.enrollment_token && r.enrollment_expires_at && r.enrollment_expires_at.getTime() > Date.now()
            ? { enrollment: { token: r.enrollment_token, expiresAt: r.enrollment_expires_at.toISOString() } } : {}),
        })),
        nextCursor: rows.length > limit ? encodeCursor(page.at(-1)!.seq) : null,
      }
    },

    /** Operations not finished (e.g. created while the queue was unreachable): the workers enqueue them again, at start and every minute. */
    async unfinished(): Promise<string[]> {
      const { rows } = await pool.query<{ id: string }>("SELECT id FROM bulk_operations WHERE state IN ('queued', 'running') ORDER BY created_at")
      return rows.map((r) => r.id)
    },

    /**
     * Runs (or continues) an operation to the end; the worker's job. Idempotent: a finished or
     * vanished operation is left as it is. `onProgress` hears the view after every chunk.
     */
    async run(id: string, opts: { onProgress?: (op: BulkOperationView) => Promise<void> | void } = {}): Promise<BulkOperationView | null> {
      const start = await inTransaction(pool, async (client) => {
        const row = await load(id, client, true)
        if (!row || row.state === 'done' || row.state === 'failed') return null
        const { rows } = await client.query<OperationRow>(
          "UPDATE bulk_operations SET state = 'running', started_at = COALESCE(started_at, now()), error = NULL WHERE id = $1 RETURNING *", [id])
        return { op: rows[0]!, resumed: row.started_at !== null }
      })
      if (!start) return null
      const { op } = start
      if (start.resumed) await redoAfterCommit(op)
      for (;;) {
        const chunk = await runChunk(op)
        if (chunk.taken === 0) break
        await afterCommit(op.action, chunk.ok, chunk.unlisted)
        await opts.onProgress?.(view((await load(id))!))
      }
      return inTransaction(pool, async (client) => {
        const { rows } = await client.query<OperationRow>(
          "UPDATE bulk_operations SET state = 'done', finished_at = now() WHERE id = $1 AND state = 'running' RETURNING *", [id])
        if (!rows[0]) return view((await load(id, client))!) // finished by an overlapping run
        const done = view(rows[0])
        await audit.append({
          ...actorOf(actorOfRow(rows[0])), action: 'bulk.finished', target: { type: 'bulk_operation', id },
          details: { action: done.action, total: done.total, succeeded: done.succeeded, failed: done.failed },
        }, client)
        return done
      })
    },

    /** The job gave up (every attempt failed): the operation says so; rows not reached stay pending. */
    async markFailed(id: string, error: string): Promise<void> {
      await pool.query("UPDATE bulk_operations SET state = 'failed', finished_at = now(), error = $2 WHERE id = $1 AND state IN ('queued', 'running')",
        [id, error.slice(0, 512)])
    },
  }
}

export type BulkOperations = ReturnType<typeof createBulkOperations>
