// A whitelist change ends the sessions of everyone it takes off the list, at once (DESIGN §6: a
// user who is not whitelisted cannot connect). Inside the change's transaction we find who lost
// it and which devices they have; after the commit their sessions are revoked and every gateway
// closes their sockets (4003 "not whitelisted"), as for a lock.
import type { Redis } from 'ioredis'
import type pg from 'pg'
import type { SessionService } from '../identity/sessions.ts'
import { announceUsersRevoked } from '../messaging/recipient-cache.ts'
import { WHITELISTED } from './policy.ts'

export interface Unlisted { userId: string; deviceIds: string[] }

/** Which users the change could affect: everyone, some users, or those an entry matched. */
export type UnlistedScope =
  | { all: true }
  | { userIds: string[] }
  | { entry: { kind: 'user' | 'team' | 'business_area'; value: string } }

/** Users in scope, not whitelisted as `client` now sees the tables, with active devices. */
export async function findUnlisted(client: pg.PoolClient | pg.Pool, scope: UnlistedScope): Promise<Unlisted[]> {
  const userIds = 'userIds' in scope ? scope.userIds : null
  const entry = 'entry' in scope ? scope.entry : null
  const { rows } = await client.query<{ user_id: string; device_ids: string[] }>(
    `SELECT u.id AS user_id, array_agg(d.id::text ORDER BY d.id) AS device_ids
     FROM users u JOIN devices d ON d.user_id = u.id AND d.state = 'active'
     WHERE ($1::uuid[] IS NULL OR u.id = ANY($1::uuid[]))
       AND ($2::text IS NULL
         OR ($2 = 'user' AND u.id::text = $3) OR ($2 = 'team' AND u.team = $3) OR ($2 = 'business_area' AND u.business_area = $3))
       AND NOT ${WHITELISTED}
     GROUP BY u.id`,
    [userIds, entry?.kind ?? null, entry?.value ?? null])
  return rows.map((r) => ({ userId: r.user_id, deviceIds: r.device_ids }))
}

/** After the change committed: no session of theirs outlives it, and every gateway hears of it. */
export async function endUnlistedSessions(deps: { redis: Redis; sessions: Pick<SessionService, 'revokeDevices'> }, unlisted: Unlisted[]): Promise<void> {
  if (unlisted.length === 0) return
  await deps.sessions.revokeDevices(unlisted.flatMap((u) => u.deviceIds))
  await announceUsersRevoked(deps.redis, unlisted.map((u) => u.userId), 'not_whitelisted')
}
