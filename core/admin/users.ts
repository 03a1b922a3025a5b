// Users as administrators manage them: a filtered, cursor-paged list; invitations with a one-time
// enrollment token; profile changes; lock, unlock and offboarding. Every change and its audit
// entry commit in one transaction; lock and offboarding then end the user's device sessions and
// tell every gateway (DESIGN §6: at once, everywhere).
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import { inTransaction } from '../db/client.ts'
import { BadRequest, UserNotFound, UserStateConflict, UsernameTaken } from '../errors.ts'
import { mintEnrollmentToken, type UserStatus } from '../identity/users.ts'
import { checkUsername, usernameKey } from '../identity/usernames.ts'
import type { SessionService } from '../identity/sessions.ts'
import { announceUserChanged, announceUserRevoked } from '../messaging/recipient-cache.ts'
import type { AuditLog } from '../audit/audit-log.ts'
import { actorOf, type Actor } from './actor.ts'
import { userFilterSql, type UserFilter } from './user-filter.ts'
import { endUnlistedSessions, findUnlisted } from '../policy/unlisted.ts'

export const MAX_PAGE = 200
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export interface AdminUserView {
  id: string
  username: string
  displayName: string
  email: string | null
  team: string | null
  businessArea: string | null
  externalId: string | null
  status: UserStatus
  createdAt: string
  lastSeenAt: string | null
  /** active devices */
  devices: number
}

export type DeviceState = 'active' | 'wipe_pending' | 'wiped' | 'revoked'

export interface DeviceView {
  id: string
  platform: string
  name: string | null
  state: DeviceState
  enrolledAt: string
  lastSeenAt: string | null
}

export interface Enrollment { token: string; expiresAt: string }

export interface NewUser { username: string; displayName?: string | undefined; email?: string | undefined; team?: string | undefined; businessArea?: string | undefined }

/** Extra members of an audit entry's details. */
type Note = Record<string, unknown>

interface UserRow {
  id: string
  username: string
  username_key: string
  display_name: string
  email: string | null
  team: string | null
  business_area: string | null
  external_id: string | null
  status: UserStatus
  created_at: Date
  last_seen_at: Date | null
  devices: number
}

const SELECT_USER = `
SELECT u.*, (SELECT count(*)::int FROM devices d WHERE d.user_id = u.id AND d.state = 'active') AS devices
FROM users u`

function view(r: UserRow): AdminUserView {
  return {
    id: r.id, username: r.username, displayName: r.display_name, email: r.email, team: r.team,
    businessArea: r.business_area, externalId: r.external_id, status: r.status,
    createdAt: r.created_at.toISOString(), lastSeenAt: r.last_seen_at?.toISOString() ?? null, devices: r.devices,
  }
}

/** The members an audit entry records before and after a change. */
const profile = (u: AdminUserView) => ({ username: u.username, displayName: u.displayName, team: u.team, businessArea: u.businessArea, status: u.status })

// The cursor is the last row's sort key, (username_key, id): a keyset, so rows inserted or
// deleted between pages shift nothing, and no row is skipped or repeated.
export function encodeCursor(key: string, id: string): string {
  return Buffer.from(JSON.stringify([key, id])).toString('base64url')
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && value[0].length <= 64 && typeof value[1] === 'string' && UUID.test(value[1])) {
      return [value[0], value[1]]
    }
  } catch { /* refused below */ }
  throw new BadRequest('cursor is not one this API returned')
}

export interface ListQuery extends UserFilter { cursor?: string | undefined; limit?: number | undefined }

export function createUserAdmin(deps: {
  pool: pg.Pool
  redis: Redis
  sessions: Pick<SessionService, 'revokeDevices'>
  audit: Pick<AuditLog, 'append' | 'appendMany'>
  enrollmentTtlHours: number
}) {
  const { pool, audit } = deps

  async function lockedRow(client: pg.PoolClient, id: string): Promise<AdminUserView> {
    const { rows } = await client.query<UserRow>(`${SELECT_USER} WHERE u.id = $1 FOR UPDATE OF u`, [id])
    if (!rows[0]) throw new UserNotFound()
    return view(rows[0])
  }

  async function setStatus(client: pg.PoolClient, id: string, status: UserStatus): Promise<AdminUserView> {
    await client.query('UPDATE users SET status = $2 WHERE id = $1', [id, status])
    const { rows } = await client.query<UserRow>(`${SELECT_USER} WHERE u.id = $1`, [id])
    return view(rows[0]!)
  }

  async function newToken(client: pg.PoolClient, userId: string): Promise<Enrollment> {
    const { token, tokenHash, expiresAt } = mintEnrollmentToken(deps.enrollmentTtlHours)
    await client.query('INSERT INTO enrollment_tokens (id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)',
      [randomUUID(), userId, Buffer.from(tokenHash), expiresAt])
    return { token, expiresAt: expiresAt.toISOString() }
  }

  /** After a lock or offboarding committed: no session outlives it, and every gateway hears of it. */
  async function revokeEverywhere(userId: string, reason: 'locked' | 'offboarded'): Promise<void> {
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM devices WHERE user_id = $1', [userId])
    await deps.sessions.revokeDevices(rows.map((r) => r.id))
    await announceUserRevoked(deps.redis, userId, reason)
  }

  /**
   * Locks or unlocks users: offboarded ones are refused, unlocking a user who is not locked changes
   * and writes nothing, each change has its audit entry (in the order of `ids`). One UPDATE and one
   * audit append for all, so a bulk operation's chunk costs what one user does. Returns per id the
   * refusal, or null when done.
   */
  async function setLockedMany(client: pg.PoolClient, ids: string[], locked: boolean, actor: Actor, note: Note = {}): Promise<Map<string, Error | null>> {
    const { rows } = await client.query<{ id: string; status: UserStatus }>(
      'SELECT id, status FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [ids])
    const before = new Map(rows.map((r) => [r.id, r.status]))
    const outcome = new Map<string, Error | null>()
    const change: string[] = []
    for (const id of ids) {
      const status = before.get(id)
      if (status === undefined) outcome.set(id, new UserNotFound())
      else if (status === 'offboarded') outcome.set(id, new UserStateConflict('offboarded'))
      else {
        outcome.set(id, null)
        // Unlocking a user who is not locked changes nothing and writes nothing.
        if (locked || status === 'locked') change.push(id)
      }
    }
    if (change.length === 0) return outcome
    const { rows: changed } = await client.query<{ id: string; status: UserStatus }>(
      `UPDATE users u SET status = CASE WHEN $2 THEN 'locked'::user_status
         WHEN EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id) THEN 'active'::user_status ELSE 'invited'::user_status END
       WHERE u.id = ANY($1::uuid[]) RETURNING u.id, u.status`, [change, locked])
    const after = new Map(changed.map((r) => [r.id, r.status]))
    await audit.appendMany(change.map((id) => ({
      ...actorOf(actor), action: locked ? 'user.lock' : 'user.unlock', target: { type: 'user', id },
      details: { ...note, before: { status: before.get(id) }, after: { status: after.get(id) } },
    })), client)
    return outcome
  }

  /** One user's lock or unlock: the rule of setLockedMany, its refusal thrown, the user as now. */
  async function setLocked(client: pg.PoolClient, id: string, locked: boolean, actor: Actor, note: Note): Promise<AdminUserView> {
    const refusal = (await setLockedMany(client, [id], locked, actor, note)).get(id)
    if (refusal) throw refusal
    const { rows } = await client.query<UserRow>(`${SELECT_USER} WHERE u.id = $1`, [id])
    return view(rows[0]!)
  }

  // Each step runs inside the caller's transaction; `note` is merged into the audit details
  // (a bulk operation names itself there).
  const inTx = {
    async invite(client: pg.PoolClient, input: NewUser, actor: Actor, note: Note = {}): Promise<{ user: AdminUserView; enrollment: Enrollment }> {
      const username = checkUsername(input.username)
      const displayName = (input.displayName ?? username).normalize('NFKC').slice(0, 128)
      const id = randomUUID()
      await client.query(
        `INSERT INTO users (id, username, username_key, display_name, email, team, business_area) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, username, usernameKey(username), displayName, input.email ?? null, input.team?.normalize('NFKC') ?? null, input.businessArea?.normalize('NFKC') ?? null])
      const enrollment = await newToken(client, id)
      const { rows } = await client.query<UserRow>(`${SELECT_USER} WHERE u.id = $1`, [id])
      const user = view(rows[0]!)
      await audit.append({ ...actorOf(actor), action: 'user.created', target: { type: 'user', id }, details: { ...note, after: profile(user), enrollmentTokenExpiresAt: enrollment.expiresAt } }, client)
      return { user, enrollment }
    },

    lock: (client: pg.PoolClient, id: string, actor: Actor, note: Note = {}): Promise<AdminUserView> => setLocked(client, id, true, actor, note),

    unlock: (client: pg.PoolClient, id: string, actor: Actor, note: Note = {}): Promise<AdminUserView> => setLocked(client, id, false, actor, note),

    setLockedMany,

    async offboard(client: pg.PoolClient, id: string, actor: Actor, note: Note = {}): Promise<AdminUserView> {
      const before = await lockedRow(client, id)
      if (before.status === 'offboarded') throw new UserStateConflict('offboarded')
      const { rows: revoked } = await client.query<{ id: string }>(
        "UPDATE devices SET state = 'revoked', push_token = NULL WHERE user_id = $1 AND state = 'active' RETURNING id", [id])
      // Unused enrollment tokens die with the account.
      await client.query('UPDATE enrollment_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL', [id])
      const after = await setStatus(client, id, 'offboarded')
      const devices = revoked.map((d) => d.id).sort()
      await audit.append({
        ...actorOf(actor), action: 'user.offboard', target: { type: 'user', id },
        details: { ...note, before: { status: before.status }, after: { status: after.status }, revokedDevices: devices },
      }, client)
      for (const deviceId of devices) {
        await audit.append({ ...actorOf(actor), action: 'device.revoked', target: { type: 'device', id: deviceId }, details: { ...note, userId: id, reason: 'offboard' } }, client)
      }
      return after
    },

    async issueToken(client: pg.PoolClient, id: string, actor: Actor, note: Note = {}): Promise<{ user: AdminUserView; enrollment: Enrollment }> {
      const user = await lockedRow(client, id)
      if (user.status === 'locked' || user.status === 'offboarded') throw new UserStateConflict(user.status)
      const enrollment = await newToken(client, id)
      await audit.append({ ...actorOf(actor), action: 'user.enrollment_token_issued', target: { type: 'user', id }, details: { ...note, username: user.username, expiresAt: enrollment.expiresAt } }, client)
      return { user, enrollment }
    },
  }

  return {
    async list(query: ListQuery): Promise<{ users: AdminUserView[]; nextCursor: string | null }> {
      const limit = Math.min(Math.max(query.limit ?? 50, 1), MAX_PAGE)
      const after = query.cursor ? decodeCursor(query.cursor) : null
      const { cursor: _c, limit: _l, ...filter } = query
      const params: unknown[] = [after?.[0] ?? null, after?.[1] ?? null, limit + 1]
      const where = userFilterSql(filter, params)
      const { rows } = await pool.query<UserRow>(
        `${SELECT_USER}
         WHERE ($1::text IS NULL OR (u.username_key, u.id) > ($1::text, $2::uuid))
           AND ${where}
         ORDER BY u.username_key, u.id
         LIMIT $3`,
        params)
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return { users: page.map(view), nextCursor: rows.length > limit && last ? encodeCursor(last.username_key, last.id) : null }
    },

    /** How many users the filter selects: the list's WHERE clause, without paging. */
    async count(filter: UserFilter): Promise<number> {
      const params: unknown[] = []
      const { rows } = await pool.query<{ count: number }>(`SELECT count(*)::int AS count FROM users u WHERE ${userFilterSql(filter, params)}`, params)
      return rows[0]!.count
    },

    async get(id: string): Promise<AdminUserView & { deviceList: DeviceView[] }> {
      const { rows } = await pool.query<UserRow>(`${SELECT_USER} WHERE u.id = $1`, [id])
      if (!rows[0]) throw new UserNotFound()
      const devices = await pool.query<{ id: string; platform: string; name: string | null; state: DeviceState; enrolled_at: Date; last_seen_at: Date | null }>(
        'SELECT id, platform, name, state, enrolled_at, last_seen_at FROM devices WHERE user_id = $1 ORDER BY enrolled_at, id', [id])
      return {
        ...view(rows[0]),
        deviceList: devices.rows.map((d) => ({
          id: d.id, platform: d.platform, name: d.name, state: d.state,
          enrolledAt: d.enrolled_at.toISOString(), lastSeenAt: d.last_seen_at?.toISOString() ?? null,
        })),
      }
    },

    /** Creates an invited user and a one-time enrollment token (returned once, stored hashed). */
    async invite(input: NewUser, actor: Actor): Promise<{ user: AdminUserView; enrollment: Enrollment }> {
      const username = checkUsername(input.username)
      try {
        return await inTransaction(pool, (client) => inTx.invite(client, input, actor))
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new UsernameTaken(username)
        throw err
      }
    },

    /** Changes display name, team or business area; null clears team and business area. */
    async update(id: string, patch: { displayName?: string | undefined; team?: string | null | undefined; businessArea?: string | null | undefined }, actor: Actor): Promise<AdminUserView> {
      const user = await inTransaction(pool, async (client) => {
        const before = await lockedRow(client, id)
        const nfkc = (v: string | null | undefined) => (typeof v === 'string' ? v.normalize('NFKC') : v)
        await client.query(
          `UPDATE users SET
             display_name = COALESCE($2, display_name),
             team = CASE WHEN $3 THEN $4 ELSE team END,
             business_area = CASE WHEN $5 THEN $6 ELSE business_area END
           WHERE id = $1`,
          [id, nfkc(patch.displayName) ?? null, patch.team !== undefined, nfkc(patch.team) ?? null, patch.businessArea !== undefined, nfkc(patch.businessArea) ?? null])
        const { rows } = await client.query<UserRow>(`${SELECT_USER} WHERE u.id = $1`, [id])
        const after = view(rows[0]!)
        await audit.append({ ...actorOf(actor), action: 'user.updated', target: { type: 'user', id }, details: { before: profile(before), after: profile(after) } }, client)
        const moved = before.team !== after.team || before.businessArea !== after.businessArea
        return { after, moved, unlisted: moved ? await findUnlisted(client, { userIds: [id] }) : [] }
      })
      // Team and business area decide whitelisting: every gateway drops what it cached about the
      // user, and a user the move took off the whitelist is disconnected at once.
      if (user.moved) await announceUserChanged(deps.redis, id)
      await endUnlistedSessions({ redis: deps.redis, sessions: deps.sessions }, user.unlisted)
      return user.after
    },

    /** Locks a user: no authentication, no messages to them, every socket closed (4003). Idempotent. */
    async lock(id: string, actor: Actor): Promise<AdminUserView> {
      const user = await inTransaction(pool, (client) => inTx.lock(client, id, actor))
      await revokeEverywhere(id, 'locked')
      return user
    },

    /** Back to active (or invited, when no device was ever enrolled). Idempotent for active users. */
    async unlock(id: string, actor: Actor): Promise<AdminUserView> {
      const user = await inTransaction(pool, (client) => inTx.unlock(client, id, actor))
      await announceUserChanged(deps.redis, id)
      return user
    },

    /**
     * Offboards a user for good: status offboarded, every active device revoked (push token
     * dropped), sessions ended, sockets closed. The user row, their envelopes and the audit trail
     * stay for compliance.
     */
    async offboard(id: string, actor: Actor): Promise<AdminUserView> {
      const user = await inTransaction(pool, (client) => inTx.offboard(client, id, actor))
      await revokeEverywhere(id, 'offboarded')
      return user
    },

    /** A new one-time enrollment token for an invited or active user (earlier ones stay valid until used or expired). */
    async issueToken(id: string, actor: Actor): Promise<{ user: AdminUserView; enrollment: Enrollment }> {
      return inTransaction(pool, (client) => inTx.issueToken(client, id, actor))
    },

    /**
     * The same changes inside a caller's open transaction (bulk operations run many per
     * transaction, a savepoint around each). They leave out what follows the commit: ending
     * sessions and announcing the change (see lock, unlock, offboard above).
     */
    inTransaction: inTx,
  }
}

export type UserAdmin = ReturnType<typeof createUserAdmin>
