// Schemas of the admin API: every body, query and parameter closed (no unknown members) and
// bounded; every answer described, so the OpenAPI document says exactly what is sent.
import { Type, type TSchema } from 'typebox'
import { ADMIN_ROLES, SCOPE_NAMES } from '#core/admin/roles.ts'
import { PrintableText, Uuid } from '../../schemas.ts'

export { ErrorBody } from '../../schemas.ts'

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
const Literals = <const T extends readonly string[]>(values: T) => Type.Enum(values as unknown as T[number][])
const Timestamp = Type.String({ format: 'date-time' })

export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false })
export const Role = Literals(ADMIN_ROLES)
export const UserStatus = Literals(['invited', 'active', 'locked', 'offboarded'])
export const Scope = Literals(SCOPE_NAMES)
export const Username = PrintableText(1, 64)
export const Password = Type.String({ minLength: 1, maxLength: 256 })
export const TotpCode = Type.String({ pattern: '^[0-9]{6}$' })

export const AdminView = Type.Object({
  id: Type.String(),
  username: Type.String(),
  displayName: Type.String(),
  role: Role,
  totpEnabled: Type.Boolean(),
  disabled: Type.Boolean(),
  lockedUntil: Nullable(Timestamp),
  createdAt: Timestamp,
  lastLoginAt: Nullable(Timestamp),
  mustChangePassword: Type.Boolean({ description: 'the password was generated or reset by someone else: until it is changed, only the session routes answer' }),
})

export const UserView = Type.Object({
  id: Type.String(),
  username: Type.String(),
  displayName: Type.String(),
  email: Nullable(Type.String()),
  team: Nullable(Type.String()),
  businessArea: Nullable(Type.String()),
  externalId: Nullable(Type.String()),
  status: UserStatus,
  createdAt: Timestamp,
  lastSeenAt: Nullable(Timestamp),
  devices: Type.Integer({ description: 'active devices' }),
})

export const DeviceView = Type.Object({
  id: Type.String(),
  platform: Type.String(),
  name: Nullable(Type.String()),
  state: Literals(['active', 'wipe_pending', 'wiped', 'revoked']),
  enrolledAt: Timestamp,
  lastSeenAt: Nullable(Timestamp),
})

export const UserDetail = Type.Object({ user: UserView, devices: Type.Array(DeviceView) })

export const Enrollment = Type.Object({
  token: Type.String({ description: 'one-time enrollment token, shown only in this answer' }),
  expiresAt: Timestamp,
  link: Type.String({ description: 'mobivisor://enroll?server=…&token=…' }),
  qrSvg: Type.String({ description: 'the link as a QR code (SVG document)' }),
})

export const ApiTokenView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  createdBy: Type.Object({ id: Type.String(), username: Type.String() }),
  createdAt: Timestamp,
  expiresAt: Nullable(Timestamp),
  lastUsedAt: Nullable(Timestamp),
  revokedAt: Nullable(Timestamp),
})
