// What each administrator role may do, and what an API token's scopes grant. A request is allowed
// one right; a token holds the rights of its scopes that its creator's role holds *now*, so
// demoting or disabling an administrator shrinks or ends their tokens at once.

export const ADMIN_ROLES = ['owner', 'admin', 'helpdesk', 'auditor'] as const
export type AdminRole = (typeof ADMIN_ROLES)[number]

export const RIGHTS = [
  'users:read', // list and look at users
  'users:invite', // create users, issue enrollment tokens
  'users:lock', // lock and unlock users
  'users:write', // change profiles, offboard
  'audit:read', // read and export the audit log and activity
  'api-tokens:manage', // create, list and revoke API tokens
  'admins:manage', // create, change and reset administrators
  'policy:read', // read whitelist and pools
  'policy:manage', // change whitelist mode and entries, pools and their members
] as const
export type Right = (typeof RIGHTS)[number]

export const ROLE_RIGHTS: Record<AdminRole, readonly Right[]> = {
  owner: RIGHTS,
  admin: RIGHTS.filter((r) => r !== 'admins:manage'),
  helpdesk: ['users:read', 'users:invite', 'users:lock'],
  auditor: ['users:read', 'audit:read', 'policy:read'],
}

/** Scopes an API token may carry, and the rights each grants. Tokens never manage tokens or admins. */
export const SCOPES = {
  'users:read': ['users:read'],
  'users:write': ['users:invite', 'users:lock', 'users:write'],
  'audit:read': ['audit:read'],
  'policy:read': ['policy:read'],
  'policy:manage': ['policy:read', 'policy:manage'],
} as const satisfies Record<string, readonly Right[]>
export type Scope = keyof typeof SCOPES
export const SCOPE_NAMES = Object.keys(SCOPES) as Scope[]

export function rightsOfRole(role: AdminRole): Set<Right> {
  return new Set(ROLE_RIGHTS[role])
}

/** The rights a token has: those of its scopes that its creator's role also has. */
export function rightsOfToken(scopes: readonly string[], creatorRole: AdminRole): Set<Right> {
  const role = rightsOfRole(creatorRole)
  const rights = new Set<Right>()
  for (const scope of scopes) {
    for (const right of SCOPES[scope as Scope] ?? []) if (role.has(right)) rights.add(right)
  }
  return rights
}

/** Scopes that grant a right the role lacks (a token must not exceed its creator). */
export function scopesBeyondRole(scopes: readonly Scope[], role: AdminRole): Scope[] {
  const rights = rightsOfRole(role)
  return scopes.filter((s) => SCOPES[s].some((r) => !rights.has(r)))
}
