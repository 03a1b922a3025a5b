// Each gateway keeps every addressed user's status and active devices in memory, so accepting an
// envelope reads nothing from the database. Whatever changes a user's devices or status
// announces it on the control channel and every gateway drops its copy; entries also expire
// after a short time as a backstop for a lost announcement.
import type { Redis } from 'ioredis'
import type pg from 'pg'

export const CONTROL_CHANNEL = 'mvm:control'

export interface CachedUser { status: string; devices: string[] }

const LOAD = `
SELECT u.id AS user_id, u.status, COALESCE(array_agg(d.id ORDER BY d.id) FILTER (WHERE d.id IS NOT NULL), '{}') AS devices
FROM users u LEFT JOIN devices d ON d.user_id = u.id AND d.state = 'active'
WHERE u.id = ANY($1::uuid[])
GROUP BY u.id`

export function createRecipientCache(deps: { pool: pg.Pool; ttlMs?: number; maxEntries?: number }) {
  const ttlMs = deps.ttlMs ?? 30_000
  const maxEntries = deps.maxEntries ?? 100_000
  const entries = new Map<string, CachedUser & { at: number }>()

  return {
    /** Users by id; an id missing from the result does not exist. */
    async get(userIds: string[], opts: { fresh?: boolean } = {}): Promise<Map<string, CachedUser>> {
      const now = Date.now()
      const result = new Map<string, CachedUser>()
      const missing: string[] = []
      for (const id of new Set(userIds)) {
        const entry = opts.fresh ? undefined : entries.get(id)
        if (entry && now - entry.at < ttlMs) result.set(id, entry)
        else missing.push(id)
      }
      if (missing.length > 0) {
        const { rows } = await deps.pool.query<{ user_id: string; status: string; devices: string[] }>({ name: 'mvm_recipient_cache', text: LOAD, values: [missing] })
        for (const r of rows) {
          const entry = { status: r.status, devices: r.devices, at: now }
          entries.delete(r.user_id)
          entries.set(r.user_id, entry)
          result.set(r.user_id, entry)
        }
        while (entries.size > maxEntries) entries.delete(entries.keys().next().value!)
      }
      return result
    },
    invalidate(userId: string) { entries.delete(userId) },
    /** Subscribes `subscriber` to the control channel and drops entries as they are announced. */
    async listen(subscriber: Redis): Promise<void> {
      subscriber.on('message', (channel: string, message: string) => {
        if (channel !== CONTROL_CHANNEL) return
        try {
          const event = JSON.parse(message) as { type?: string; userId?: string }
          if ((event.type === 'user-changed' || event.type === 'user-revoked') && typeof event.userId === 'string') entries.delete(event.userId)
        } catch { /* not ours */ }
      })
      await subscriber.subscribe(CONTROL_CHANNEL)
    },
  }
}

export type RecipientCache = ReturnType<typeof createRecipientCache>

/** Tells every gateway that a user's devices or status changed. */
export async function announceUserChanged(redis: Redis, userId: string): Promise<void> {
  await redis.publish(CONTROL_CHANNEL, JSON.stringify({ type: 'user-changed', userId }))
}

export type RevokeReason = 'locked' | 'offboarded' | 'not_whitelisted'
export interface UserRevoked { type: 'user-revoked'; userId: string; reason: RevokeReason }

/**
 * Tells every gateway that a user was locked, offboarded or taken off the whitelist: each drops what it cached about the
 * user and closes the user's sockets (server/src/ws/device-socket.ts). Sent after the sessions
 * were revoked, so a client that reconnects at once is refused.
 */
export async function announceUserRevoked(redis: Redis, userId: string, reason: RevokeReason): Promise<void> {
  await redis.publish(CONTROL_CHANNEL, JSON.stringify({ type: 'user-revoked', userId, reason } satisfies UserRevoked))
}

/** announceUserRevoked for many users in one round trip. */
export async function announceUsersRevoked(redis: Redis, userIds: readonly string[], reason: RevokeReason): Promise<void> {
  if (userIds.length === 0) return
  const pipeline = redis.pipeline()
  for (const userId of userIds) pipeline.publish(CONTROL_CHANNEL, JSON.stringify({ type: 'user-revoked', userId, reason } satisfies UserRevoked))
  await pipeline.exec()
}
