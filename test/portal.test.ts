// The admin portal in a real browser: Debian's chromium, driven by playwright-core, against a
// gateway process over TLS and a worker process. Sign-in by keyboard alone (and a wrong password
// refused), filters, a bulk lock with its progress bar, a user's activity and a new enrollment
// QR code, pools and whitelist (the mode switch and entry removal confirmed with what they do at
// once), the audit export downloaded and verified with actors by name, the own account (password,
// TOTP), API tokens and administrators, where the keyboard focus lands, a bulk operation surviving
// a network failure; and on every screen no console error and no Content-Security-Policy violation.
// MVM_SCREENSHOTS=1 also saves the main screens to docs/portal/*.png.
import t, { type Test } from 'tap'
import { createHash, randomBytes, X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type ConsoleMessage, type Page } from 'playwright-core'
import { createAdminService } from '#core/admin/admins.ts'
import { createAuditLog } from '#core/audit/audit-log.ts'
import { base32Decode, hotp, totpStep } from '#core/admin/totp.ts'
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
  /** answers a test provokes on purpose (a refused invite, a wrong code): [status, URL pattern] */
  const allowed: [number, RegExp][] = []
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
    const status = /^Failed to load resource: the server responded with a status of (\d{3})\b/.exec(msg.text())?.[1]
    if (status && allowed.some(([s, url]) => s === Number(status) && url.test(where))) return
    problems.push(`console ${msg.type()}: ${msg.text()} (${where})`)
  })
  return {
    problems,
    expected,
    /** Expect the browser to log this refusal (it logs every 4xx of fetch). */
    allow(status: number, url: RegExp) { allowed.push([status, url]) },
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
  const { admin: root, password } = await createAdminService({ pool, audit: createAuditLog({ pool }) })
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
  /** The focused element as "TAG[name] text": BODY when the focus fell to <body>. */
  const activeElement = (p: Page = page) => p.evaluate(`(() => {
    const a = document.activeElement
    if (!a || a === document.body) return 'BODY'
    const name = a.getAttribute('name')
    return a.tagName + (name ? '[' + name + ']' : '') + (a.tagName === 'INPUT' || a.tagName === 'SELECT' ? '' : ' ' + a.textContent.trim())
  })()`) as Promise<string>
  /** The focus settles after the screen has drawn: wait for it, then record where it is. */
  const expectFocus = async (t: Test, expected: string, what: string, p: Page = page) => {
    await until(`the focus on ${expected}`, async () => (await activeElement(p)) === expected).catch(() => undefined)
    t.equal(await activeElement(p), expected, what)
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
    t.equal(await page.getByRole('textbox', { name: 'Password', exact: true }).inputValue(), '')

    await page.keyboard.type(password)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
    await expectFocus(t, 'H1 Users', 'after signing in the focus is on the page heading, not <body>')
    t.equal(await page.title(), 'Users · MobiVisor Messenger admin')
    t.match(await page.getByRole('navigation', { name: 'Main' }).textContent(), /Users.*Pools.*Whitelist.*Audit log.*API tokens.*Administrators/)
    t.equal(await page.getByRole('link', { name: 'Account' }).getAttribute('href'), '#/account', 'Account next to the name')
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
    const dialog = page.getByRole('dialog', { name: 'Lock 3 selected users?' })
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
    await expectFocus(t, 'H1 Alice Adler', 'opening a user\'s page focuses its heading')
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

  await t.test('the keyboard focus never falls to <body>: period select, new token, failed invite, a user\'s page', async (t) => {
    // on alice's page: arrow keys on the period select redraw the activity below it, not the select
    const period = page.getByLabel('Period')
    await period.focus()
    await page.keyboard.press('ArrowDown')
    await page.getByRole('table', { name: 'Failed device sign-ins, last 90 days' }).waitFor()
    await expectFocus(t, 'SELECT[days]', 'after ArrowDown the select keeps the focus')
    await page.keyboard.press('ArrowDown')
    await page.getByRole('table', { name: 'Failed device sign-ins, last year' }).waitFor()
    await expectFocus(t, 'SELECT[days]', 'and after the next one')
    t.equal(await period.inputValue(), '366')

    await page.getByRole('button', { name: 'New enrollment token' }).focus()
    await page.keyboard.press('Enter')
    await expectFocus(t, 'H2 New enrollment token', 'a new enrollment token: the focus goes to it')

    await page.getByRole('link', { name: 'Users', exact: true }).first().click()
    await page.getByRole('button', { name: 'Invite user' }).click()
    const dialog = page.getByRole('dialog', { name: 'Invite a user' })
    await dialog.waitFor()
    // every input type the portal uses is styled like a text field (the e-mail field was not)
    const types = new Set<string>()
    for (const file of ['app.js', ...readdirSync(join(ROOT, 'portal', 'js')).map((f) => `js/${f}`)]) {
      for (const [, type] of readFileSync(join(ROOT, 'portal', file), 'utf8').matchAll(/h\('input', \{ type: '([a-z-]+)'/g)) types.add(type!)
    }
    t.ok(types.has('email') && types.has('password') && types.has('number'), `input types in use: ${[...types].join(', ')}`)
    const textLike = [...types].filter((type) => !['checkbox', 'radio', 'file', 'hidden'].includes(type))
    const styles = JSON.parse(await page.evaluate(`(() => {
      const out = {}
      for (const type of ${JSON.stringify(['text', ...textLike])}) {
        const input = document.createElement('input')
        input.type = type
        document.querySelector('dialog form').append(input)
        const s = getComputedStyle(input)
        out[type] = [s.borderTopWidth, s.borderTopStyle, s.borderTopColor, s.borderTopLeftRadius, s.height, s.paddingLeft, s.width].join(' ')
        input.remove()
      }
      return JSON.stringify(out)
    })()`) as string) as Record<string, string>
    for (const type of textLike) t.equal(styles[type], styles.text, `input[type=${type}] is styled like the text fields`)
    const box = (label: string) => dialog.getByLabel(label).evaluate((e) => {
      const s = (globalThis as unknown as { getComputedStyle(e: unknown): Record<string, string> }).getComputedStyle(e)
      return [s.height, s.borderTopWidth, s.borderTopColor, s.paddingLeft].join(' ')
    })
    t.equal(await box('E-mail'), await box('Username'), 'the invite dialog\'s e-mail field matches its neighbours')

    watched.allow(409, /\/admin\/v1\/users$/)
    watched.allow(400, /\/admin\/v1\/users$/)
    await dialog.getByLabel('Username').fill('alice')
    await dialog.getByLabel('Team').focus()
    await page.keyboard.press('Enter')
    await dialog.getByRole('alert').filter({ hasText: 'MVM_USER_EXISTS' }).waitFor()
    await expectFocus(t, 'INPUT[username]', 'a taken username (409): the focus is on the username')
    t.equal(await dialog.getByLabel('Username').getAttribute('aria-invalid'), 'true')
    await dialog.getByLabel('Username').fill('0151 2345')
    await dialog.getByRole('button', { name: 'Invite' }).click()
    await dialog.getByRole('alert').filter({ hasText: /MVM_USER_NAME_INVALID|MVM_REQUEST_INVALID/ }).waitFor()
    await expectFocus(t, 'INPUT[username]', 'an invalid username (400), submitted with the button: the focus is on the username')
    await dialog.getByLabel('Username').fill('newbie')
    await dialog.getByLabel('Display name').fill('New\u0007bie')
    await dialog.getByRole('button', { name: 'Invite' }).click()
    await dialog.getByRole('alert').filter({ hasText: /displayName/ }).waitFor()
    await expectFocus(t, 'INPUT[displayName]', 'a refused display name (400): the focus is on that field')
    await page.keyboard.press('Escape')
    await dialog.waitFor({ state: 'detached' })
    t.equal((await api('GET', '/admin/v1/users?q=newbie')).body.users.length, 0, 'nobody was invited')

    await page.getByRole('link', { name: 'bob', exact: true }).focus()
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Bob Berg', level: 1 }).waitFor()
    await expectFocus(t, 'H1 Bob Berg', 'a user\'s page opened with Enter: the focus is on its heading')
    await screenIsClean(t, 'keyboard')
  })

  await t.test('a bulk invite survives a network failure while polling; its links are said to stay until they expire', async (t) => {
    await page.getByRole('link', { name: 'Users', exact: true }).first().click()
    await page.getByRole('checkbox', { name: 'Select alice' }).check()
    await page.getByRole('checkbox', { name: 'Select bob' }).check()
    await page.getByLabel('Action', { exact: true }).selectOption('invite')
    // the gateway "goes away" for the progress polls only; creating the operation works
    const polls = (url: URL) => /\/admin\/v1\/bulk-operations\/[0-9a-f-]{36}$/.test(url.pathname)
    await page.route(polls, (route) => route.abort('internetdisconnected'))
    await page.getByRole('button', { name: 'Apply…' }).click()
    await page.getByRole('dialog', { name: 'New enrollment tokens for 2 selected users?' }).getByRole('button', { name: 'New enrollment token' }).click()
    const trouble = page.getByRole('alert').filter({ hasText: 'The gateway could not be reached; the operation may still be running' })
    await trouble.waitFor()
    t.notMatch(await trouble.textContent(), /Failed to fetch/, 'no raw browser error')
    t.match(await page.locator('#bulk-progress-text').textContent(), /^Last known: Queued: 2 users waiting to start\.$/, 'not stuck on "Starting…"')
    await page.unroute(polls)
    await trouble.getByRole('button', { name: 'Check the progress again' }).click()
    await page.getByText(/^Done: 2 of 2 succeeded\.$/).waitFor({ timeout: 30_000 })
    const links = page.getByRole('table', { name: 'Enrollment links' })
    await links.waitFor()
    t.same(await links.locator('tbody th').allTextContents(), ['alice', 'bob'])
    const collect = page.getByText(/^Collect them now: they stay available until .+ and are secrets/)
    await collect.waitFor()
    t.match(await collect.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/, 'until when, from the results')
    t.equal(await page.getByText(/shown only now/).count(), 0, 'no claim that they are shown only now')
    // the browser reports the aborted requests; nothing else may be in the console
    const aborted = watched.problems.filter((p) => /ERR_INTERNET_DISCONNECTED|ERR_FAILED/.test(p))
    t.ok(aborted.length >= 1, `${aborted.length} aborted poll(s) logged`)
    watched.problems.splice(0, watched.problems.length, ...watched.problems.filter((p) => !aborted.includes(p)))
    await screenIsClean(t, 'bulk invite')
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
    await page.getByLabel('Kind').selectOption('business_area')
    await page.getByLabel('Business area', { exact: true }).fill('East')
    await page.getByRole('button', { name: 'Add entry' }).click()
    await page.getByText('Entry added.').waitFor()

    // "whitelist only" disconnects at once the active users no entry matches: dave (Support)
    t.same((await api('GET', '/admin/v1/users/count?whitelisted=false&status=active')).body, { count: 1 }, 'the count endpoint: dave')
    const mode = async () => (await api('GET', '/admin/v1/whitelist/mode')).body.mode
    await page.getByRole('radio', { name: /Only whitelisted users/ }).check()
    await page.getByRole('button', { name: 'Save mode' }).click()
    const ask = page.getByRole('dialog', { name: 'Allow only whitelisted users?' })
    await ask.waitFor()
    t.match(await ask.textContent(), /This takes effect at once\. 1 active user no entry matches is disconnected now, on every gateway/, 'says at once, and how many')
    await shot('whitelist-confirm')
    await ask.getByRole('button', { name: 'Cancel' }).click()
    await ask.waitFor({ state: 'detached' })
    t.equal(await mode(), 'all', 'cancelled: nothing changed')
    t.ok(await page.getByRole('radio', { name: /Everyone may enroll/ }).isChecked(), 'and the choice shows the saved mode again')
    await page.getByRole('radio', { name: /Only whitelisted users/ }).check()
    await page.getByRole('button', { name: 'Save mode' }).click()
    await ask.getByRole('button', { name: 'Allow only whitelisted users' }).click()
    await page.getByText(/^Mode saved: only whitelisted users may enroll and connect\. It applied at once: active users no entry matches were disconnected\.$/).waitFor()
    t.equal(await mode(), 'whitelist')
    t.equal(await page.getByText(/next enrollment or connection/).count(), 0, 'no word of "from the next connection"')

    await page.getByRole('button', { name: 'Remove business_area East' }).click()
    const removal = page.getByRole('dialog', { name: 'Remove the entry business area East?' })
    await removal.waitFor()
    t.match(await removal.textContent(), /takes effect at once: users it matched that no other entry matches may be disconnected now/)
    await removal.getByRole('button', { name: 'Remove entry' }).click()
    await page.getByText('Entry business area East removed.').waitFor()
    t.same((await api('GET', '/admin/v1/whitelist/entries')).body.entries.map((e: { value: string }) => e.value), ['Sales'])

    await page.getByRole('radio', { name: /Everyone may enroll/ }).check()
    await page.getByRole('button', { name: 'Save mode' }).click()
    await page.getByText('Mode saved: everyone may enroll and connect, from now on.').waitFor()
    t.equal(await mode(), 'all', 'back to everyone, without a question')
    await screenIsClean(t, 'whitelist')
  })

  await t.test('the audit log: entries, an NDJSON export that verifies offline and in the portal', async (t) => {
    await page.getByRole('link', { name: 'Audit log' }).click()
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor()
    await page.getByRole('cell', { name: 'user.lock' }).first().waitFor()
    const created = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'pool.created', exact: true }) }).first()
    t.match(await created.textContent(), /admin root/, 'the actor by username (an owner may list administrators)')
    t.equal(await created.locator('.name').first().getAttribute('title'), root.id, 'the full id as tooltip')
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
    t.notMatch(await p.getByRole('navigation', { name: 'Main' }).textContent(), /API tokens|Administrators/, 'no API tokens, no administrators')

    await p.getByRole('link', { name: 'Audit log' }).click()
    await p.getByRole('cell', { name: 'pool.created', exact: true }).first().waitFor()
    const byRoot = p.getByRole('row').filter({ has: p.getByRole('cell', { name: 'pool.created', exact: true }) }).first().locator('code.short-id').first()
    t.equal(await byRoot.getAttribute('title'), root.id, 'an administrator the auditor cannot list: the full id as tooltip')
    t.equal(await byRoot.getAttribute('aria-label'), root.id, 'and as its accessible name')
    t.match(await byRoot.textContent(), root.id.slice(0, 8))
    t.match(await p.getByRole('row').filter({ has: p.getByRole('cell', { name: 'admin.login', exact: true }) }).first().textContent(), /admin audrey/, 'the auditor\'s own entries name her')
    t.same(seen.problems, [], 'no console errors')
    t.same(await seen.violations(), [], 'no CSP violations')
  })

  await t.test('a helpdesk administrator\'s own account: a new password, then TOTP, each used to sign in', async (t) => {
    const { password: first } = await createAdminService({ pool, audit: createAuditLog({ pool }) })
      .create({ username: 'hana', role: 'helpdesk', displayName: 'Hana Help' }, { type: 'system', id: 'test' })
    const other = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-GB', timezoneId: 'UTC' })
    t.teardown(() => other.close())
    const p = await other.newPage()
    p.setDefaultTimeout(15_000)
    const seen = watch(p)
    seen.allow(400, /\/admin\/v1\/me\/totp\/enable$/)
    const signIn = async (pw: string) => {
      await p.getByLabel('Username').fill('hana')
      await p.getByLabel('Password').fill(pw)
      await p.getByRole('button', { name: 'Sign in' }).click()
    }
    await p.goto(`${gw.url}/admin`)
    await signIn(first)
    await p.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
    await expectFocus(t, 'H1 Users', 'signed in: the focus is on the heading', p)
    t.notMatch(await p.getByRole('navigation', { name: 'Main' }).textContent(), /API tokens|Administrators/, 'helpdesk: neither tokens nor administrators')
    await p.goto(`${gw.url}/admin#/admins`)
    await p.getByRole('heading', { name: 'Not found', level: 1 }).waitFor()

    await p.getByRole('link', { name: 'Account' }).click()
    await p.getByRole('heading', { name: 'Your account', level: 1 }).waitFor()
    await expectFocus(t, 'H1 Your account', 'the account page focuses its heading', p)
    t.equal(await p.getByRole('link', { name: 'Account' }).getAttribute('aria-current'), 'page')
    const renewed = 'a much longer passphrase 42'
    await p.getByLabel('Current password').fill(first)
    await p.getByLabel('New password', { exact: true }).fill(renewed)
    await p.getByLabel('New password again').fill(`${renewed}!`)
    await p.getByRole('button', { name: 'Change password' }).click()
    await p.getByText('The two new passwords differ.').waitFor()
    await expectFocus(t, 'INPUT[repeatPassword]', 'a mismatch: the focus is on the repetition', p)
    await p.getByLabel('New password again').fill(renewed)
    await p.getByRole('button', { name: 'Change password' }).click()
    await p.getByText('Password changed. Your other sessions have ended; this one continues.').waitFor()
    await p.getByRole('button', { name: 'Sign out' }).click()
    await signIn(renewed)
    // back where the administrator was
    await p.getByRole('heading', { name: 'Your account', level: 1 }).waitFor()
    await expectFocus(t, 'H1 Your account', 'signed in with the new password: the focus is on the heading', p)

    await p.getByRole('button', { name: 'Set up two-factor sign-in' }).click()
    const qr = p.getByRole('img', { name: 'QR code of the two-factor secret for your authenticator app' })
    await qr.waitFor()
    await until('the QR image', async () => Boolean(await p.evaluate(`document.querySelector('.enrollment img')?.naturalWidth > 0`)))
    t.match(await qr.getAttribute('src'), /^blob:/)
    const secret = await p.getByTestId('totp-secret').inputValue()
    t.match(secret, /^[A-Z2-7]{32}$/, 'the base32 secret, to type in')
    t.match(await p.getByLabel('otpauth URI').inputValue(), new RegExp(`^otpauth://totp/MobiVisor%20Messenger:hana\\?secret=${secret}&`))
    await expectFocus(t, 'H3 Scan the code with your authenticator app', 'the set-up is focused', p)
    const key = base32Decode(secret)
    const step = totpStep(Date.now() / 1000)
    const valid = new Set([-1n, 0n, 1n, 2n].map((d) => hotp(key, step + d)))
    const wrong = ['000000', '111111', '222222', '333333', '444444'].find((c) => !valid.has(c))!
    await p.getByLabel('Code from the app').fill(wrong)
    await p.getByRole('button', { name: 'Turn on' }).click()
    await p.getByText(/^That code is wrong\./).waitFor()
    await expectFocus(t, 'INPUT[code]', 'a wrong code: back to the (emptied) code field', p)
    await p.getByLabel('Code from the app').fill(hotp(key, step))
    await p.getByRole('button', { name: 'Turn on' }).click()
    await p.getByText('Two-factor sign-in is on. From your next sign-in, the portal asks for a code.').waitFor()
    t.equal((await api('GET', '/admin/v1/admins')).body.admins.find((a: { username: string }) => a.username === 'hana').totpEnabled, true)
    await p.getByRole('button', { name: 'Sign out' }).click()
    await signIn(renewed)
    await p.getByText('Enter the code from your authenticator app.').waitFor()
    // the code used to turn it on cannot sign in again; the next step's code is within the drift window
    await p.getByLabel('Authentication code').fill(hotp(key, step + 1n))
    await p.keyboard.press('Enter')
    await p.getByRole('heading', { name: 'Your account', level: 1 }).waitFor()
    t.match(await p.getByRole('region', { name: 'Two-factor sign-in' }).textContent(), /On: signing in asks for a code/, 'signed in with password and code')
    t.same(seen.problems, [], 'no console errors')
    t.same(await seen.violations(), [], 'no CSP violations')
  })

  await t.test('API tokens: created with scopes and an expiry, shown once and copied, used, revoked after a question', async (t) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gw.url })
    await page.getByRole('link', { name: 'API tokens' }).click()
    await page.getByRole('heading', { name: 'API tokens', level: 1 }).waitFor()
    await expectFocus(t, 'H1 API tokens', 'the nav link focuses the heading')
    t.same(await page.getByRole('group', { name: 'Scopes' }).getByRole('checkbox').evaluateAll((boxes) => boxes.map((b) => (b as unknown as { value: string }).value)),
      ['users:read', 'users:write', 'audit:read', 'policy:read', 'policy:manage'], 'every scope, policy ones included')
    await page.getByLabel('Name', { exact: true }).fill('Directory sync')
    await page.getByLabel('Expires after (days)').fill('30')
    await page.getByRole('checkbox', { name: /^users:read/ }).check()
    await page.getByRole('checkbox', { name: /^policy:read/ }).check()
    await page.getByRole('button', { name: 'Create token' }).click()
    await page.getByRole('heading', { name: 'API token Directory sync created' }).waitFor()
    await expectFocus(t, 'H2 API token Directory sync created', 'the new token is focused')
    const token = await page.getByLabel('The token').inputValue()
    t.match(token, /^mvm_at_[A-Za-z0-9_-]{43}$/)
    await page.getByRole('button', { name: 'Copy token' }).click()
    await page.getByText('Copied.').waitFor()
    t.equal(await page.evaluate('navigator.clipboard.readText()'), token, 'the copy button puts the token on the clipboard')
    const listed = page.getByRole('table', { name: 'API tokens, newest first, revoked ones included' }).getByRole('row').filter({ hasText: 'Directory sync' })
    await listed.waitFor()
    t.match(await listed.textContent(), /policy:read.*users:read.*root/)
    const listedApi = (await api('GET', '/admin/v1/api-tokens')).body.apiTokens[0]
    t.match(listedApi, { name: 'Directory sync', scopes: ['policy:read', 'users:read'] })
    const days = (Date.parse(listedApi.expiresAt) - Date.now()) / 86_400_000
    t.ok(days > 29.9 && days <= 30, 'expires in 30 days')
    const bearer = (path: string) => httpsRequest(gw, { path, headers: { authorization: `Bearer ${token}` } })
    t.equal((await bearer('/admin/v1/pools')).status, 200, 'the token works for its scopes')
    t.equal((await bearer('/admin/v1/audit')).status, 403, 'and not beyond')

    await listed.getByRole('button', { name: 'Revoke Directory sync' }).click()
    const ask = page.getByRole('dialog', { name: 'Revoke the API token Directory sync?' })
    await ask.getByRole('button', { name: 'Cancel' }).click()
    t.equal((await bearer('/admin/v1/pools')).status, 200, 'cancelled: still valid')
    await listed.getByRole('button', { name: 'Revoke Directory sync' }).click()
    await ask.getByRole('button', { name: 'Revoke' }).click()
    await page.getByText('The API token Directory sync is revoked.').waitFor()
    await until('the revoked row', async () => /revoked/.test(await listed.textContent() ?? ''))
    t.equal((await bearer('/admin/v1/pools')).status, 401, 'revoked at once')
    await expectFocus(t, 'DIV The API token Directory sync is revoked.', 'the focus goes to the outcome, not <body>')
    // the screenshot without the token (revoked, but a token all the same)
    await page.getByRole('link', { name: 'Users', exact: true }).first().click()
    await page.getByRole('link', { name: 'API tokens' }).click()
    await listed.waitFor()
    await shot('api-tokens')
    await screenIsClean(t, 'api tokens')
  })

  await t.test('administrators: added with a password shown once, role changed, disabled and enabled, password and TOTP reset; the new one chooses his own at the first sign-in', async (t) => {
    await page.getByRole('link', { name: 'Administrators' }).click()
    await page.getByRole('heading', { name: 'Administrators', level: 1 }).waitFor()
    await page.getByLabel('Username').fill('hugo')
    await page.getByLabel('Display name').fill('Hugo Helper')
    await page.getByLabel('Role').selectOption('helpdesk')
    await page.getByRole('button', { name: 'Add administrator' }).click()
    await page.getByRole('heading', { name: 'hugo added as helpdesk' }).waitFor()
    await expectFocus(t, 'H2 hugo added as helpdesk', 'the new password is focused')
    const generated = await page.getByRole('textbox', { name: 'Password', exact: true }).inputValue()
    t.equal(generated.length, 24, 'the generated password, shown once')
    const hugo = await adminSession(gw, 'hugo', generated)
    t.equal((await hugo('GET', '/admin/v1/me')).body.admin.role, 'helpdesk', 'it signs in')
    const admins = page.getByRole('table', { name: 'Administrators' })
    const hugoRow = admins.getByRole('row').filter({ hasText: 'Hugo Helper' })
    await hugoRow.waitFor()
    t.match(await admins.getByRole('row').filter({ hasText: 'Robin Owner' }).textContent(), /root \(you\).*Your account/, 'no actions on oneself')

    await hugoRow.getByRole('button', { name: 'Change role… hugo' }).click()
    const roleDialog = page.getByRole('dialog', { name: 'Change the role of hugo' })
    await roleDialog.getByLabel('Role').selectOption('auditor')
    await roleDialog.getByRole('button', { name: 'Change role' }).click()
    await page.getByText('hugo is now auditor.').waitFor()
    t.equal((await hugo('GET', '/admin/v1/me')).body.admin.role, 'auditor', 'the role changed')

    await hugoRow.getByRole('button', { name: 'Disable hugo' }).click()
    await page.getByRole('dialog', { name: 'Disable hugo?' }).getByRole('button', { name: 'Disable' }).click()
    await page.getByText('hugo is disabled.').waitFor()
    t.equal((await hugo('GET', '/admin/v1/me')).status, 401, 'disabled: the session ended')
    await hugoRow.getByRole('button', { name: 'Enable hugo' }).click()
    await page.getByText('hugo is enabled again.').waitFor()
    t.equal((await adminSession(gw, 'hugo', generated).then((s) => s('GET', '/admin/v1/me'))).status, 200, 'enabled: signs in again')

    const hanaRow = admins.getByRole('row').filter({ hasText: 'Hana Help' })
    t.match(await hanaRow.textContent(), /helpdesk\s*on/, 'hana has TOTP')
    await hanaRow.getByRole('button', { name: 'Reset password… hana' }).click()
    const reset = page.getByRole('dialog', { name: 'Reset the password of hana?' })
    await reset.getByRole('checkbox', { name: 'Also remove two-factor sign-in (a lost authenticator)' }).check()
    await reset.getByRole('button', { name: 'Reset password' }).click()
    await page.getByRole('heading', { name: 'New password for hana' }).waitFor()
    const hanaPassword = await page.getByRole('textbox', { name: 'Password', exact: true }).inputValue()
    const hana = await adminSession(gw, 'hana', hanaPassword)
    t.equal((await hana('GET', '/admin/v1/me')).body.admin.totpEnabled, false, 'new password, no TOTP: signs in without a code')
    await page.getByRole('link', { name: 'Users', exact: true }).first().click()
    await page.getByRole('link', { name: 'Administrators' }).click()
    await hanaRow.waitFor()
    await shot('admins')
    await screenIsClean(t, 'administrators')

    // hugo's first sign-in in a browser of his own: nothing but his own password first.
    const his = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-GB', timezoneId: 'UTC' })
    t.teardown(() => his.close())
    const p = await his.newPage()
    p.setDefaultTimeout(15_000)
    const seenByHugo = watch(p)
    seenByHugo.allow(400, /\/admin\/v1\/me\/password$/)
    await p.goto(`${gw.url}/admin#/audit`)
    await p.getByLabel('Username').fill('hugo')
    await p.getByLabel('Password').fill(generated)
    await p.getByRole('button', { name: 'Sign in' }).click()
    await p.getByRole('heading', { name: 'Choose your own password', level: 1 }).waitFor()
    await expectFocus(t, 'H1 Choose your own password', 'the focus is on the question', p)
    t.equal(await p.getByRole('navigation', { name: 'Main' }).getByRole('link').count(), 0, 'no way elsewhere in the menu')
    t.equal(await p.getByRole('link', { name: 'Account' }).count(), 0, 'nor to the account page')
    await p.getByLabel('Current password').fill(generated)
    await p.getByLabel('New password', { exact: true }).fill(generated)
    await p.getByLabel('New password again').fill(generated)
    await p.getByRole('button', { name: 'Save my password' }).click()
    await p.getByText('Choose a new password: not the one you were given.').waitFor()
    await expectFocus(t, 'INPUT[newPassword]', 'the handed-out one again: the focus is on the new password', p)
    await p.getByLabel('New password', { exact: true }).fill('hugo keeps this one to himself')
    await p.getByLabel('New password again').fill('hugo keeps this one to himself')
    await p.getByRole('button', { name: 'Save my password' }).click()
    await p.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor()
    await expectFocus(t, 'H1 Audit log', 'then the screen he asked for, focused', p)
    t.match(await p.getByRole('navigation', { name: 'Main' }).textContent(), /Users.*Audit log/, 'and the menu of his role')
    t.same(seenByHugo.problems, [], 'no console errors but the expected 400')
    t.same(await seenByHugo.violations(), [], 'no CSP violations')
  })

  await t.test('"select all matching the filter" unlocks every locked user the filter selects', async (t) => {
    await page.getByRole('link', { name: 'Users' }).click()
    await page.getByLabel('Team').fill('Sales')
    await page.getByLabel('Status').selectOption('locked')
    await page.getByRole('button', { name: 'Apply filter' }).click()
    await rows(2)
    await page.getByRole('button', { name: 'Select all users matching the filter' }).click()
    t.equal(await page.locator('.selection-bar .count').textContent(), 'All users matching the filter are selected')
    t.same((await api('GET', '/admin/v1/users/count?team=Sales&status=locked')).body, { count: 2 })
    await page.getByLabel('Action', { exact: true }).selectOption('unlock')
    await page.getByRole('button', { name: 'Apply…' }).click()
    // how many, by which filter
    await page.getByRole('dialog', { name: 'Unlock 2 users matching: team Sales, status locked?' }).getByRole('button', { name: 'Unlock' }).click()
    await page.getByText(/^Done: 2 of 2 succeeded\.$/).waitFor({ timeout: 30_000 })
    for (const name of ['carol', 'henry']) {
      t.equal((await api('GET', `/admin/v1/users/${ids[name]}`)).body.user.status, 'invited', `${name} is unlocked (invited: no device yet)`)
    }
    await rows(0)
    await screenIsClean(t, 'bulk by filter')
  })

  await t.test('a 100-character name without spaces wraps in its cell: the users table stays as wide as the page', async (t) => {
    const long = 'W'.repeat(100)
    t.equal((await api('POST', '/admin/v1/users', { username: 'wendy', displayName: long, team: long, businessArea: 'North' })).status, 201)
    await page.goto(`${gw.url}/admin#/users?q=wendy`)
    await rows(1)
    const widths = await page.evaluate(`(() => ({ table: document.querySelector('table').getBoundingClientRect().right, page: document.documentElement.clientWidth }))()`) as { table: number; page: number }
    t.ok(widths.table <= widths.page, `the table ends at ${Math.round(widths.table)} px, within the page's ${widths.page} px`)
    t.ok(await page.getByRole('cell', { name: 'never' }).isVisible(), 'the last column is in view')
    await screenIsClean(t, 'long names')
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
