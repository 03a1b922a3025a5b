// mvctl: the bootstrap admin CLI (until the admin API and portal take over).
//   mvctl user add <username> [--display-name NAME] [--json]   prints a one-time enrollment token
//   mvctl user token <username> [--json]                       issues a new enrollment token
//   mvctl user list [--json]
import { parseArgs } from 'node:util'
import { createDb } from '#core/db/client.ts'
import { createUserService } from '#core/identity/users.ts'
import { loadLocalEnv } from '#core/local-env.ts'

const USAGE = `usage:
  mvctl user add <username> [--display-name NAME] [--json]
  mvctl user token <username> [--json]
  mvctl user list [--json]
environment: DATABASE_URL (default: the one "npm start" uses), MVM_ENROLLMENT_TTL_HOURS (default 72)`

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'display-name': { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
})
const [area, command, name] = positionals
if (values.help || area !== 'user' || !command) {
  console.error(USAGE)
  process.exit(values.help ? 0 : 2)
}
loadLocalEnv()
const url = process.env.DATABASE_URL
if (!url) {
  console.error('DATABASE_URL is required (or run "npm start" once on this machine)')
  process.exit(2)
}
const ttl = Number(process.env.MVM_ENROLLMENT_TTL_HOURS ?? 72)
const db = createDb(url, { poolSize: 2 })
const users = createUserService({ prisma: db.prisma, enrollmentTtlHours: Number.isInteger(ttl) && ttl > 0 ? ttl : 72 })
const out = (human: string, data: unknown) => console.log(values.json ? JSON.stringify(data) : human)

try {
  if (command === 'add' && name) {
    const { user, token, expiresAt } = await users.add({ username: name, displayName: values['display-name'] })
    out(`user ${user.username} created (id ${user.id})\nenrollment token (shown once, valid until ${expiresAt.toISOString()}):\n${token}`,
      { id: user.id, username: user.username, token, expiresAt })
  } else if (command === 'token' && name) {
    const { token, expiresAt } = await users.reissue(name)
    out(`enrollment token for ${name} (shown once, valid until ${expiresAt.toISOString()}):\n${token}`, { username: name, token, expiresAt })
  } else if (command === 'list') {
    const list = await users.list()
    out(list.length === 0 ? 'no users' : list.map((u) => `${u.username.padEnd(24)} ${u.status.padEnd(10)} devices=${u.devices}  ${u.displayName}`).join('\n'), list)
  } else {
    console.error(USAGE)
    process.exitCode = 2
  }
} catch (err) {
  const e = err as { code?: string; message: string }
  console.error(e.code?.startsWith('MVM_') ? `${e.code}: ${e.message}` : e.message)
  process.exitCode = 1
} finally {
  await db.close()
}
