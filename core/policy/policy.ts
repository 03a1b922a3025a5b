// Whitelist and pools as the hot path sees them (DESIGN §6). Each gateway keeps, per user, whether
// the user is whitelisted and the pools they are in; any change to the whitelist, a pool or a
// user's team or business area announces 'policy-changed' on the control channel and every
// gateway drops its whole copy. Entries also expire after a short time as a backstop.
import type { Redis } from 'ioredis'
import type pg from 'pg'
import { CONTROL_CHANNEL } from '../messaging/recipient-cache.ts'

export interface UserPolicy { whitelisted: boolean; pools: string[] }

/** SQL: true when the user row `u` may enroll, connect and be messaged under the whitelist. */
export const WHITELISTED = `(COALESCE((SELECT whitelist_mode FROM org_settings WHERE id = 1), 'all') = 'all'
   OR EXISTS (SELECT 1 FROM whitelist_entries w WHERE
        (w.kind = 'user' AND w.value = u.id::text)
     OR (w.kind = 'team' AND w.value = u.team)
     OR (w.kind = 'business_area' AND w.value = u.business_area)))`

const LOAD = `
SELECT u.id AS user_id,
  ${WHITELISTED} AS whitelisted,
  COALESCE((SELECT array_agg(m.pool_id::text ORDER BY m.pool_id) FROM pool_members m WHERE m.user_id = u.id), '{}') AS pools
FROM users u WHERE u.id = ANY($1::uuid[])`

/** Two users may exchange anything only if both are in no pool, or they share a pool. */
export function poolsAllow(a: readonly string[], b: readonly string[]): boolean {
  if (a.length === 0 && b.length === 0) return true
  const set = new Set(a)
  return b.some((p) => set.has(p))
}

export function createPolicyCache(deps: { pool: pg.Pool; ttlMs?: number; maxEntries?: number }) {
  const ttlMs = deps.ttlMs ?? 30_000
  const maxEntries = deps.maxEntries ?? 100_000
  const entries = new Map<string, UserPolicy & { at: number }>()
  // Bumped on every invalidation, so a load that raced an announcement is not cached.
  let generation = 0

  async function get(userIds: string[]): Promise<Map<string, UserPolicy>> {
    const now = Date.now()
    const result = new Map<string, UserPolicy>()
    const missing: string[] = []
    for (const id of new Set(userIds)) {
      const e = entries.get(id)
      if (e && now - e.at < ttlMs) result.set(id, e)
      else missing.push(id)
    }
    if (missing.length > 0) {
      const gen = generation
      const { rows } = await deps.pool.query<{ user_id: string; whitelisted: boolean; pools: string[] }>({ name: 'mvm_policy_cache', text: LOAD, values: [missing] })
      for (const r of rows) {
        const e = { whitelisted: r.whitelisted, pools: r.pools, at: now }
        result.set(r.user_id, e)
        if (gen === generation) { entries.delete(r.user_id); entries.set(r.user_id, e) }
      }
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value!)
    }
    return result
  }

  return {
    get,
    async isWhitelisted(userId: string): Promise<boolean> {
      return (await get([userId])).get(userId)?.whitelisted ?? false
    },
    /** The `mayExchange` hook of envelopes and the directory. */
    async mayExchange(a: string, b: string): Promise<boolean> {
      const m = await get([a, b])
      const pa = m.get(a), pb = m.get(b)
      if (!pa || !pb) return false
      return poolsAllow(pa.pools, pb.pools)
    },
    clear() { generation++; entries.clear() },
    /** Subscribes `subscriber` to the control channel (already subscribed by the recipient cache is fine). */
    async listen(subscriber: Redis): Promise<void> {
      subscriber.on('message', (channel: string, message: string) => {
        if (channel !== CONTROL_CHANNEL) return
        try {
          const event = JSON.parse(message) as { type?: string; userId?: string }
          if (event.type === 'policy-changed') { generation++; entries.clear() }
          else if ((event.type === 'user-changed' || event.type === 'user-revoked') && typeof event.userId === 'string') { generation++; entries.delete(event.userId) }
        } catch { /* not ours */ }
      })
      await subscriber.subscribe(CONTROL_CHANNEL)
    },
  }
}

export type PolicyCache = ReturnType<typeof createPolicyCache>

/** Tells every gateway to drop everything it cached about whitelist and pools. */
export async function announcePolicyChanged(redis: Redis): Promise<void> {
  await redis.publish(CONTROL_CHANNEL, JSON.stringify({ type: 'policy-changed' }))
}
