// Administrator accounts: creation (CLI, first owner, API), login with throttling, lock-out and an
// optional TOTP factor, and the owner's management of other administrators. Writes go through
// SQL on one pg connection so that each change and its audit entry commit together.
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import { inTransaction } from '../db/client.ts'
import {
  AdminExists, AdminLastOwner, AdminLockedOut, AdminLoginFailed, AdminNotFound, AdminPasswordUnchanged, AdminPasswordWrong, AdminTotpRequired,
  RateLimited, TotpAlreadyEnabled, TotpCodeInvalid, TotpSetupMissing,
} from '../errors.ts'
import { checkUsername, usernameKey } from '../identity/usernames.ts'
import type { AuditLog } from '../audit/audit-log.ts'
import { checkPasswordStrength, dummyHash, generatePassword, hashPassword, verifyPassword } from './passwords.ts'
import { generateTotpSecret, matchTotp, otpauthUri, TOTP_STEP_SECONDS, TOTP_WINDOW } from './totp.ts'
import { createLoginThrottle, type LoginLimits } from './login-limits.ts'
import type { AdminRole } from './roles.ts'
import { actorOf, type Actor } from './actor.ts'

export const LOCKOUT_AFTER_FAILURES = 5
export const LOCKOUT_MINUTES = 15
const TOTP_SETUP_SECONDS = 10 * 60

export interface AdminView {
  id: string
  username: string
  displayName: string
  role: AdminRole
  totpEnabled: boolean
  disabled: boolean
  lockedUntil: string | null
  createdAt: string
  lastLoginAt: string | null
  /** the password was generated or reset by someone else; until changed, only the own account routes answer */
  mustChangePassword: boolean
}

interface AdminRow {
  id: string
  username: string
  username_key: string
  display_name: string
  role: AdminRole
  password_hash: string
  totp_secret: string | null
  failed_logins: number
  locked_until: Date | null
  disabled: boolean
  created_at: Date
  last_login_at: Date | null
  must_change_password: boolean
}

export function adminView(r: AdminRow): AdminView {
  return {
    id: r.id, username: r.username, displayName: r.display_name, role: r.role,
    totpEnabled: r.totp_secret !== null, disabled: r.disabled,
    lockedUntil: r.locked_until && r.locked_until > new Date() ? r.locked_until.toISOString() : null,
    createdAt: r.created_at.toISOString(), lastLoginAt: r.last_login_at?.toISOString() ?? null,
    mustChangePassword: r.must_change_password,
  }
}

/** Only what may sit in an audit entry: never the hash or the TOTP secret. */
const auditable = (v: AdminView) => ({ username: v.username, displayName: v.displayName, role: v.role, disabled: v.disabled })

const totpPendingKey = (adminId: string) => `mvm:admin-totp-pending:${adminId}`
const totpUsedKey = (adminId: string, step: bigint) => `mvm:admin-totp-used:${adminId}:${step}`

export interface LoginInput { username: string; password: string; totp?: string | undefined; sourceIp: string }

/**
 * `redis` is needed for login and TOTP (throttling, setup, replay); the CLI manages accounts
 * without it.
 */
export function createAdminService(deps: { pool: pg.Pool; redis?: Redis; audit: Pick<AuditLog, 'append'>; loginLimits?: LoginLimits }) {
  const { pool, audit } = deps
  const need = (): Redis => {
    if (!deps.redis) throw new Error('the admin service was built without Redis')
    return deps.redis
  }
  const throttle = deps.redis ? createLoginThrottle({ redis: deps.redis, ...(deps.loginLimits ? { limits: deps.loginLimits } : {}) }) : undefined

  async function row(id: string, client: pg.PoolClient | pg.Pool = pool, lock = false): Promise<AdminRow> {
    const { rows } = await client.query<AdminRow>(`SELECT * FROM admins WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id])
    if (!rows[0]) throw new AdminNotFound()
    return rows[0]
  }

  async function insert(client: pg.PoolClient, input: { username: string; displayName?: string | undefined; role: AdminRole; password: string; mustChangePassword?: boolean | undefined }): Promise<AdminRow> {
    const username = checkUsername(input.username)
    const displayName = (input.displayName ?? username).normalize('NFKC').slice(0, 128)
    try {
      const { rows } = await client.query<AdminRow>(
        `INSERT INTO admins (id, username, username_key, display_name, role, password_hash, must_change_password)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [randomUUID(), username, usernameKey(username), displayName, input.role, await hashPassword(input.password), input.mustChangePassword === true])
      return rows[0]!
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new AdminExists(username)
      throw err
    }
  }

  /** Records a failed attempt: throttle counters, the account's consecutive count and lock-out, the audit entry. */
  async function failed(input: LoginInput, key: string, account: AdminRow | undefined, reason: string): Promise<never> {
    const reached = await throttle!.failed(key, input.sourceIp)
    let lockedUntil: Date | null = null
    let failures: number | null = null
    if (account) {
      // Consecutive failures count from the end of the last lock-out; the 5th locks for 15 minutes.
      const { rows } = await pool.query<{ failed_logins: number; locked_until: Date | null }>(
        `UPDATE admins SET
           failed_logins = CASE WHEN locked_until IS NOT NULL AND locked_until <= now() THEN 1 ELSE failed_logins + 1 END,
           locked_until = CASE
             WHEN locked_until IS NOT NULL AND locked_until > now() THEN locked_until
             WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= now() THEN 1 ELSE failed_logins + 1 END) >= $2
               THEN now() + make_interval(mins => $3)
             ELSE NULL END
         WHERE id = $1 RETURNING failed_logins, locked_until`,
        [account.id, LOCKOUT_AFTER_FAILURES, LOCKOUT_MINUTES])
      failures = rows[0]?.failed_logins ?? null
      lockedUntil = rows[0]?.locked_until ?? null
    }
    const lockedNow = account !== undefined && lockedUntil !== null && !(account.locked_until && account.locked_until > new Date())
    await audit.append({
      actor: { type: 'admin', id: account?.id ?? null },
      action: 'admin.login_failed',
      ...(account ? { target: { type: 'admin', id: account.id } } : {}),
      sourceIp: input.sourceIp,
      details: {
        // What was typed as the username is kept only when it names an account: an unknown one may
        // be a password typed into the wrong field, and the log is kept for years.
        ...(account ? { username: account.username } : {}), reason, consecutiveFailures: failures,
        lockedUntil: lockedUntil?.toISOString() ?? null, ...(reached.length ? { throttled: reached } : {}),
      },
    })
    if (lockedNow) {
      await audit.append({
        actor: { type: 'system', id: 'login' }, action: 'admin.locked_out', target: { type: 'admin', id: account.id }, sourceIp: input.sourceIp,
        details: { username: account.username, consecutiveFailures: failures, lockedUntil: lockedUntil!.toISOString() },
      })
    }
    throw new AdminLoginFailed()
  }

  return {
    async login(input: LoginInput): Promise<AdminView> {
      const redis = need()
      const key = usernameKey(input.username)
      const wait = await throttle!.retryAfter(key, input.sourceIp)
      if (wait > 0) throw Object.assign(new RateLimited(), { retryAfter: wait })
      const { rows } = await pool.query<AdminRow>('SELECT * FROM admins WHERE username_key = $1', [key])
      const account = rows[0]
      // The same scrypt work whether or not the account exists.
      const passwordOk = await verifyPassword(input.password, account?.password_hash ?? await dummyHash())
      if (!account) return failed(input, key, undefined, 'unknown_user')
      if (!passwordOk) return failed(input, key, account, 'bad_password')
      if (account.disabled) return failed(input, key, account, 'disabled')
      // Only someone who knows the password learns that the account is locked out.
      if (account.locked_until && account.locked_until > new Date()) {
        await audit.append({
          actor: { type: 'admin', id: account.id }, action: 'admin.login_failed', target: { type: 'admin', id: account.id },
          sourceIp: input.sourceIp, details: { username: account.username, reason: 'locked', lockedUntil: account.locked_until.toISOString() },
        })
        throw new AdminLockedOut(account.locked_until.toISOString())
      }
      if (account.totp_secret) {
        if (!input.totp) throw new AdminTotpRequired()
        const step = matchTotp(account.totp_secret, input.totp)
        // A code is good once: a second use within its window is a failure.
        const fresh = step !== undefined && (await redis.set(totpUsedKey(account.id, step), '1', 'EX', TOTP_STEP_SECONDS * (2 * TOTP_WINDOW + 2), 'NX')) === 'OK'
        if (!fresh) return failed(input, key, account, 'bad_totp')
      }
      const updated = await inTransaction(pool, async (client) => {
        const { rows: [r] } = await client.query<AdminRow>(
          'UPDATE admins SET failed_logins = 0, locked_until = NULL, last_login_at = now() WHERE id = $1 RETURNING *', [account.id])
        await audit.append({
          actor: { type: 'admin', id: account.id }, action: 'admin.login', target: { type: 'admin', id: account.id },
          sourceIp: input.sourceIp, details: { username: account.username, totp: account.totp_secret !== null },
        }, client)
        return r!
      })
      await throttle!.succeeded(key)
      return adminView(updated)
    },

    /** The account behind a session, or undefined when it is gone or disabled. */
    async active(id: string): Promise<AdminView | undefined> {
      const { rows } = await pool.query<AdminRow>('SELECT * FROM admins WHERE id = $1 AND NOT disabled', [id])
      return rows[0] ? adminView(rows[0]) : undefined
    },

    async get(id: string): Promise<AdminView> {
      return adminView(await row(id))
    },

    async byUsername(username: string): Promise<AdminView> {
      const { rows } = await pool.query<AdminRow>('SELECT * FROM admins WHERE username_key = $1', [usernameKey(username)])
      if (!rows[0]) throw new AdminNotFound()
      return adminView(rows[0])
    },

    async list(): Promise<AdminView[]> {
      const { rows } = await pool.query<AdminRow>('SELECT * FROM admins ORDER BY username_key, id')
      return rows.map(adminView)
    },

    /**
     * A new administrator with the given or a generated password (returned once). The API and the
     * CLI hand the password to someone else, so they set mustChangePassword.
     */
    async create(input: { username: string; displayName?: string | undefined; role: AdminRole; password?: string | undefined; mustChangePassword?: boolean | undefined }, actor: Actor): Promise<{ admin: AdminView; password: string }> {
      const password = input.password ?? generatePassword()
      checkPasswordStrength(password)
      const admin = await inTransaction(pool, async (client) => {
        const created = adminView(await insert(client, { ...input, password }))
        await audit.append({ ...actorOf(actor), action: 'admin.created', target: { type: 'admin', id: created.id }, details: { after: auditable(created) } }, client)
        return created
      })
      return { admin, password }
    },

    /**
     * The first owner, when there is no administrator at all (scripts/start). Serialised by an
     * advisory lock so that two starts at once create one.
     */
    async createFirstOwner(username = 'owner'): Promise<{ admin: AdminView; password: string } | undefined> {
      const password = generatePassword()
      return inTransaction(pool, async (client) => {
        await client.query("SELECT pg_advisory_xact_lock(hashtext('mvm:first-owner'))")
        const { rows } = await client.query('SELECT 1 FROM admins LIMIT 1')
        if (rows.length > 0) return undefined
        const admin = adminView(await insert(client, { username, displayName: 'Owner', role: 'owner', password, mustChangePassword: true }))
        await audit.append({ actor: { type: 'system', id: 'first-owner' }, action: 'admin.created', target: { type: 'admin', id: admin.id }, details: { after: auditable(admin), firstOwner: true } }, client)
        return { admin, password }
      })
    },

    /** Changes name, role or the disabled flag; the last active owner stays an active owner. */
    async update(id: string, patch: { displayName?: string | undefined; role?: AdminRole | undefined; disabled?: boolean | undefined }, actor: Actor): Promise<AdminView> {
      return inTransaction(pool, async (client) => {
        // Lock every active owner first, so two demotions at once cannot both pass the check.
        const { rows: owners } = await client.query<{ id: string }>("SELECT id FROM admins WHERE role = 'owner' AND NOT disabled ORDER BY id FOR UPDATE")
        const before = adminView(await row(id, client, true))
        const losesOwner = before.role === 'owner' && !before.disabled && ((patch.role !== undefined && patch.role !== 'owner') || patch.disabled === true)
        if (losesOwner && owners.filter((o) => o.id !== id).length === 0) throw new AdminLastOwner()
        const { rows: [r] } = await client.query<AdminRow>(
          `UPDATE admins SET display_name = COALESCE($2, display_name), role = COALESCE($3, role), disabled = COALESCE($4, disabled)
           WHERE id = $1 RETURNING *`,
          [id, patch.displayName?.normalize('NFKC') ?? null, patch.role ?? null, patch.disabled ?? null])
        const after = adminView(r!)
        await audit.append({ ...actorOf(actor), action: 'admin.updated', target: { type: 'admin', id }, details: { before: auditable(before), after: auditable(after) } }, client)
        return after
      })
    },

    /**
     * A new generated password (returned once), to be changed at the next sign-in; clears the
     * lock-out and, if asked, the TOTP factor.
     */
    async resetPassword(id: string, opts: { resetTotp?: boolean | undefined }, actor: Actor): Promise<{ admin: AdminView; password: string }> {
      const password = generatePassword()
      const hash = await hashPassword(password)
      const admin = await inTransaction(pool, async (client) => {
        const { rows: [r] } = await client.query<AdminRow>(
          `UPDATE admins SET password_hash = $2, failed_logins = 0, locked_until = NULL, must_change_password = true,
             totp_secret = CASE WHEN $3 THEN NULL ELSE totp_secret END
           WHERE id = $1 RETURNING *`, [id, hash, opts.resetTotp === true])
        if (!r) throw new AdminNotFound()
        await audit.append({ ...actorOf(actor), action: 'admin.password_changed', target: { type: 'admin', id }, details: { username: r.username, by: 'reset', totpReset: opts.resetTotp === true } }, client)
        return adminView(r)
      })
      return { admin, password }
    },

    /** The administrator's own change: the current password proves it is them, not just their session. */
    async changePassword(adminId: string, current: string, next: string, actor: Actor): Promise<void> {
      checkPasswordStrength(next)
      const account = await row(adminId)
      if (!(await verifyPassword(current, account.password_hash))) throw new AdminPasswordWrong()
      // A handed-out password must give way to one that only its holder knows.
      if (account.must_change_password && current === next) throw new AdminPasswordUnchanged()
      const hash = await hashPassword(next)
      await inTransaction(pool, async (client) => {
        await client.query('UPDATE admins SET password_hash = $2, must_change_password = false WHERE id = $1', [adminId, hash])
        await audit.append({ ...actorOf(actor), action: 'admin.password_changed', target: { type: 'admin', id: adminId }, details: { username: account.username, by: 'self' } }, client)
      })
    },

    /** Starts TOTP enrolment: a new secret, kept aside for 10 minutes until a code proves the app has it. */
    async totpSetup(adminId: string): Promise<{ secret: string; otpauthUri: string }> {
      const admin = await row(adminId)
      if (admin.totp_secret) throw new TotpAlreadyEnabled()
      const secret = generateTotpSecret()
      await need().set(totpPendingKey(adminId), secret, 'EX', TOTP_SETUP_SECONDS)
      return { secret, otpauthUri: otpauthUri(secret, admin.username) }
    },

    async totpEnable(adminId: string, code: string, actor: Actor): Promise<AdminView> {
      const redis = need()
      const secret = await redis.get(totpPendingKey(adminId))
      if (!secret) throw new TotpSetupMissing()
      const step = matchTotp(secret, code)
      if (step === undefined) throw new TotpCodeInvalid()
      const admin = await inTransaction(pool, async (client) => {
        const { rows: [r] } = await client.query<AdminRow>('UPDATE admins SET totp_secret = $2 WHERE id = $1 AND totp_secret IS NULL RETURNING *', [adminId, secret])
        if (!r) throw new TotpAlreadyEnabled()
        await audit.append({ ...actorOf(actor), action: 'admin.updated', target: { type: 'admin', id: adminId }, details: { username: r.username, before: { totpEnabled: false }, after: { totpEnabled: true } } }, client)
        return adminView(r)
      })
      // The code that enabled it may not also sign in.
      await redis.multi().del(totpPendingKey(adminId)).set(totpUsedKey(adminId, step), '1', 'EX', TOTP_STEP_SECONDS * (2 * TOTP_WINDOW + 2)).exec()
      return admin
    },

    async count(): Promise<number> {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM admins')
      return rows[0]!.n
    },
  }
}

export type AdminService = ReturnType<typeof createAdminService>
