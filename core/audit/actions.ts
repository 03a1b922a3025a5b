// The vocabulary of audit actions (docs/audit.md §1). append() accepts any name of the form
// area.verb, so a new action needs no change here, but it belongs in this list and in the doc.
export const AUDIT_ACTIONS = {
  'admin.login': 'an administrator signed in',
  'admin.login_failed': 'a sign-in was refused (details.reason: unknown_user, bad_password, bad_totp, locked, disabled)',
  'admin.logout': 'an administrator signed out',
  'admin.locked_out': 'an administrator account was locked after repeated failed sign-ins',
  'admin.created': 'an administrator account was created',
  'admin.updated': 'an administrator account changed (role, name, disabled; details.before/after)',
  'admin.password_changed': 'an administrator password was set or changed',
  'api_token.created': 'an API token was issued (its name and scopes, never the token)',
  'api_token.revoked': 'an API token was revoked',
  'api_token.auth_failed': 'a request with an unknown, expired or revoked API token was refused',
  'user.created': 'a user was invited',
  'user.updated': 'a user changed (details.before/after)',
  'user.enrollment_token_issued': 'an enrollment token was issued for a user (never the token)',
  'user.lock': 'a user was locked',
  'user.unlock': 'a user was unlocked',
  'user.offboard': 'a user was offboarded',
  'device.enrolled': 'a device was enrolled',
  'device.auth_failed': 'a device failed authentication',
  'device.revoked': 'a device was revoked',
  'device.wipe_requested': 'a remote wipe was ordered',
  'device.wipe_acknowledged': 'a device confirmed a remote wipe',
  'pool.created': 'a pool was created',
  'pool.updated': 'a pool was renamed (details.before/after) or its members changed (details.added/removed, member counts before/after)',
  'pool.deleted': 'a pool was deleted',
  'policy.updated': 'a restriction set changed (details.before/after)',
  'whitelist.updated': 'the activation whitelist changed (details.before/after)',
  'archive.exported': 'a message archive was exported',
  'audit.exported': 'the audit log was exported (details: period, filters, format, count, last seq and hash)',
  'bulk.started': 'a bulk operation was created (details: action, total, pool; each user\'s change is its own entry)',
  'bulk.finished': 'a bulk operation finished (details: action, total, succeeded, failed)',
} as const

export type KnownAuditAction = keyof typeof AUDIT_ACTIONS
/** A known action, or any other area.verb name (autocompletion keeps the known ones in view). */
export type AuditAction = KnownAuditAction | (string & {})
