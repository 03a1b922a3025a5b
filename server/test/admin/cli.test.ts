// mvctl admin, as an operator runs it: the first owner (scripts/start's step), adding, listing and
// resetting administrators; passwords printed once and to be changed at the first sign-in, every
// change audited, `user` still working.
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import pg from 'pg'
import { verifyPassword } from '#core/admin/passwords.ts'
import { freshDatabase, TEST_REDIS_URL } from '../../../test/support/services.ts'
import { ROOT } from '../../../test/support/certs.ts'

function mvctl(databaseUrl: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/mvctl.ts'), ...args], {
      cwd: ROOT, env: { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: TEST_REDIS_URL }, timeout: 30_000,
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }))
  })
}

t.test('mvctl admin', async (t) => {
  const databaseUrl = await freshDatabase(t)
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  t.teardown(() => db.end())
  const hashOf = async (username: string) => (await db.query('SELECT password_hash FROM admins WHERE username = $1', [username])).rows[0]?.password_hash as string

  t.test('init creates the first owner once, even when two starts race', async (t) => {
    const [a, b] = await Promise.all([mvctl(databaseUrl, ['admin', 'init']), mvctl(databaseUrl, ['admin', 'init'])])
    t.same([a.code, b.code], [0, 0])
    const printed = [a, b].filter((r) => r.stdout.includes('password:'))
    t.equal(printed.length, 1, 'exactly one of them created it')
    t.equal([a, b].find((r) => !r.stdout.includes('password:'))!.stdout, '', 'the other printed nothing')
    const password = /password: (\S+)/.exec(printed[0]!.stdout)![1]!
    t.match(printed[0]!.stdout, /username: owner\n/)
    t.ok(await verifyPassword(password, await hashOf('owner')), 'the printed password is the owner\'s')
    t.equal((await db.query("SELECT must_change_password FROM admins WHERE username = 'owner'")).rows[0].must_change_password, true, 'printed: to be changed at the first sign-in')
    const { rows } = await db.query("SELECT role, actor_type, actor_id, details FROM admins, audit_entries WHERE action = 'admin.created' AND target_id = admins.id::text")
    t.match(rows, [{ role: 'owner', actor_type: 'system', actor_id: 'first-owner', details: { firstOwner: true } }])
    t.notMatch(JSON.stringify(rows), password)
    t.equal((await mvctl(databaseUrl, ['admin', 'init'])).stdout, '', 'a later start prints nothing')
  })

  t.test('add prints a generated password once; duplicates and bad roles are refused', async (t) => {
    const added = await mvctl(databaseUrl, ['admin', 'add', 'Hanna', '--role', 'helpdesk', '--display-name', 'Hanna H', '--json'])
    t.equal(added.code, 0, added.stderr)
    const out = JSON.parse(added.stdout)
    t.match(out, { username: 'Hanna', role: 'helpdesk', displayName: 'Hanna H', mustChangePassword: true })
    t.ok(await verifyPassword(out.password, await hashOf('Hanna')))
    const human = await mvctl(databaseUrl, ['admin', 'add', 'ines', '--role', 'auditor'])
    t.match(human.stdout, /^administrator ines \(auditor\) created \(id [0-9a-f-]{36}\)\npassword \(shown once; the first sign-in asks for a new one\):\n[A-Za-z0-9_-]{24}\n$/)
    const dup = await mvctl(databaseUrl, ['admin', 'add', 'hanna', '--role', 'admin'])
    t.equal(dup.code, 1)
    t.match(dup.stderr, /MVM_ADMIN_EXISTS/)
    const usage = [['admin', 'add', 'x', '--role', 'root'], ['admin', 'add', 'x'], ['admin', 'frobnicate'], ['admin', 'add', '--role', 'admin']]
    const results = await Promise.all(usage.map((args) => mvctl(databaseUrl, args)))
    results.forEach((res, i) => {
      t.equal(res.code, 2, usage[i]!.join(' '))
      t.match(res.stderr, /mvctl admin add <username> --role/)
    })
    const { rows } = await db.query("SELECT actor_type, actor_id FROM audit_entries WHERE action = 'admin.created' AND details->'after'->>'username' = 'Hanna'")
    t.match(rows, [{ actor_type: 'system', actor_id: /^mvctl:/ }])
  })

  t.test('list and reset-password', async (t) => {
    const list = JSON.parse((await mvctl(databaseUrl, ['admin', 'list', '--json'])).stdout)
    t.same(list.map((a: any) => a.username), ['Hanna', 'ines', 'owner'])
    t.notMatch(JSON.stringify(list), /scrypt/)
    const before = await hashOf('ines')
    const reset = await mvctl(databaseUrl, ['admin', 'reset-password', 'INES', '--reset-totp', '--json'])
    t.equal(reset.code, 0, reset.stderr)
    const out = JSON.parse(reset.stdout)
    t.equal(out.sessionsEnded, true)
    t.equal(out.mustChangePassword, true, 'a reset password is changed at the next sign-in')
    t.ok(await verifyPassword(out.password, await hashOf('ines')))
    t.not(await hashOf('ines'), before)
    t.equal((await mvctl(databaseUrl, ['admin', 'reset-password', 'nobody'])).code, 1)
  })

  t.test('the user commands still work beside them', async (t) => {
    const res = await mvctl(databaseUrl, ['user', 'add', 'bob', '--json'])
    t.equal(res.code, 0, res.stderr)
    t.match(JSON.parse(res.stdout), { username: 'bob', token: /^[A-Za-z0-9_-]{43}$/ })
  })
})
