// @ts-check
// What each role may do (docs/admin-api.md §1, core/admin/roles.ts). The portal only hides what a
// role cannot do; the server checks every request anyway.

const ALL = ['users:read', 'users:invite', 'users:lock', 'users:write', 'audit:read', 'api-tokens:manage', 'admins:manage', 'policy:read', 'policy:manage']

/** @type {Record<string, string[]>} */
const ROLE_RIGHTS = {
  owner: ALL,
  admin: ALL.filter((r) => r !== 'admins:manage'),
  helpdesk: ['users:read', 'users:invite', 'users:lock'],
  auditor: ['users:read', 'audit:read', 'policy:read'],
}

/** @param {string} role @returns {Set<string>} */
export function rightsOf(role) {
  return new Set(ROLE_RIGHTS[role] ?? [])
}

/** The right each bulk action needs (the contract's table). */
export const BULK_ACTIONS = /** @type {const} */ ([
  { action: 'lock', label: 'Lock', right: 'users:lock', verb: 'Locking' },
  { action: 'unlock', label: 'Unlock', right: 'users:lock', verb: 'Unlocking' },
  { action: 'offboard', label: 'Offboard', right: 'users:write', verb: 'Offboarding' },
  { action: 'invite', label: 'New enrollment token', right: 'users:invite', verb: 'Issuing enrollment tokens' },
  { action: 'pool.add', label: 'Add to pool', right: 'policy:manage', verb: 'Adding to the pool' },
  { action: 'pool.remove', label: 'Remove from pool', right: 'policy:manage', verb: 'Removing from the pool' },
  { action: 'whitelist.add', label: 'Whitelist on', right: 'policy:manage', verb: 'Whitelisting' },
  { action: 'whitelist.remove', label: 'Whitelist off', right: 'policy:manage', verb: 'Removing from the whitelist' },
])
