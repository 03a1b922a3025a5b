// mvctl admin: administrator accounts from the command line, for the first owner and for
// break-glass recovery (a lost password or authenticator) when no owner can sign in.
//   mvctl admin add <username> --role owner|admin|helpdesk|auditor [--display-name NAME] [--json]
//   mvctl admin list [--json]
//   mvctl admin reset-password <username> [--reset-totp] [--json]
//   mvctl admin init [--json]     the first owner, only while there is no administrator (scripts/start)
// Passwords are generated and printed once; every change is in the audit log (actor system/mvctl).
import { parseArgs } from 'node:util'
import { createAdminService } from '#core/admin/admins.ts'
import { createAdminSessionStore } from '#core/admin/sessions.ts'
import { createRedis } from '#core/redis.ts'
import { ADMIN_ROLES, type AdminRole } from '#core/admin/roles.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'
import { createDb } from '#core/db/client.ts'
import { loadLocalEnv } from '#core/local-env.ts'

export const ADMIN_USAGE = `  mvctl admin add <username> --role owner|admin|helpdesk|auditor [--display-name NAME] [--json]
  mvctl admin list [--json]
  mvctl admin reset-password <username> [--reset-totp] [--json]
  mvctl admin init [--json]`

/** Ends the administrator's portal sessions where Redis is reachable; false where it is not configured. */
async function endSessions(adminId: string): Promise<boolean> {
  const url = process.env.REDIS_URL
  if (!url) return false
  const redis = createRedis({ REDIS_URL: url }, { maxRetriesPerRequest: 2 })
  try {
    await createAdminSessionStore({ redis }).endAll(adminId)
    return true
  } finally {
    redis.disconnect()
  }
}

/** Runs `mvctl admin …` (argv after "admin") as `osUser`; returns the exit code: 0 ok, 1 failed, 2 usage. */
export async function adminMain(argv: string[], usage: string, osUser: string): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        role: { type: 'string' }, 'display-name': { type: 'string' }, 'reset-totp': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`)
    return 2
  }
  const { values, positionals: [command, name, ...extra] } = parsed
  if (values.help) { console.log(usage); return 0 }
  const role = values.role as AdminRole | undefined
  const usageError = !command || extra.length > 0
    || (command === 'add' && (!name || !role || !ADMIN_ROLES.includes(role)))
    || (command === 'reset-password' && !name)
    || ((command === 'list' || command === 'init') && name)
    || !['add', 'list', 'reset-password', 'init'].includes(command)
  if (usageError) {
    console.error(usage)
    return 2
  }
  loadLocalEnv()
  const url = process.env.DATABASE_URL
  if (!url) {
    console.error('DATABASE_URL is required (or run "npm start" once on this machine)')
    return 2
  }
  const db = createDb(url, { poolSize: 2 })
  const admins = createAdminService({ pool: db.pool, audit: createAuditLog({ pool: db.pool }) })
  const actor = { type: 'system' as const, id: `mvctl:${osUser}`.slice(0, 256) }
  const out = (human: string, data: unknown) => console.log(values.json ? JSON.stringify(data) : human)
  try {
    if (command === 'add') {
      const { admin, password } = await admins.create({ username: name!, role: role!, displayName: values['display-name'], mustChangePassword: true }, actor)
      out(`administrator ${admin.username} (${admin.role}) created (id ${admin.id})\npassword (shown once; the first sign-in asks for a new one):\n${password}`, { ...admin, password })
    } else if (command === 'list') {
      const list = await admins.list()
      out(list.length === 0 ? 'no administrators' : list.map((a) =>
        `${a.username.padEnd(24)} ${a.role.padEnd(9)} ${a.disabled ? 'disabled' : a.lockedUntil ? `locked until ${a.lockedUntil}` : 'active'}${a.totpEnabled ? '  totp' : ''}  ${a.displayName}`).join('\n'), list)
    } else if (command === 'reset-password') {
      const { id } = await admins.byUsername(name!)
      const { admin, password } = await admins.resetPassword(id, { resetTotp: values['reset-totp'] }, actor)
      const ended = await endSessions(id)
      out(`new password for ${admin.username} (shown once; the next sign-in asks for a new one)${values['reset-totp'] ? '; TOTP removed' : ''}:\n${password}` +
        (ended ? '' : '\n(REDIS_URL is not set: sessions already open stay open until 30 minutes without use)'), { ...admin, password, sessionsEnded: ended })
    } else {
      const created = await admins.createFirstOwner()
      if (created) {
        out(`first administrator created (store the password now; it is shown once, and the first sign-in asks for a new one):\n  username: ${created.admin.username}\n  password: ${created.password}\n(lost it? "npm run mvctl -- admin reset-password ${created.admin.username}" makes a new one)`,
          { ...created.admin, password: created.password })
      } else if (values.json) {
        out('', null)
      }
    }
    return 0
  } catch (err) {
    const e = err as { code?: string; message: string }
    console.error(e.code?.startsWith('MVM_') ? `${e.code}: ${e.message}` : e.message)
    return 1
  } finally {
    await db.close()
  }
}
