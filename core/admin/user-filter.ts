// Which users a filter selects (docs/admin-api.md §4 and §11): one WHERE clause, built from bind
// parameters only, shared by the user list and by bulk operations, so that a bulk operation on a
// filter acts on exactly the users the list shows for it.
import { BadRequest } from '../errors.ts'
import { usernameKey } from '../identity/usernames.ts'
import type { UserStatus } from '../identity/users.ts'

export const USER_STATUSES = ['invited', 'active', 'locked', 'offboarded'] as const

export interface UserFilter {
  status?: UserStatus | undefined
  /** substring of the username or the display name, case-insensitive */
  q?: string | undefined
  /** members of this pool */
  pool?: string | undefined
  /** exact team (NFKC) */
  team?: string | undefined
  /** exact business area (NFKC) */
  businessArea?: string | undefined
  /** matched by a whitelist entry (user, team or business area), whatever the org mode */
  whitelisted?: boolean | undefined
  /** ISO-8601 UTC: last seen before (exclusive) */
  lastSeenBefore?: string | undefined
  /** ISO-8601 UTC: last seen at or after (inclusive) */
  lastSeenAfter?: string | undefined
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
export const UTC_TIMESTAMP = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,3})?Z$'
const UTC = new RegExp(UTC_TIMESTAMP)
const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`)

function timestamp(value: string, name: string): Date {
  const at = new Date(value)
  // Date accepts 2024-02-30 as March 1st; the round trip refuses it. Year 0 is valid ISO-8601
  // but not a PostgreSQL timestamp (there the year before 1 AD is 1 BC).
  if (!UTC.test(value) || Number.isNaN(at.getTime()) || at.toISOString().slice(0, 19) !== value.slice(0, 19) || value.startsWith('0000')) {
    throw new BadRequest(`${name} is not an ISO-8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.mmm]Z)`)
  }
  return at
}

/**
 * The filter checked and in the form it is compared in (trimmed search text, NFKC team and business
 * area, lowercase pool id, valid timestamps); BadRequest names what is wrong.
 */
export function cleanFilter(filter: UserFilter): UserFilter {
  const out: UserFilter = {}
  if (filter.status !== undefined) {
    if (!(USER_STATUSES as readonly string[]).includes(filter.status)) throw new BadRequest('status is not a user status')
    out.status = filter.status
  }
  if (filter.q !== undefined && filter.q.trim()) out.q = filter.q.trim()
  if (filter.pool !== undefined) {
    if (!UUID.test(filter.pool.toLowerCase())) throw new BadRequest('pool is not a pool id')
    out.pool = filter.pool.toLowerCase()
  }
  if (filter.team !== undefined) out.team = filter.team.normalize('NFKC')
  if (filter.businessArea !== undefined) out.businessArea = filter.businessArea.normalize('NFKC')
  if (filter.whitelisted !== undefined) out.whitelisted = filter.whitelisted
  if (filter.lastSeenBefore !== undefined) out.lastSeenBefore = timestamp(filter.lastSeenBefore, 'lastSeenBefore').toISOString()
  if (filter.lastSeenAfter !== undefined) out.lastSeenAfter = timestamp(filter.lastSeenAfter, 'lastSeenAfter').toISOString()
  return out
}

/**
 * The conditions on the users row `u` as one SQL expression ('true' for an empty filter). Values
 * are appended to `params` and referenced as $n, so the caller's own parameters may come first.
 */
export function userFilterSql(filter: UserFilter, params: unknown[]): string {
  const f = cleanFilter(filter)
  const $ = (value: unknown) => {
    params.push(value)
    return `$${params.length}`
  }
  const where: string[] = []
  if (f.status) where.push(`u.status = ${$(f.status)}::user_status`)
  if (f.q) {
    where.push(`(u.username_key LIKE ${$(`%${likeEscape(usernameKey(f.q))}%`)} ESCAPE '\\'
      OR lower(u.display_name) LIKE ${$(`%${likeEscape(f.q.normalize('NFKC').toLowerCase())}%`)} ESCAPE '\\')`)
  }
  if (f.pool) where.push(`EXISTS (SELECT 1 FROM pool_members m WHERE m.pool_id = ${$(f.pool)}::uuid AND m.user_id = u.id)`)
  if (f.team !== undefined) where.push(`u.team = ${$(f.team)}`)
  if (f.businessArea !== undefined) where.push(`u.business_area = ${$(f.businessArea)}`)
  if (f.whitelisted !== undefined) {
    where.push(`${f.whitelisted ? '' : 'NOT '}EXISTS (SELECT 1 FROM whitelist_entries w WHERE
         (w.kind = 'user' AND w.value = u.id::text)
      OR (w.kind = 'team' AND w.value = u.team)
      OR (w.kind = 'business_area' AND w.value = u.business_area))`)
  }
  // Never seen (NULL) is matched by neither bound.
  if (f.lastSeenBefore) where.push(`u.last_seen_at < ${$(f.lastSeenBefore)}::timestamptz`)
  if (f.lastSeenAfter) where.push(`u.last_seen_at >= ${$(f.lastSeenAfter)}::timestamptz`)
  return where.length ? where.join('\n  AND ') : 'true'
}
