// The terminal client as a person uses it: enroll with a PIN, send, receive, history.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ROOT, testCerts } from './support/certs.ts'
import { freshDatabase } from './support/services.ts'
import { startGateway } from './support/gateway.ts'
import { addUsers } from './support/people.ts'
import { database, eventually } from './support/attack.ts'
import { adminSession } from './support/operations.ts'
import { enrollmentLink } from '#core/admin/enrollment-link.ts'
import { createAdminService } from '#core/admin/admins.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'

const run = promisify(execFile)

async function mvchat(profile: string, args: string[], pin = '246810') {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/mvchat.ts'), '--profile', profile, ...args], {
      cwd: ROOT, env: { ...process.env, MVM_PIN: pin, MVM_CA_FILE: '' }, timeout: 30_000, // hermetic: not this checkout's npm start CA
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.test('two people chat with mvchat from two profiles', async (t) => {
  const db = await freshDatabase(t)
  const gateway = await startGateway(t, db)
  const tokens = await addUsers(db, ['alice', 'bob'])
  const dir = mkdtempSync(join(tmpdir(), 'mvchat-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [alice, bob] = [join(dir, 'alice'), join(dir, 'bob')]
  const ca = testCerts().ca

  const enrolled = await mvchat(alice, ['enroll', '--server', gateway.url, '--token', tokens.alice!, '--ca', ca])
  t.equal(enrolled.code, 0, enrolled.stderr)
  t.match(enrolled.stdout, /enrolled as alice/)
  t.equal((await mvchat(bob, ['enroll', '--server', gateway.url, '--token', tokens.bob!, '--ca', ca])).code, 0)
  t.notOk(readdirSync(alice).some((f) => f.includes('identity')), 'record names do not show on disk')

  const sent = await mvchat(alice, ['send', 'bob', 'Treffen', 'um', 'zehn?'])
  t.equal(sent.code, 0, sent.stderr)
  t.match(sent.stdout, /^sent [A-Za-z0-9_-]{22}/)
  const received = await mvchat(bob, ['receive'])
  t.match(received.stdout, /alice: Treffen um zehn\?/)
  t.equal((await mvchat(bob, ['receive'])).stdout, '', 'a message is received once')
  await mvchat(bob, ['send', 'alice', 'Passt!'])
  t.match((await mvchat(alice, ['receive'])).stdout, /bob: Passt!/)
  const history = await mvchat(alice, ['history', 'bob'])
  t.match(history.stdout, /you → bob: Treffen um zehn\?\n.*bob: Passt!/)

  const wrong = await mvchat(alice, ['history'], '000000')
  t.not(wrong.code, 0)
  t.match(wrong.stderr, /MVM_STORE_WRONG_PIN: wrong PIN, 9 attempt\(s\) left/)
  t.match((await mvchat(alice, ['whoami'])).stdout, /^alice on https:\/\/localhost:\d+/, 'the right PIN resets the count')

  const unknown = await mvchat(alice, ['send', 'nobody', 'hello'])
  t.not(unknown.code, 0)
  t.match(unknown.stderr, /MVM_USER_NOT_FOUND/)

  const untrusted = await mvchat(join(dir, 'carol'), ['enroll', '--server', gateway.url, '--token', 'x'.repeat(43)])
  t.match(untrusted.stderr, /certificate is not trusted/, 'a server the client cannot verify is refused with a hint')
})

t.test('mvchat enrolls with the link the portal hands out, and a lock ends receive --follow with status 1', async (t) => {
  const db = await freshDatabase(t)
  const gateway = await startGateway(t, db)
  const tokens = await addUsers(db, ['dora', 'emil'])
  const dir = mkdtempSync(join(tmpdir(), 'mvchat-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ca = testCerts().ca
  const link = enrollmentLink(gateway.url, tokens.dora!)

  const enrolled = await mvchat(join(dir, 'dora'), ['enroll', link, '--ca', ca])
  t.equal(enrolled.code, 0, enrolled.stderr)
  t.match(enrolled.stdout, /enrolled as dora/)
  const viaToken = await mvchat(join(dir, 'emil'), ['enroll', '--token', enrollmentLink(gateway.url, tokens.emil!), '--ca', ca])
  t.equal(viaToken.code, 0, 'a link given as --token works too')
  t.match(await mvchat(join(dir, 'x'), ['enroll', 'mobivisor://enroll?server=https%3A%2F%2Flocalhost']), { code: 2, stderr: /lacks its server or token/ })
  t.match(await mvchat(join(dir, 'x'), ['enroll']), { code: 2, stderr: /needs the enrollment link/ })

  // dora listens; an administrator locks her: the command ends with status 1 and says why
  const follow = mvchat(join(dir, 'dora'), ['receive', '--follow'])
  const pool = database(t, db)
  const { password } = await createAdminService({ pool, audit: createAuditLog({ pool }) }).create({ username: 'root', role: 'owner' }, { type: 'system', id: 'test' })
  const admin = await adminSession(gateway, 'root', password)
  const { rows: [dora] } = await pool.query("SELECT id FROM users WHERE username = 'dora'")
  // once a message to her is delivered and acknowledged, her socket is surely open
  t.equal((await mvchat(join(dir, 'emil'), ['send', 'dora', 'hallo'])).code, 0)
  const pending = () => pool.query('SELECT 1 FROM deliveries d JOIN devices v ON v.id = d.device_id WHERE v.user_id = $1', [dora.id])
  t.ok(await eventually(async () => (await pending()).rowCount === 0, 20_000), 'dora received it over her socket')
  t.equal((await admin('POST', `/admin/v1/users/${dora.id}/lock`)).status, 200)
  const ended = await follow
  t.equal(ended.code, 1, 'receive --follow exits with status 1')
  t.match(ended.stderr, /the server refused this device: account locked \(MVM_AUTH_FAILED\)/)
})
