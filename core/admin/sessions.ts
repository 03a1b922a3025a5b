// Administrator sessions in Redis. The cookie carries 32 random bytes; Redis keys hold only their
// SHA-256, so a Redis dump opens no session. A session ends after 30 minutes without a request
// (each request renews it) and at the latest after 12 hours; each carries its own CSRF token.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Redis } from 'ioredis'

export const ADMIN_SESSION_IDLE_SECONDS = 30 * 60
export const ADMIN_SESSION_MAX_SECONDS = 12 * 3600

export interface AdminSession { adminId: string; csrfToken: string; createdAt: number }

const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex')
const sessionKey = (id: string) => `mvm:admin-session:${sha256hex(id)}`
const adminSessionsKey = (adminId: string) => `mvm:admin-sessions:${adminId}`

export function csrfMatches(session: AdminSession, header: string | undefined): boolean {
  if (!header) return false
  const a = Buffer.from(session.csrfToken)
  const b = Buffer.from(header)
  return a.length === b.length && timingSafeEqual(a, b)
}

export function createAdminSessionStore(deps: { redis: Redis; idleSeconds?: number }) {
  const { redis } = deps
  const idle = deps.idleSeconds ?? ADMIN_SESSION_IDLE_SECONDS

  return {
    async create(adminId: string): Promise<{ id: string; session: AdminSession }> {
      const id = randomBytes(32).toString('base64url')
      const session: AdminSession = { adminId, csrfToken: randomBytes(32).toString('base64url'), createdAt: Date.now() }
      await redis.multi()
        .set(sessionKey(id), JSON.stringify(session), 'EX', idle)
        .sadd(adminSessionsKey(adminId), sha256hex(id))
        .expire(adminSessionsKey(adminId), ADMIN_SESSION_MAX_SECONDS)
        .exec()
      return { id, session }
    },

    /** The session, renewed for another idle period; undefined when it is unknown or too old. */
    async touch(id: string): Promise<AdminSession | undefined> {
      if (id.length < 16 || id.length > 128) return undefined
      const raw = await redis.getex(sessionKey(id), 'EX', idle)
      if (!raw) return undefined
      const session = JSON.parse(raw) as AdminSession
      if (Date.now() - session.createdAt > ADMIN_SESSION_MAX_SECONDS * 1000) {
        await redis.del(sessionKey(id))
        return undefined
      }
      return session
    },

    async end(id: string, adminId: string): Promise<void> {
      await redis.multi().del(sessionKey(id)).srem(adminSessionsKey(adminId), sha256hex(id)).exec()
    },

    /** Ends every session of an administrator (disabled, password reset), or all but `keep` (own password change). */
    async endAll(adminId: string, keep?: string): Promise<void> {
      const kept = keep ? sha256hex(keep) : undefined
      const hashes = (await redis.smembers(adminSessionsKey(adminId))).filter((h) => h !== kept)
      const pipeline = redis.pipeline()
      for (const h of hashes) pipeline.del(`mvm:admin-session:${h}`)
      if (hashes.length > 0) pipeline.srem(adminSessionsKey(adminId), ...hashes)
      await pipeline.exec()
    },
  }
}

export type AdminSessionStore = ReturnType<typeof createAdminSessionStore>
