// Whitelist and pools as administrators manage them (docs/admin-api.md §10). Every change and its
// audit entry (details.before/after) commit in one transaction; then every gateway is told to
// drop what it cached about policy, so the change holds from the next send, connect or look-up.
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import { inTransaction } from '../db/client.ts'
import { BadRequest, PoolNameTaken, PoolNotFound, UserNotFound, WhitelistEntryExists, WhitelistEntryNotFound } from '../errors.ts'
import type { AuditLog } from '../audit/audit-log.ts'
import { actorOf, type Actor } from '../admin/actor.ts'
import { announcePolicyChanged } from './policy.ts'
import { endUnlistedSessions, findUnlisted, type Unlisted, type UnlistedScope } from './unlisted.ts'
import type { SessionService } from '../identity/sessions.ts'

export const WHITELIST_MODES = ['all', 'whitelist'] as const
export type WhitelistMode = (typeof WHITELIST_MODES)[number]
export const WHITELIST_KINDS = ['user', 'team', 'business_area'] as const
export type WhitelistKind = (typeof WHITELIST_KINDS)[number]
export const MAX_MEMBERS_PER_REQUEST = 1000
// A user id takes 39 bytes in an entry's details; 1000 of them stay well inside its 64 KiB.
const AUDIT_IDS_PER_ENTRY = 1000

export interface WhitelistEntryView { id: string; kind: WhitelistKind; value: string; createdAt: string; createdBy: string | null }
export interface PoolView { id: string; name: string; createdAt: string; members: number }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const nameKey = (name: string) => name.normalize('NFKC').toLowerCase()

type EntryRow = { id: string; kind: WhitelistKind; value: string; created_at: Date; created_by: string | null }
const entryView = (r: EntryRow): WhitelistEntryView => ({ id: r.id, kind: r.kind, value: r.value, createdAt: r.created_at.toISOString(), createdBy: r.created_by })
type PoolRow = { id: string; name: string; created_at: Date; members: number }
const poolView = (r: PoolRow): PoolView => ({ id: r.id, name: r.name, createdAt: r.created_at.toISOString(), members: r.members })
const SELECT_POOL = 'SELECT p.id, p.name, p.created_at, (SELECT count(*)::int FROM pool_members m WHERE m.pool_id = p.id) AS members FROM pools p'

export function createPolicyAdmin(deps: { pool: pg.Pool; redis: Redis; audit: Pick<AuditLog, 'append'>; sessions: Pick<SessionService, 'revokeDevices'> }) {
  const { pool, audit } = deps
  const adminId = (a: Actor) => (a.type === 'admin' ? a.id : null)

  async function changed<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const result = await inTransaction(pool, fn)
    await announcePolicyChanged(deps.redis)
    return result
  }

  /** A whitelist change: `scope` names who it may take off the list; their sessions end after the commit. */
  async function whitelistChanged<T>(scope: (result: T) => UnlistedScope | null, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let unlisted: Unlisted[] = []
    const result = await changed(async (client) => {
      const r = await fn(client)
      const s = scope(r)
      if (s) unlisted = await findUnlisted(client, s)
      return r
    })
    await endUnlistedSessions({ redis: deps.redis, sessions: deps.sessions }, unlisted)
    return result
  }

  async function lockedPool(client: pg.PoolClient, id: string): Promise<PoolView & { memberIds: string[] }> {
    const { rows } = await client.query<PoolRow>(`${SELECT_POOL} WHERE p.id = $1 FOR UPDATE OF p`, [id])
    if (!rows[0]) throw new PoolNotFound()
    const m = await client.query<{ user_id: string }>('SELECT user_id FROM pool_members WHERE pool_id = $1 ORDER BY user_id', [id])
    return { ...poolView(rows[0]), memberIds: m.rows.map((r) => r.user_id) }
  }

  return {
    async getMode(): Promise<WhitelistMode> {
      const { rows } = await pool.query<{ whitelist_mode: WhitelistMode }>('SELECT whitelist_mode FROM org_settings WHERE id = 1')
      return rows[0]?.whitelist_mode ?? 'all'
    },

    /** Switching to `whitelist` ends, at once, the sessions of everyone no entry matches. */
    async setMode(mode: WhitelistMode, actor: Actor): Promise<WhitelistMode> {
      return whitelistChanged(() => (mode === 'whitelist' ? { all: true } : null), async (client) => {
        await client.query('INSERT INTO org_settings (id) VALUES (1) ON CONFLICT (id) DO NOTHING')
        const { rows } = await client.query<{ whitelist_mode: WhitelistMode }>('SELECT whitelist_mode FROM org_settings WHERE id = 1 FOR UPDATE')
        const before = rows[0]!.whitelist_mode
        await client.query('UPDATE org_settings SET whitelist_mode = $1 WHERE id = 1', [mode])
        await audit.append({ ...actorOf(actor), action: 'whitelist.updated', target: { type: 'whitelist', id: 'mode' }, details: { before: { mode: before }, after: { mode } } }, client)
        return mode
      })
    },

    async listEntries(): Promise<WhitelistEntryView[]> {
      const { rows } = await pool.query<EntryRow>('SELECT id, kind, value, created_at, created_by FROM whitelist_entries ORDER BY kind, value')
      return rows.map(entryView)
    },

    async addEntry(input: { kind: WhitelistKind; value: string }, actor: Actor): Promise<WhitelistEntryView> {
      // Team and business area are stored NFKC-normalised on users; so are entries.
      const value = input.kind === 'user' ? input.value.toLowerCase() : input.value.normalize('NFKC')
      if (input.kind === 'user' && !UUID.test(value)) throw new BadRequest('a user entry holds a user id')
      try {
        return await changed(async (client) => {
          if (input.kind === 'user') {
            const u = await client.query('SELECT 1 FROM users WHERE id = $1', [value])
            if (u.rowCount === 0) throw new UserNotFound()
          }
          const { rows } = await client.query<EntryRow>(
            'INSERT INTO whitelist_entries (id, kind, value, created_by) VALUES ($1, $2, $3, $4) RETURNING id, kind, value, created_at, created_by',
            [randomUUID(), input.kind, value, adminId(actor)])
          const entry = entryView(rows[0]!)
          await audit.append({ ...actorOf(actor), action: 'whitelist.updated', target: { type: 'whitelist_entry', id: entry.id }, details: { before: null, after: { kind: entry.kind, value: entry.value } } }, client)
          return entry
        })
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new WhitelistEntryExists()
        throw err
      }
    },

    /** Ends, at once, the sessions of those the entry matched and no other entry does. */
    async removeEntry(id: string, actor: Actor): Promise<WhitelistEntryView> {
      return whitelistChanged((entry) => ({ entry }), async (client) => {
        const { rows } = await client.query<EntryRow>('DELETE FROM whitelist_entries WHERE id = $1 RETURNING id, kind, value, created_at, created_by', [id])
        if (!rows[0]) throw new WhitelistEntryNotFound()
        const entry = entryView(rows[0])
        await audit.append({ ...actorOf(actor), action: 'whitelist.updated', target: { type: 'whitelist_entry', id }, details: { before: { kind: entry.kind, value: entry.value }, after: null } }, client)
        return entry
      })
    },

    async listPools(): Promise<PoolView[]> {
      const { rows } = await pool.query<PoolRow>(`${SELECT_POOL} ORDER BY p.name_key, p.id`)
      return rows.map(poolView)
    },

    async getPool(id: string): Promise<PoolView & { memberIds: string[] }> {
      const { rows } = await pool.query<PoolRow>(`${SELECT_POOL} WHERE p.id = $1`, [id])
      if (!rows[0]) throw new PoolNotFound()
      const m = await pool.query<{ user_id: string }>('SELECT user_id FROM pool_members WHERE pool_id = $1 ORDER BY user_id', [id])
      return { ...poolView(rows[0]), memberIds: m.rows.map((r) => r.user_id) }
    },

    async createPool(name: string, actor: Actor): Promise<PoolView> {
      const clean = name.normalize('NFKC').trim()
      if (!clean) throw new BadRequest('a pool needs a name')
      try {
        return await changed(async (client) => {
          const { rows } = await client.query<PoolRow>(
            'INSERT INTO pools (id, name, name_key) VALUES ($1, $2, $3) RETURNING id, name, created_at, 0 AS members',
            [randomUUID(), clean, nameKey(clean)])
          const p = poolView(rows[0]!)
          await audit.append({ ...actorOf(actor), action: 'pool.created', target: { type: 'pool', id: p.id }, details: { after: { name: p.name } } }, client)
          return p
        })
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new PoolNameTaken(clean)
        throw err
      }
    },

    async renamePool(id: string, name: string, actor: Actor): Promise<PoolView> {
      const clean = name.normalize('NFKC').trim()
      if (!clean) throw new BadRequest('a pool needs a name')
      try {
        return await changed(async (client) => {
          const before = await lockedPool(client, id)
          await client.query('UPDATE pools SET name = $2, name_key = $3 WHERE id = $1', [id, clean, nameKey(clean)])
          await audit.append({ ...actorOf(actor), action: 'pool.updated', target: { type: 'pool', id }, details: { before: { name: before.name }, after: { name: clean } } }, client)
          return { id, name: clean, createdAt: before.createdAt, members: before.members }
        })
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new PoolNameTaken(clean)
        throw err
      }
    },

    async deletePool(id: string, actor: Actor): Promise<PoolView> {
      return changed(async (client) => {
        const before = await lockedPool(client, id)
        await client.query('DELETE FROM pools WHERE id = $1', [id])
        // Who was in it, in entries small enough for the audit log's details limit, then the deletion.
        for (let i = 0; i < before.memberIds.length; i += AUDIT_IDS_PER_ENTRY) {
          const removed = before.memberIds.slice(i, i + AUDIT_IDS_PER_ENTRY)
          await audit.append({ ...actorOf(actor), action: 'pool.updated', target: { type: 'pool', id }, details: { reason: 'pool deleted', removed } }, client)
        }
        await audit.append({ ...actorOf(actor), action: 'pool.deleted', target: { type: 'pool', id }, details: { before: { name: before.name, members: before.members }, after: null } }, client)
        const { memberIds: _, ...view } = before
        return view
      })
    },

    async addMembers(id: string, userIds: string[], actor: Actor): Promise<PoolView & { memberIds: string[] }> {
      const ids = [...new Set(userIds.map((u) => u.toLowerCase()))]
      if (ids.length > MAX_MEMBERS_PER_REQUEST) throw new BadRequest(`at most ${MAX_MEMBERS_PER_REQUEST} users per request`)
      return changed(async (client) => {
        const before = await lockedPool(client, id)
        const known = await client.query<{ id: string }>('SELECT id FROM users WHERE id = ANY($1::uuid[])', [ids])
        if (known.rows.length !== ids.length) throw new UserNotFound()
        await client.query('INSERT INTO pool_members (pool_id, user_id) SELECT $1, u FROM unnest($2::uuid[]) AS u ON CONFLICT DO NOTHING', [id, ids])
        const after = await lockedPool(client, id)
        const had = new Set(before.memberIds)
        const added = after.memberIds.filter((m) => !had.has(m))
        if (added.length > 0) {
          await audit.append({ ...actorOf(actor), action: 'pool.updated', target: { type: 'pool', id }, details: { before: { members: before.members }, after: { members: after.members }, added } }, client)
        }
        return after
      })
    },

    async removeMember(id: string, userId: string, actor: Actor): Promise<PoolView & { memberIds: string[] }> {
      return changed(async (client) => {
        const before = await lockedPool(client, id)
        const del = await client.query('DELETE FROM pool_members WHERE pool_id = $1 AND user_id = $2', [id, userId])
        if (del.rowCount === 0) throw new UserNotFound()
        const after = await lockedPool(client, id)
        await audit.append({ ...actorOf(actor), action: 'pool.updated', target: { type: 'pool', id }, details: { before: { members: before.members }, after: { members: after.members }, removed: [userId] } }, client)
        return after
      })
    },
  }
}

export type PolicyAdmin = ReturnType<typeof createPolicyAdmin>
