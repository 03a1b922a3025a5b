// Stable, coded errors shared by gateway and worker. The status code is what an API answers with;
// the code (MVM_<AREA>_<REASON>) is what clients branch on and is documented in docs/protocol.md.
import createError from '@fastify/error'

export const BadRequest = createError('MVM_REQUEST_INVALID', '%s', 400)
export const AuthFailed = createError('MVM_AUTH_FAILED', 'authentication failed', 401)
export const Forbidden = createError('MVM_FORBIDDEN', 'not allowed', 403)
export const UserNotFound = createError('MVM_USER_NOT_FOUND', 'no such user', 404)
export const DeviceNotFound = createError('MVM_DEVICE_NOT_FOUND', 'no such device', 404)
export const UsernameTaken = createError('MVM_USER_EXISTS', 'username %s is taken', 409)
export const UsernameInvalid = createError('MVM_USER_NAME_INVALID', '%s', 400)
export const EnrollmentInvalid = createError('MVM_ENROLLMENT_INVALID', 'enrollment token is invalid, used or expired', 401)
export const DeviceKeyInUse = createError('MVM_DEVICE_KEY_IN_USE', 'this signing key is already enrolled', 409)
export const PeerHasNoDevices = createError('MVM_PEER_NO_DEVICES', 'the recipient has no active device yet', 409)
export const PeerNotReachable = createError('MVM_PEER_NOT_REACHABLE', 'you cannot exchange messages with this user', 403)
export const DeviceMismatch = createError('MVM_ENVELOPE_DEVICE_MISMATCH', 'the recipient device list is out of date', 409)
export const EnvelopeTooLarge = createError('MVM_ENVELOPE_TOO_LARGE', 'envelope exceeds %d bytes', 413)
export const RateLimited = createError('MVM_RATE_LIMITED', 'too many requests, retry later', 429)
export const Unavailable = createError('MVM_UNAVAILABLE', 'service unavailable', 503)

export class DeviceMismatchError extends DeviceMismatch {
  constructor(readonly missingDevices: string[], readonly extraDevices: string[]) {
    super()
  }
}

// Administration (docs/admin-api.md).
export const AdminAuthRequired = createError('MVM_ADMIN_AUTH_REQUIRED', 'sign in or present an API token', 401)
export const AdminLoginFailed = createError('MVM_ADMIN_LOGIN_FAILED', 'wrong username, password or code', 401)
export const AdminTotpRequired = createError('MVM_ADMIN_TOTP_REQUIRED', 'this account needs a TOTP code', 401)
export const AdminLockedOut = createError('MVM_ADMIN_LOCKED_OUT', 'too many failed logins; try again after %s', 403)
export const AdminCsrf = createError('MVM_ADMIN_CSRF', 'the x-csrf-token header is missing or wrong', 403)
export const AdminForbidden = createError('MVM_ADMIN_FORBIDDEN', 'not allowed: %s', 403)
export const PasswordTooWeak = createError('MVM_ADMIN_PASSWORD_WEAK', 'a password has 12 to 256 characters', 400)
export const AdminPasswordWrong = createError('MVM_ADMIN_PASSWORD_WRONG', 'the current password is wrong', 403)
export const AdminPasswordUnchanged = createError('MVM_ADMIN_PASSWORD_UNCHANGED', 'the new password must differ from the one that was handed out', 400)
export const AdminPasswordChangeRequired = createError('MVM_ADMIN_PASSWORD_CHANGE_REQUIRED', 'change the password that was handed out first (POST /admin/v1/me/password)', 403)
export const AdminNotFound = createError('MVM_ADMIN_NOT_FOUND', 'no such administrator', 404)
export const AdminExists = createError('MVM_ADMIN_EXISTS', 'administrator %s exists', 409)
export const AdminLastOwner = createError('MVM_ADMIN_LAST_OWNER', 'the last active owner cannot be demoted or disabled', 409)
export const TotpAlreadyEnabled = createError('MVM_ADMIN_TOTP_ENABLED', 'TOTP is enabled already', 409)
export const TotpSetupMissing = createError('MVM_ADMIN_TOTP_NOT_STARTED', 'start the TOTP setup first', 409)
export const TotpCodeInvalid = createError('MVM_ADMIN_TOTP_INVALID', 'the TOTP code is wrong', 400)
export const ApiTokenNotFound = createError('MVM_API_TOKEN_NOT_FOUND', 'no such API token', 404)
export const UserStateConflict = createError('MVM_USER_STATE_CONFLICT', 'the user is %s', 409)
export const PoolNotFound = createError('MVM_POOL_NOT_FOUND', 'no such pool', 404)
export const PoolNameTaken = createError('MVM_POOL_EXISTS', 'pool %s exists', 409)
export const WhitelistEntryNotFound = createError('MVM_WHITELIST_ENTRY_NOT_FOUND', 'no such whitelist entry', 404)
export const WhitelistEntryExists = createError('MVM_WHITELIST_ENTRY_EXISTS', 'this whitelist entry exists', 409)
export const PoolMemberExists = createError('MVM_POOL_MEMBER_EXISTS', 'the user is in the pool already', 409)
export const PoolMemberNotFound = createError('MVM_POOL_MEMBER_NOT_FOUND', 'the user is not in the pool', 404)
export const BulkOperationNotFound = createError('MVM_BULK_OPERATION_NOT_FOUND', 'no such bulk operation', 404)
export const AuditUploadTooLarge = createError('MVM_AUDIT_UPLOAD_TOO_LARGE', 'an export to verify is at most %s', 413)
