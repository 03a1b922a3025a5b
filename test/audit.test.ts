// mvctl audit as an operator or auditor uses it: export a period from the database, verify the file
// offline, see a tampered copy named by seq; the export itself is logged, anchors catch a cut-off end.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { createAuditLog } from '#core/audit/audit-log.ts'
import { ROOT } from './support/certs.ts'
import { freshDatabase } from './support/services.ts'

const run = promisify(execFile)

async function mvctl(args: string[], databaseUrl?: string) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/mvctl.ts'), ...args], {
      cwd: ROOT, env: { ...process.env, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) }, timeout: 30_000,
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.test('mvctl audit export and verify: a good file exits 0, a tampered one exits 1 naming the seq', async (t) => {
  const url = await freshDatabase(t)
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  pool.on('error', () => {})
  t.teardown(() => pool.end().catch(() => {}))
  const log = createAuditLog({ pool })
  for (let i = 1; i <= 5; i++) {
    await log.append({ actor: { type: 'admin', id: 'root' }, action: 'user.lock', target: { type: 'user', id: `user${i}` }, sourceIp: '203.0.113.5', details: { i } })
  }
  const dir = mkdtempSync(join(tmpdir(), 'mvm-audit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'audit.ndjson')
  const period = ['--from', new Date(Date.now() - 3_600_000).toISOString(), '--to', new Date(Date.now() + 3_600_000).toISOString()]

  const exported = await mvctl(['audit', 'export', ...period, '--out', file], url)
  t.equal(exported.code, 0, exported.stderr)
  t.match(exported.stderr, /exported 5 entries \(seq 1\.\.5\) as ndjson to .*; last hash [0-9a-f]{64}/)
  const head = (await log.head())!
  t.equal(head.seq, 6, 'the export was itself logged')
  const [logged] = (await pool.query("SELECT actor_type, actor_id, details FROM audit_entries WHERE action = 'audit.exported'")).rows
  t.match(logged, { actor_type: 'system', actor_id: 'mvctl', details: { count: 5, firstSeq: 1, lastSeq: 5, format: 'ndjson' } })
  const lastHash = JSON.parse(readFileSync(file, 'utf8').trimEnd().split('\n').at(-1)!).hash as string

  const lines = readFileSync(file, 'utf8').split('\n')
  lines[3] = lines[3]!.replace('"i":3', '"i":4') // line 3 after the header is seq 3
  const tampered = join(dir, 'tampered.ndjson')
  writeFileSync(tampered, lines.join('\n'))

  // Independent commands run two at a time (each is a Node process start).
  const [again, good, bad, csv] = await Promise.all([
    mvctl(['audit', 'export', ...period, '--out', file], url),
    mvctl(['audit', 'verify', file]),
    mvctl(['audit', 'verify', tampered]),
    mvctl(['audit', 'export', ...period, '--format', 'csv', '--target-id', 'user2'], url),
  ])
  t.equal(again.code, 2, 'an existing export is never overwritten')
  t.match(again.stderr, /EEXIST/)
  t.equal(good.code, 0, good.stderr)
  t.match(good.stdout, new RegExp(`^ok: 5 entries, chain intact \\(last hash ${lastHash}\\)\\n`))
  t.equal(bad.code, 1)
  t.match(bad.stdout, /^BROKEN at seq 3: hash does not match/)
  // CSV to stdout, filtered: readable, verifiable with --filtered.
  t.equal(csv.code, 0, csv.stderr)
  t.match(csv.stdout, /^seq,at,actor_type,actor_id,action,target_type,target_id,source_ip,details,prev_hash,hash\r\n2,/)
  const csvFile = join(dir, 'user2.csv')
  writeFileSync(csvFile, csv.stdout)

  const [csvOk, dbOk, dbBad, headOut, badFrom] = await Promise.all([
    mvctl(['audit', 'verify', csvFile, '--filtered']),
    mvctl(['audit', 'verify', '--db', `--anchor=5:${lastHash}`], url),
    mvctl(['audit', 'verify', '--db', `--anchor=5:${'0'.repeat(64)}`], url),
    mvctl(['audit', 'head'], url),
    mvctl(['audit', 'export', '--from', '2025-01-01T00:00:00', '--to', '2025-02-01'], url),
  ])
  t.match(csvOk, { code: 0, stdout: /^ok: 1 entries, each entry's hash intact; links not checked/ })
  t.match(dbOk, { code: 0, stdout: /^ok: 7 entries, chain intact .*\n.*\n1 anchor\(s\) matched/ }, 'the database, with an anchor kept from the export')
  t.match(dbBad, { code: 1, stdout: /^BROKEN at seq 5: hash differs from the anchored hash/ })
  t.match(headOut, { code: 0, stdout: /^seq 7 at .* hash [0-9a-f]{64}\nanchor: 7:[0-9a-f]{64}/ })
  t.match(badFrom, { code: 2, stderr: /--from must be an ISO-8601 date or a time with Z or an offset/ })
})

t.test('mvctl user commands work as before next to the audit ones', async (t) => {
  const url = await freshDatabase(t)
  const added = await mvctl(['user', 'add', 'alice', '--display-name', 'Alice Adler'], url)
  t.equal(added.code, 0, added.stderr)
  t.match(added.stdout, /^user alice created \(id [0-9a-f-]{36}\)\nenrollment token \(shown once, valid until .*\):\n[A-Za-z0-9_-]{43}\n$/)
  const [list, usage, unknown] = await Promise.all([mvctl(['user', 'list', '--json'], url), mvctl([], url), mvctl(['audit', 'frobnicate'], url)])
  t.match(list, { code: 0, stdout: /"username":"alice"/ })
  t.match(usage, { code: 2, stderr: /usage:\n {2}mvctl user add/ })
  t.match(unknown, { code: 2, stderr: /unknown audit command frobnicate/ })

  // Changes from the command line are audited like the API's, and refused alike.
  const bob = await mvctl(['user', 'add', 'Bob', '--team', 'Sales', '--business-area', 'North', '--email', 'bob@example.com', '--json'], url)
  t.equal(bob.code, 0, bob.stderr)
  const bobId = JSON.parse(bob.stdout).id
  const token = await mvctl(['user', 'token', 'BOB'], url)
  t.match(token, { code: 0, stdout: /^enrollment token for Bob / }, 'any spelling of the username finds the user')
  const pool = new pg.Pool({ connectionString: url })
  t.teardown(() => pool.end())
  const { rows: entries } = await pool.query("SELECT action, actor_type, actor_id, details FROM audit_entries WHERE target_id = $1 ORDER BY seq", [bobId])
  t.match(entries, [
    { action: 'user.created', actor_type: 'system', actor_id: /^mvctl:/, details: { after: { username: 'Bob', team: 'Sales', businessArea: 'North' } } },
    { action: 'user.enrollment_token_issued', actor_type: 'system', actor_id: /^mvctl:/ },
  ])
  t.notMatch(JSON.stringify(entries), JSON.parse(bob.stdout).token, 'no token in the log')
  t.same((await pool.query('SELECT email, team, business_area FROM users WHERE id = $1', [bobId])).rows[0], { email: 'bob@example.com', team: 'Sales', business_area: 'North' })
  await pool.query("UPDATE users SET status = 'locked' WHERE id = $1", [bobId])
  t.match(await mvctl(['user', 'token', 'bob'], url), { code: 1, stderr: /MVM_USER_STATE_CONFLICT/ }, 'no token for a locked user, as in the API')
  t.match(await mvctl(['user', 'token', 'nobody'], url), { code: 1, stderr: /MVM_USER_NOT_FOUND/ })
  t.match(await mvctl(['user', 'add', 'bob'], url), { code: 1, stderr: /MVM_USER_EXISTS/ })
})
