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

export const ROLES = /** @type {[string, string][]} */ ([['owner', 'owner'], ['admin', 'admin'], ['helpdesk', 'helpdesk'], ['auditor', 'auditor']])
export const ROLES_HINT = 'owner: everything · admin: users, policy, API tokens · helpdesk: invite, lock, unlock · auditor: reads only'

/** API token scopes and the rights each grants (docs/admin-api.md §2.2, core/admin/roles.ts). */
export const SCOPES = /** @type {const} */ ([
  { scope: 'users:read', rights: ['users:read'], label: 'list and look at users' },
  { scope: 'users:write', rights: ['users:invite', 'users:lock', 'users:write'], label: 'invite, lock, unlock, change and offboard users' },
  { scope: 'audit:read', rights: ['audit:read'], label: 'read and export the audit log and activity' },
  { scope: 'policy:read', rights: ['policy:read'], label: 'read the whitelist and the pools' },
  { scope: 'policy:manage', rights: ['policy:read', 'policy:manage'], label: 'change the whitelist and the pools' },
])

/** The right each bulk action needs (the contract's table); `ask` is the question, {who} the users. */
export const BULK_ACTIONS = /** @type {const} */ ([
  { action: 'lock', label: 'Lock', right: 'users:lock', verb: 'Locking', ask: 'Lock {who}?' },
  { action: 'unlock', label: 'Unlock', right: 'users:lock', verb: 'Unlocking', ask: 'Unlock {who}?' },
  { action: 'offboard', label: 'Offboard', right: 'users:write', verb: 'Offboarding', ask: 'Offboard {who}?' },
  { action: 'invite', label: 'New enrollment token', right: 'users:invite', verb: 'Issuing enrollment tokens', ask: 'New enrollment tokens for {who}?' },
  { action: 'pool.add', label: 'Add to pool', right: 'policy:manage', verb: 'Adding to the pool', ask: 'Add {who} to the pool?' },
  { action: 'pool.remove', label: 'Remove from pool', right: 'policy:manage', verb: 'Removing from the pool', ask: 'Remove {who} from the pool?' },
  { action: 'whitelist.add', label: 'Whitelist on', right: 'policy:manage', verb: 'Whitelisting', ask: 'Whitelist {who}?' },
  { action: 'whitelist.remove', label: 'Whitelist off', right: 'policy:manage', verb: 'Removing from the whitelist', ask: 'Remove {who} from the whitelist?' },
])
