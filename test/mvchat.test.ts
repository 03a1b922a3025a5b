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
