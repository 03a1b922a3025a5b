// The admin portal in a real browser: Debian's chromium, driven by playwright-core, against a
// gateway process over TLS and a worker process. Sign-in by keyboard alone (and a wrong password
// refused), filters, a bulk lock with its progress bar, a user's activity and a new enrollment
// QR code, pools and whitelist, the audit export downloaded and verified; and on every screen no
// console error and no Content-Security-Policy violation.
// MVM_SCREENSHOTS=1 also saves the main screens to docs/portal/*.png.
import t, { type Test } from 'tap'
import { createHash, randomBytes, X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type ConsoleMessage, type Page } from 'playwright-core'
import { createAdminService } from '#core/admin/admins.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'
import { verifyExport } from '#core/audit/verify.ts'
import { freshDatabase } from './support/services.ts'
import { startGateway } from './support/gateway.ts'
import { adminSession, httpsRequest, startWorkerProcess } from './support/operations.ts'
import { database } from './support/attack.ts'
import { enroll } from './support/people.ts'
import { ROOT, testCerts } from './support/certs.ts'

const CHROMIUM = '/usr/bin/chromium'
const SHOTS = process.env.MVM_SCREENSHOTS === '1' ? join(ROOT, 'docs', 'portal') : null

/**
 * The gateway's TLS key, pinned: Chromium accepts exactly this certificate's key and still
 * refuses any other certificate error. (Trusting the test CA instead would need an NSS database
 * made with certutil from libnss3-tools, a package the project does not otherwise need; Chromium
 * matches this flag against the server's certificate, not against a CA it did not send.)
 */
function spkiPin(certFile: string): string {
  const spki = new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(spki).digest('base64')
}

/** Records console errors, uncaught exceptions and CSP violations of a page. */
function watch(page: Page) {
  const problems: string[] = []
  const expected: string[] = []
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`))
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() !== 'error' && msg.type() !== 'warning') return
    const where = msg.location().url
    // The browser logs every 4xx answer of fetch. Two are the portal working as designed: GET /me
    // before anyone signed in, and POST /login with a wrong password.
    if (/^Failed to load resource: the server responded with a status of 401\b/.test(msg.text()) && /\/admin\/v1\/(me|login)$/.test(where)) {
      expected.push(`${msg.text()} ${where}`)
      return
    }
    problems.push(`console ${msg.type()}: ${msg.text()} (${where})`)
  })
  return {
    problems,
    expected,
    /** CSP violations the page reported (securitypolicyviolation events since it loaded). */
    async violations(): Promise<string[]> {
      return page.evaluate('window.__cspViolations ?? []') as Promise<string[]>
    },
  }
}

t.test('the admin portal in Chromium', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: the portal tests need Debian's chromium (apt-get install chromium; scripts/test installs it as root)`)
    return
  }
  const db = await freshDatabase(t)
  const queuePrefix = `mvm-portal-${randomBytes(4).toString('hex')}`
  const gw = await startGateway(t, db, { MVM_QUEUE_PREFIX: queuePrefix })
  startWorkerProcess(t, { DATABASE_URL: db, MVM_METRICS_PORT: '0', MVM_QUEUE_PREFIX: queuePrefix })
  const pool = database(t, db)
  const { password } = await createAdminService({ pool, audit: createAuditLog({ pool }) })
    .create({ username: 'root', role: 'owner', displayName: 'Robin Owner' }, { type: 'system', id: 'test' })
  const api = await adminSession(gw, 'root', password)

  // People: a sales team, a support team, and one offboarded salesperson.
  const people = [
    ['alice', 'Alice Adler', 'Sales', 'North'], ['bob', 'Bob Berg', 'Sales', 'North'], ['carol', 'Carol Curie', 'Sales', 'South'],
    ['dave', 'Dave Dorn', 'Support', 'North'], ['erin', 'Erin Eck', 'Support', 'South'], ['frank', 'Frank Fuchs', 'Sales', 'South'],
    ['grace', 'Grace Gill', 'Engineering', 'North'], ['henry', 'Henry Hahn', 'Sales', 'North'], ['ivy', 'Ivy Imhof', 'Engineering', 'South'],
  ] as const
  const ids: Record<string, string> = {}
  const tokens: Record<string, string> = {}
  for (const [username, displayName, team, businessArea] of people) {
    const res = await api('POST', '/admin/v1/users', { username, displayName, team, businessArea, email: `${username}@example.com` })
    t.equal(res.status, 201, `${username} invited`)
    ids[username] = res.body.user.id
    tokens[username] = res.body.enrollment.token
  }
  const alice = await enroll(t, gw, tokens.alice!, { name: 'alice phone' })
  const bob = await enroll(t, gw, tokens.bob!, { name: 'bob laptop' })
  await enroll(t, gw, tokens.dave!, { name: 'dave phone' })
  await alice.client.sendText('bob', 'hello bob')
  await alice.client.sendText('bob', 'lunch?')
  await bob.client.sendText('alice', 'yes')
  t.equal((await api('POST', `/admin/v1/users/${ids.frank}/offboard`)).status, 200, 'frank is offboarded')
  t.equal((await api('POST', '/admin/v1/pools', { name: 'Field sales' })).status, 201)
  t.equal((await api('POST', '/admin/v1/whitelist/entries', { kind: 'team', value: 'Sales' })).status, 201)

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // launch() gives the browser a fresh, temporary user-data-dir of its own, removed at close.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
      '--disable-component-update', '--disable-sync', `--ignore-certificate-errors-spki-list=${spkiPin(testCerts().cert)}`],
  })
  t.teardown(() => browser.close())
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 }, locale: 'en-GB', timezoneId: 'UTC' })
  // Browser-side code is given as text: the project's TypeScript has no DOM types.
  await context.addInitScript(`window.__cspViolations = []
    document.addEventListener('securitypolicyviolation', (e) => { window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI) })`)
  const page = await context.newPage()
  page.setDefaultTimeout(15_000)
  const watched = watch(page)
  if (SHOTS) mkdirSync(SHOTS, { recursive: true })
  const shot = async (name: string, fullPage = false) => { if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage }) }
  const focused = () => page.evaluate('document.activeElement?.getAttribute("name")')
  /** Polls from here: a string predicate of waitForFunction would be eval'd in the page, which its CSP forbids. */
  const until = async (what: string, check: () => Promise<boolean>) => {
    for (const deadline = Date.now() + 15_000; !(await check());) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const rows = (n: number) => until(`${n} table rows`, async () => (await page.locator('tbody tr').count()) === n)
  const screenIsClean = async (t: Test, screen: string) => {
    t.same(watched.problems, [], `${screen}: no console errors`)
    t.same(await watched.violations(), [], `${screen}: no CSP violations`)
  }

  await t.test('sign-in with the keyboard only; a wrong password is refused with a message', async (t) => {
    const res = await page.goto(`${gw.url}/admin`)
    t.equal(res?.status(), 200)
    t.equal(res?.headers()['content-security-policy']?.startsWith("default-src 'none'; script-src 'self'"), true, 'the page carries the portal CSP')
    await page.getByRole('heading', { name: 'Sign in to the admin portal' }).waitFor()
    t.equal(await page.title(), 'Sign in · MobiVisor Messenger admin')
    t.equal(await focused(), 'username', 'the username field has the focus')
    await shot('login')

    await page.keyboard.type('root')
    await page.keyboard.press('Tab')
    t.equal(await focused(), 'password', 'Tab moves to the password')
    await page.keyboard.type('not the password')
    await page.keyboard.press('Enter')
    const alert = page.getByRole('alert')
    await alert.waitFor()
    t.equal(await alert.textContent(), 'Wrong username, password or code.')
    t.equal(await focused(), 'password', 'the focus is back on the (emptied) password')
    t.equal(await page.getByLabel('Password').inputValue(), '')

    await page.keyboard.type(password)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
    t.equal(await page.title(), 'Users · MobiVisor Messenger admin')
    t.match(await page.getByRole('navigation', { name: 'Main' }).textContent(), /Users.*Pools.*Whitelist.*Audit log/)
    t.equal(watched.expected.length, 2, 'the two 401s: GET /me before sign-in and the wrong password')
    t.equal(await page.evaluate('document.cookie'), '', 'the session cookie is not readable by scripts')
    t.equal(await page.evaluate('localStorage.length + sessionStorage.length'), 0, 'nothing is kept in web storage')
    await screenIsClean(t, 'sign-in')
  })

  const rowNames = async () => (await page.locator('tbody tr th[scope=row]').allTextContents()).map((s) => s.trim())

  await t.test('the users table filters by team and status, in the address', async (t) => {
    await page.getByRole('row').filter({ hasText: 'alice' }).first().waitFor()
    t.same(await rowNames(), people.map(([u]) => u), 'every user, by username')
    await page.getByLabel('Team').fill('Sales')
    await page.getByRole('button', { name: 'Apply filter' }).click()
    await page.waitForURL(/#\/users\?team=Sales$/)
    await page.getByRole('table', { name: 'Users, team Sales' }).waitFor()
    const expected = (await api('GET', '/admin/v1/users?team=Sales')).body.users.map((u: { username: string }) => u.username)
    t.same(expected, ['alice', 'bob', 'carol', 'frank', 'henry'], 'the API answers the Sales team')
    await rows(expected.length)
    t.same(await rowNames(), expected, 'the table shows exactly what the API selects')

    await page.getByLabel('Status').selectOption('invited')
    await page.getByRole('button', { name: 'Apply filter' }).click()
    await page.waitForURL(/status=invited/)
    await rows(2)
    t.same(await rowNames(), ['carol', 'henry'], 'invited members of Sales')
    await page.getByLabel('Status').selectOption('')
    await page.getByRole('button', { name: 'Apply filter' }).click()
    await rows(5)
    await page.getByRole('checkbox', { name: 'Select carol' }).check()
    await page.getByRole('checkbox', { name: 'Select frank' }).check()
    await shot('users')
    await screenIsClean(t, 'users')
  })

  await t.test('a bulk lock of a selection: confirmation, progress bar to done, the failed user listed', async (t) => {
    await page.getByRole('checkbox', { name: 'Select henry' }).check()
    t.equal(await page.locator('.selection-bar .count').textContent(), '3 selected')
    await page.getByLabel('Action', { exact: true }).selectOption('lock')
    await page.getByRole('button', { name: 'Apply…' }).click()
    const dialog = page.getByRole('dialog', { name: 'Lock: 3 selected users?' })
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Lock' }).click()
    const progress = page.getByRole('progressbar')
    await progress.waitFor()
    await page.getByText(/^Done: 2 of 3 succeeded, 1 failed\.$/).waitFor({ timeout: 30_000 })
    t.equal(`${await progress.getAttribute('value')}/${await progress.getAttribute('max')}`, '3/3', 'the bar is full')
    const failed = page.getByRole('table', { name: 'Users the operation failed for' })
    await failed.waitFor()
    t.same(await failed.locator('tbody th').allTextContents(), ['frank'], 'frank (offboarded) could not be locked')
    t.match(await failed.locator('tbody td').first().textContent(), /offboarded/)
    for (const name of ['carol', 'henry']) {
      t.equal((await api('GET', `/admin/v1/users/${ids[name]}`)).body.user.status, 'locked', `${name} is locked`)
    }
    await until('two locked rows', async () => (await page.locator('tbody tr').filter({ hasText: 'locked' }).count()) === 2)
    await shot('bulk-progress')
    await screenIsClean(t, 'bulk')
  })

  await t.test('a user\'s detail: profile, activity, and a new enrollment token with its QR code', async (t) => {
    await page.getByRole('link', { name: 'alice', exact: true }).click()
    await page.getByRole('heading', { name: 'Alice Adler', level: 1 }).waitFor()
    t.equal(await page.title(), 'alice · MobiVisor Messenger admin')
    const devices = page.getByRole('table', { name: 'Every device of the user, enrolled or revoked' })
    await devices.waitFor()
    t.match(await devices.textContent(), /alice phone.*terminal.*active/)
    await page.getByRole('heading', { name: 'Messages per day (2 sent, 1 received)' }).waitFor()
    const audit = page.getByRole('table', { name: 'The latest audit entries about this user and their devices' })
    t.match(await audit.textContent(), /user\.created/)
    t.match(await audit.textContent(), /device\.enrolled/)
    t.equal(await page.getByLabel('Team').inputValue(), 'Sales')

    await page.getByLabel('Display name').fill('Alice Adler-Berg')
    await page.getByRole('button', { name: 'Save profile' }).click()
    await page.getByText('Profile saved.').waitFor()
    t.equal((await api('GET', `/admin/v1/users/${ids.alice}`)).body.user.displayName, 'Alice Adler-Berg', 'the change reached the server')

    await page.getByRole('button', { name: 'New enrollment token' }).click()
    const qr = page.getByRole('img', { name: 'QR code of the enrollment link for alice' })
    await qr.waitFor()
    await until('the QR image', async () => Boolean(await page.evaluate(`document.querySelector('.enrollment img')?.naturalWidth > 0`)))
    t.match(await qr.getAttribute('src'), /^blob:/, 'the QR SVG is shown from a blob URL')
    t.ok(await page.evaluate(`document.querySelector('.enrollment img').naturalWidth > 0`), 'and it loads under the CSP')
    t.match(await page.getByLabel('Enrollment link (one use)').inputValue(), /^mobivisor:\/\/enroll\?server=.+&token=[A-Za-z0-9_-]{43}$/)
    await shot('user-detail', true)
    await screenIsClean(t, 'user detail')
  })

  await t.test('pools and the whitelist', async (t) => {
    await page.getByRole('link', { name: 'Pools' }).click()
    await page.getByRole('heading', { name: 'Pools', level: 1 }).waitFor()
    await page.getByLabel('Name').fill('Night shift')
    await page.getByRole('button', { name: 'Create pool' }).click()
    await page.getByRole('link', { name: 'Night shift' }).waitFor()
    t.same((await api('GET', '/admin/v1/pools')).body.pools.map((p: { name: string }) => p.name), ['Field sales', 'Night shift'])
    await page.getByRole('link', { name: 'Field sales' }).click()
    await page.getByRole('heading', { name: 'Pool Field sales' }).waitFor()
    await page.getByLabel('Username').fill('bob')
    await page.getByRole('button', { name: 'Add member' }).click()
    await page.getByRole('link', { name: 'bob', exact: true }).waitFor()
    t.same((await api('GET', '/admin/v1/pools')).body.pools.find((p: { name: string }) => p.name === 'Field sales').members, 1)
    await screenIsClean(t, 'pools')

    await page.getByRole('link', { name: 'Whitelist' }).click()
    await page.getByRole('heading', { name: 'Whitelist', level: 1 }).waitFor()
    t.ok(await page.getByRole('radio', { name: /Everyone may enroll/ }).isChecked(), 'mode all')
    t.match(await page.getByRole('table', { name: 'Whitelist entries by kind and value' }).textContent(), /Team\s*Sales/)
    await screenIsClean(t, 'whitelist')
  })

  await t.test('the audit log: entries, an NDJSON export that verifies offline and in the portal', async (t) => {
    await page.getByRole('link', { name: 'Audit log' }).click()
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor()
    await page.getByRole('cell', { name: 'user.lock' }).first().waitFor()
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download NDJSON' }).click()])
    const file = await download!.path()
    const text = readFileSync(file, 'utf8')
    const lines = text.trimEnd().split('\n')
    t.match(JSON.parse(lines[0]!), { mvmAuditExport: 1 }, 'an NDJSON export with its header line')
    t.ok(lines.slice(1).every((l) => typeof JSON.parse(l).hash === 'string'), `${lines.length - 1} entries, one JSON object a line`)
    const verdict = await verifyExport([text])
    t.match(verdict, { ok: true, format: 'ndjson', links: 'checked' }, 'it verifies offline as mvctl audit verify does')
    t.ok(verdict.ok && verdict.count >= 20, `${verdict.count} entries`)

    await page.getByLabel('Exported NDJSON file').setInputFiles(file)
    await page.getByRole('button', { name: 'Verify file' }).click()
    await page.getByText(/^The file verifies: \d+ entries/).waitFor()

    const tampered = text.replace('"action":"user.lock"', '"action":"user.unlock"')
    t.not(tampered, text)
    await page.getByLabel('Exported NDJSON file').setInputFiles({ name: 'tampered.ndjson', mimeType: 'application/x-ndjson', buffer: Buffer.from(tampered) })
    await page.getByRole('button', { name: 'Verify file' }).click()
    await page.getByText(/^The file does not verify: line \d+/).waitFor()
    await page.getByLabel('Exported NDJSON file').setInputFiles(file)
    await page.getByRole('button', { name: 'Verify file' }).click()
    await page.getByText(/^The file verifies/).waitFor()
    await shot('audit')
    await screenIsClean(t, 'audit')
  })

  await t.test('an auditor sees users, pools, whitelist and audit, and no control to change anything', async (t) => {
    const { password: auditorPassword } = await createAdminService({ pool, audit: createAuditLog({ pool }) })
      .create({ username: 'audrey', role: 'auditor' }, { type: 'system', id: 'test' })
    const other = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-GB', timezoneId: 'UTC' })
    t.teardown(() => other.close())
    const p = await other.newPage()
    const seen = watch(p)
    await p.goto(`${gw.url}/admin#/users`)
    await p.getByLabel('Username').fill('audrey')
    await p.getByLabel('Password').fill(auditorPassword)
    await p.getByRole('button', { name: 'Sign in' }).click()
    await p.getByRole('link', { name: 'alice', exact: true }).waitFor()
    t.match(await p.getByRole('navigation', { name: 'Main' }).textContent(), /Users.*Pools.*Whitelist.*Audit log/)
    t.equal(await p.getByRole('button', { name: 'Invite user' }).count(), 0, 'no invite')
    t.equal(await p.getByRole('checkbox').count(), 0, 'no selection, so no bulk action')
    t.equal(await p.getByRole('region', { name: 'Bulk actions' }).count(), 0)
    await p.getByRole('link', { name: 'alice', exact: true }).click()
    await p.getByRole('table', { name: 'Every device of the user, enrolled or revoked' }).waitFor()
    for (const name of ['Lock', 'Unlock', 'Offboard', 'New enrollment token', 'Save profile']) {
      t.equal(await p.getByRole('button', { name, exact: true }).count(), 0, `no ${name} button`)
    }
    await p.getByRole('link', { name: 'Pools' }).click()
    await p.getByRole('link', { name: 'Field sales' }).waitFor()
    t.equal(await p.getByRole('button', { name: /Create pool|Rename|Delete/ }).count(), 0, 'pools are read-only')
    await p.getByRole('link', { name: 'Whitelist' }).click()
    await p.getByRole('heading', { name: 'Whitelist', level: 1 }).waitFor()
    t.ok(await p.getByRole('radio', { name: /Everyone may enroll/ }).isDisabled(), 'the mode cannot be changed')
    t.equal(await p.getByRole('button', { name: /Save mode|Add entry|Remove/ }).count(), 0)
    t.same(seen.problems, [], 'no console errors')
    t.same(await seen.violations(), [], 'no CSP violations')
  })

  await t.test('"select all matching the filter" unlocks every locked user the filter selects', async (t) => {
    await page.getByRole('link', { name: 'Users' }).click()
    await page.getByLabel('Status').selectOption('locked')
    await page.getByRole('button', { name: 'Apply filter' }).click()
    await rows(2)
    await page.getByRole('button', { name: 'Select all users matching the filter' }).click()
    t.equal(await page.locator('.selection-bar .count').textContent(), 'All users matching the filter are selected')
    await page.getByLabel('Action', { exact: true }).selectOption('unlock')
    await page.getByRole('button', { name: 'Apply…' }).click()
    await page.getByRole('dialog', { name: 'Unlock: all users matching the filter?' }).getByRole('button', { name: 'Unlock' }).click()
    await page.getByText(/^Done: 2 of 2 succeeded\.$/).waitFor({ timeout: 30_000 })
    for (const name of ['carol', 'henry']) {
      t.equal((await api('GET', `/admin/v1/users/${ids[name]}`)).body.user.status, 'invited', `${name} is unlocked (invited: no device yet)`)
    }
    await rows(0)
    await screenIsClean(t, 'bulk by filter')
  })

  await t.test('the detectors work: an inline style is refused and reported; sign-out returns to the sign-in', async (t) => {
    await page.evaluate(`{ const s = document.createElement('style'); s.textContent = 'body { color: red }'; document.head.append(s) }`)
    await until('a CSP report', async () => (await watched.violations()).length > 0)
    t.match(await watched.violations(), [/^style-src(-elem)? inline$/], 'the CSP blocks inline styles and the test sees it')
    t.not(await page.evaluate('getComputedStyle(document.body).color'), 'rgb(255, 0, 0)', 'the style was not applied')
    watched.problems.length = 0 // the refusal is also logged to the console

    const session = (await context.cookies()).find((c) => c.name === 'mvm_admin')
    t.match(session, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/admin' }, 'the session cookie as the API sets it')
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('heading', { name: 'Sign in to the admin portal' }).waitFor()
    await page.getByText('You have signed out.').waitFor()
    t.same((await context.cookies()).filter((c) => c.name === 'mvm_admin'), [], 'the browser dropped the cookie')
    const me = await httpsRequest(gw, { path: '/admin/v1/me', headers: { cookie: `mvm_admin=${session!.value}` } })
    t.equal(me.status, 401, 'and the server ended the session')
    t.same(watched.problems, [], 'no console errors')
  })
})
