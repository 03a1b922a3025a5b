// Failed-login throttling in Redis, before any password is checked (scrypt is deliberately slow,
// so unthrottled guessing would also be a way to burn CPU): at most 10 failures per username and
// 30 per source address in a 15-minute window; more get 429 until the window ends. Usernames are
// counted whether or not they exist. The per-account lock-out (5 in a row) is in admins.ts.
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'

export interface LoginLimits { perUsername: number; perSource: number; windowSeconds: number }
export const LOGIN_LIMITS: LoginLimits = { perUsername: 10, perSource: 30, windowSeconds: 15 * 60 }

const userKey = (usernameKey: string) => `mvm:admin-login:user:${createHash('sha256').update(usernameKey).digest('hex')}`
const sourceKey = (ip: string) => `mvm:admin-login:ip:${ip}`

export function createLoginThrottle(deps: { redis: Redis; limits?: LoginLimits }) {
  const { redis } = deps
  const limits = deps.limits ?? LOGIN_LIMITS
  return {
    /** Seconds until another attempt is allowed, or 0 when it is allowed now. */
    async retryAfter(usernameKey: string, ip: string): Promise<number> {
      const results = await redis.pipeline().get(userKey(usernameKey)).ttl(userKey(usernameKey)).get(sourceKey(ip)).ttl(sourceKey(ip)).exec()
      const [userCount, userTtl, sourceCount, sourceTtl] = (results ?? []).map(([, value]) => Number(value ?? 0))
      return Math.max(0,
        (userCount ?? 0) >= limits.perUsername ? Math.max(1, userTtl ?? 1) : 0,
        (sourceCount ?? 0) >= limits.perSource ? Math.max(1, sourceTtl ?? 1) : 0)
    },
    /** Counts a failure; returns the limits this failure reached (for the audit log), usually none. */
    async failed(usernameKey: string, ip: string): Promise<('username' | 'source')[]> {
      const pipeline = redis.pipeline()
      for (const key of [userKey(usernameKey), sourceKey(ip)]) {
        pipeline.incr(key)
        pipeline.expire(key, limits.windowSeconds, 'NX')
      }
      const results = await pipeline.exec()
      const [user, source] = [Number(results?.[0]?.[1] ?? 0), Number(results?.[2]?.[1] ?? 0)]
      return [...(user === limits.perUsername ? ['username' as const] : []), ...(source === limits.perSource ? ['source' as const] : [])]
    },
    /** A successful login clears its username's count (not the address's). */
    async succeeded(usernameKey: string): Promise<void> {
      await redis.del(userKey(usernameKey))
    },
  }
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>

/**
 * Refused API tokens per source address in the same 15-minute window: the first 30 are each
 * written to the audit log; from then on a refused token is answered 429 and not written, so a
 * client with bad tokens cannot flood the append-only log (nor hold its lock). A valid token is
 * never held back by this count.
 */
export const TOKEN_FAILURE_LIMIT = { perSource: 30, windowSeconds: 15 * 60 }
const tokenFailureKey = (ip: string) => `mvm:admin-token-fail:ip:${ip}`

export function createTokenFailureThrottle(deps: { redis: Redis; limit?: typeof TOKEN_FAILURE_LIMIT }) {
  const limit = deps.limit ?? TOKEN_FAILURE_LIMIT
  return {
    /** Counts a refused token: `audit` while under the limit, else the seconds until the window ends. */
    async failed(ip: string): Promise<{ audit: true; reached: boolean } | { audit: false; retryAfter: number }> {
      const results = await deps.redis.pipeline().incr(tokenFailureKey(ip)).expire(tokenFailureKey(ip), limit.windowSeconds, 'NX').ttl(tokenFailureKey(ip)).exec()
      const count = Number(results?.[0]?.[1] ?? 0)
      if (count <= limit.perSource) return { audit: true, reached: count === limit.perSource }
      return { audit: false, retryAfter: Math.max(1, Number(results?.[2]?.[1] ?? 1)) }
    },
  }
}
