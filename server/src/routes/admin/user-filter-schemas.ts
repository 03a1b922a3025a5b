// The user filter (core/admin/user-filter.ts) as the API takes it: in the query string of
// GET /users, and as the `filter` object of a bulk operation. The same members and limits in both;
// only `whitelisted` differs in form ('true'/'false' in a query, a boolean in JSON).
import { Type } from 'typebox'
import { UTC_TIMESTAMP } from '#core/admin/user-filter.ts'
import { PrintableText, Uuid } from '../../schemas.ts'
import { UserStatus } from './schemas.ts'

const UtcTimestamp = Type.String({ pattern: UTC_TIMESTAMP, maxLength: 24, description: 'ISO-8601 UTC, e.g. 2025-01-31T00:00:00Z' })

const members = {
  status: Type.Optional(UserStatus),
  q: Type.Optional(PrintableText(1, 128)),
  /** members of this pool */
  pool: Type.Optional(Uuid),
  /** exact team, business area (compared NFKC-normalised) */
  team: Type.Optional(PrintableText(1, 128)),
  businessArea: Type.Optional(PrintableText(1, 128)),
  /** [lastSeenAfter, lastSeenBefore): users never seen are matched by neither */
  lastSeenBefore: Type.Optional(UtcTimestamp),
  lastSeenAfter: Type.Optional(UtcTimestamp),
}

const WHITELISTED = 'matched by a whitelist entry (user, team or business area), whatever the whitelist mode'

/** Query-string members of GET /users besides cursor and limit. */
export const UserFilterQuery = {
  ...members,
  whitelisted: Type.Optional(Type.Enum(['true', 'false'], { description: WHITELISTED })),
}

/** The `filter` object of POST /bulk-operations. */
export const UserFilterBody = Type.Object({
  ...members,
  whitelisted: Type.Optional(Type.Boolean({ description: WHITELISTED })),
}, { additionalProperties: false })
