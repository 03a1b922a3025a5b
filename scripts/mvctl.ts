// mvctl: the bootstrap admin CLI (until the admin API and portal take over).
//   mvctl user add <username> [--display-name NAME] [--team T] [--business-area B] [--email E] [--json]
//                                                              prints a one-time enrollment token
//   mvctl user token <username> [--json]                       issues a new enrollment token
//   mvctl user list [--json]
//   mvctl audit export|verify|head                              the audit log (docs/audit.md)
//   mvctl admin add|list|reset-password|init                    administrators (scripts/mvctl-admin.ts)
import { createReadStream, createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { once } from 'node:events'
import { userInfo } from 'node:os'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { createAuditLog, verifyExport, type Anchor, type ExportFilters, type ExportFormat, type ExportSummary, type VerifyResult } from '#core/audit/audit-log.ts'
import { createDb } from '#core/db/client.ts'
import { createUserService } from '#core/identity/users.ts'
import { createUserAdmin } from '#core/admin/users.ts'
import { createRedis } from '#core/redis.ts'
import { loadLocalEnv } from '#core/local-env.ts'
import { usernameKey } from '#core/identity/usernames.ts'
import { UserNotFound } from '#core/errors.ts'
import { ADMIN_USAGE, adminMain } from './mvctl-admin.ts'

const USAGE = `usage:
  mvctl user add <username> [--display-name NAME] [--team T] [--business-area B] [--email E] [--json]
  mvctl user token <username> [--json]
  mvctl user list [--json]
  mvctl audit export --from ISO --to ISO [--format ndjson|csv] [--out FILE]
                     [--actor-type T] [--action A] [--target-type T] [--target-id ID]
  mvctl audit verify <FILE.ndjson|FILE.csv> [--filtered] [--anchor SEQ:HASH]... [--json]
  mvctl audit verify --db [--anchor SEQ:HASH]... [--json]
  mvctl audit head [--json]
${ADMIN_USAGE}
environment: DATABASE_URL (default: the one "npm start" uses), MVM_ENROLLMENT_TTL_HOURS (default 72)`

async function user(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'display-name': { type: 'string' }, team: { type: 'string' }, 'business-area': { type: 'string' }, email: { type: 'string' },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
    },
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
  const enrollmentTtlHours = Number.isInteger(ttl) && ttl > 0 ? ttl : 72
  const db = createDb(url, { poolSize: 2 })
  const users = createUserService({ prisma: db.prisma, enrollmentTtlHours })
  // The admin API's own invite and token paths, so the CLI's changes are audited (actor system/mvctl)
  // and refused alike; they never touch Redis, which is therefore not connected.
  const redis = createRedis({ REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }, { lazyConnect: true })
  const admin = createUserAdmin({ pool: db.pool, redis, sessions: { revokeDevices: async () => {} }, audit: createAuditLog({ pool: db.pool }), enrollmentTtlHours })
  const actor = { type: 'system' as const, id: `mvctl:${osUser()}`.slice(0, 256) }
  const out = (human: string, data: unknown) => console.log(values.json ? JSON.stringify(data) : human)

  try {
    if (command === 'add' && name) {
      const { user, enrollment } = await admin.invite({
        username: name, displayName: values['display-name'], team: values.team, businessArea: values['business-area'], email: values.email,
      }, actor)
      out(`user ${user.username} created (id ${user.id})\nenrollment token (shown once, valid until ${enrollment.expiresAt}):\n${enrollment.token}`,
        { id: user.id, username: user.username, token: enrollment.token, expiresAt: enrollment.expiresAt })
    } else if (command === 'token' && name) {
      const { user, enrollment } = await admin.issueToken(await idOf(db.pool, name), actor)
      out(`enrollment token for ${user.username} (shown once, valid until ${enrollment.expiresAt}):\n${enrollment.token}`,
        { username: user.username, token: enrollment.token, expiresAt: enrollment.expiresAt })
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
    redis.disconnect()
    await db.close()
  }
}

/** A username as typed (any case, NFKC) to the user's id; MVM_USER_NOT_FOUND when there is none. */
async function idOf(pool: pg.Pool, username: string): Promise<string> {
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM users WHERE username_key = $1', [usernameKey(username)])
  if (!rows[0]) throw new UserNotFound()
  return rows[0].id
}

// ---- audit ------------------------------------------------------------------------------------
// Exit codes: 0 ok, 1 the chain is broken (or the command failed), 2 usage or unreadable input.

class UsageError extends Error {}

/** An instant with its zone stated (a date alone is UTC midnight): local times would shift the period. */
function instant(value: string | undefined, name: string): Date {
  if (value === undefined) throw new UsageError(`--${name} is required`)
  const ok = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/.test(value)
  const date = new Date(value)
  if (!ok || Number.isNaN(date.getTime())) throw new UsageError(`--${name} must be an ISO-8601 date or a time with Z or an offset, e.g. 2025-01-31 or 2025-01-31T08:00:00Z`)
  return date
}

function anchors(values: string[] | undefined): Anchor[] {
  return (values ?? []).map((a) => {
    const m = /^(\d+):([0-9a-fA-F]{64})$/.exec(a)
    if (!m) throw new UsageError(`--anchor must be SEQ:HASH (64 hex digits), got ${a}`)
    return { seq: Number(m[1]), hash: m[2]!.toLowerCase() }
  })
}

function describe(r: VerifyResult, filters?: ExportFilters): string {
  if (!r.ok) return r.brokenSeq === null ? `BROKEN at line ${r.line ?? 1}: ${r.reason}` : `BROKEN at seq ${r.brokenSeq}: ${r.reason}`
  const lines: string[] = []
  if (r.links === 'checked') lines.push(`ok: ${r.count} entries, chain intact (last hash ${r.lastHash ?? 'none'})`)
  else {
    const filter = Object.entries(filters ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')
    lines.push(`ok: ${r.count} entries, each entry's hash intact; links not checked: a filtered export is not a contiguous chain${filter ? ` (filter: ${filter})` : ''} (last hash ${r.lastHash ?? 'none'})`)
  }
  if (r.count > 0) lines.push(`seq ${r.firstSeq}..${r.lastSeq}; the first entry's prev hash is ${r.firstPrevHash}`)
  if (r.anchors > 0) lines.push(`${r.anchors} anchor(s) matched`)
  return lines.join('\n')
}

function connect() {
  loadLocalEnv()
  const url = process.env.DATABASE_URL
  if (!url) throw new UsageError('DATABASE_URL is required (or run "npm start" once on this machine)')
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  return { db: { close: () => pool.end() }, log: createAuditLog({ pool }) }
}

/** Who ran the command, as far as the OS knows (containers often run a uid without a passwd entry). */
function osUser(): string {
  try {
    return userInfo().username
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`
  }
}

async function writeStdout(source: AsyncIterable<Buffer | string>): Promise<void> {
  // A reader that goes away (| head) ends the export quietly; it is then not recorded as done.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); throw err })
  for await (const chunk of source) {
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain')
  }
}

async function audit(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string', default: 'ndjson' }, out: { type: 'string' },
      'actor-type': { type: 'string' }, action: { type: 'string' }, 'target-type': { type: 'string' }, 'target-id': { type: 'string' },
      filtered: { type: 'boolean', default: false }, anchor: { type: 'string', multiple: true }, db: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
    },
  })
  const [command, file, ...extra] = positionals
  if (values.help) { console.log(USAGE); return 0 }
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`)

  if (command === 'verify') {
    const anchorList = anchors(values.anchor)
    let result: VerifyResult
    let filters: ExportFilters | undefined
    if (values.db) {
      if (file) throw new UsageError('give either a file or --db')
      const { db, log } = connect()
      try { result = await log.verifyDatabase({ anchors: anchorList }) } finally { await db.close() }
    } else {
      if (!file) throw new UsageError('mvctl audit verify needs a file (or --db)')
      const input = createReadStream(file)
      await once(input, 'open')
      const r = await verifyExport(input, { filtered: values.filtered, anchors: anchorList })
      result = r
      filters = r.header?.filters
    }
    console.log(values.json ? JSON.stringify(result) : describe(result, filters))
    return result.ok ? 0 : 1
  }

  if (command === 'export') {
    if (file) throw new UsageError(`unexpected ${file}`)
    const from = instant(values.from, 'from')
    const to = instant(values.to, 'to')
    if (to <= from) throw new UsageError('--to must be after --from')
    const format = values.format as ExportFormat
    if (format !== 'ndjson' && format !== 'csv') throw new UsageError('--format must be ndjson or csv')
    const filters: ExportFilters = {}
    if (values['actor-type'] !== undefined) filters.actorType = values['actor-type']
    if (values.action !== undefined) filters.action = values.action
    if (values['target-type'] !== undefined) filters.targetType = values['target-type']
    if (values['target-id'] !== undefined) filters.targetId = values['target-id']
    const { db, log } = connect()
    try {
      let summary: ExportSummary | undefined
      const stream = log.exportEntries({ from, to, ...filters, format, onEnd: (s) => { summary = s } })
      if (values.out) {
        // An export is evidence: never overwrite one, and leave no half-written file behind.
        const target = createWriteStream(values.out, { flags: 'wx' })
        try {
          await pipeline(stream, target)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await rm(values.out, { force: true })
          throw err
        }
      } else {
        await writeStdout(stream)
      }
      const s = summary!
      await log.append({
        actor: { type: 'system', id: 'mvctl' },
        action: 'audit.exported',
        details: {
          osUser: osUser(), from: from.toISOString(), to: to.toISOString(), filters: { ...filters }, format,
          out: values.out ?? '(stdout)', count: s.count, firstSeq: s.firstSeq, lastSeq: s.lastSeq, lastHash: s.lastHash,
        },
      })
      console.error(s.count === 0
        ? `exported 0 entries as ${format}${values.out ? ` to ${values.out}` : ''}`
        : `exported ${s.count} entries (seq ${s.firstSeq}..${s.lastSeq}) as ${format}${values.out ? ` to ${values.out}` : ''}; last hash ${s.lastHash}\n` +
          `keep this anchor: "mvctl audit verify --db --anchor ${s.lastSeq}:${s.lastHash}" then detects entries cut from the end`)
      return 0
    } finally {
      await db.close()
    }
  }

  if (command === 'head') {
    const { db, log } = connect()
    try {
      const head = await log.head()
      console.log(values.json ? JSON.stringify(head) : head ? `seq ${head.seq} at ${head.at} hash ${head.hash}\nanchor: ${head.seq}:${head.hash}` : 'the audit log is empty')
      return 0
    } finally {
      await db.close()
    }
  }
  throw new UsageError(command ? `unknown audit command ${command}` : 'mvctl audit needs a command')
}

async function auditMain(argv: string[]): Promise<number> {
  try {
    return await audit(argv)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (err instanceof UsageError || e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      console.error(`${e.message}\n${USAGE}`)
      return 2
    }
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR' || e.code === 'EEXIST') {
      console.error(e.message)
      return 2
    }
    if (e.code === 'EPIPE') return 0
    console.error(e.message)
    return 1
  }
}

if (process.argv[2] === 'audit') process.exitCode = await auditMain(process.argv.slice(3))
else if (process.argv[2] === 'admin') process.exitCode = await adminMain(process.argv.slice(3), USAGE, osUser())
else await user()
