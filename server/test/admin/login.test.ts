// Signing in to the admin API: cookie and CSRF, wrong passwords, lock-out after 5, throttling per
// username and per address, TOTP, idle timeout, sign-out; each attempt in the audit log.
import t from 'tap'
import { base32Decode, totp } from '#core/admin/totp.ts'
import { build } from '../helper.ts'
import { addAdmin, adminAs, auditEntries, randomIp, sessionCookie, signIn, uniqueName } from './support.ts'

const LOGIN = '/admin/v1/login'

t.test('admin sign-in', async (t) => {
  const { app } = await build(t)
  const login = (payload: object, ip = randomIp()) => app.inject({ method: 'POST', url: LOGIN, payload, remoteAddress: ip })

  t.test('POST /login: 200 with the admin and a CSRF token; the cookie is HttpOnly, Secure, SameSite=Strict, Path=/admin', async (t) => {
    const ann = await addAdmin(app, 'admin')
    const ip = randomIp()
    const res = await login({ username: ann.username.toUpperCase(), password: ann.password }, ip)
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.equal(body.admin.id, ann.id, 'usernames are matched case-insensitively')
    t.equal(body.admin.role, 'admin')
    t.match(body.csrfToken, /^[A-Za-z0-9_-]{43}$/)
    t.notOk('passwordHash' in body.admin || 'password_hash' in body.admin)
    const setCookie = String(res.headers['set-cookie'])
    t.match(setCookie, /^mvm_admin=[A-Za-z0-9_-]{43}; /)
    for (const flag of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/admin']) t.ok(setCookie.split('; ').includes(flag), `cookie has ${flag}`)
    t.notMatch(setCookie, /Max-Age|Expires/, 'a session cookie: gone when the browser closes')
    t.equal(res.headers['cache-control'], 'no-store', 'no cache keeps the answer')
    const [entry] = await auditEntries(app, 'admin.login', ann.id)
    t.match(entry, { actor_type: 'admin', actor_id: ann.id, target_type: 'admin', source_ip: ip, details: { username: ann.username, totp: false } })

    const me = await app.inject({ method: 'GET', url: '/admin/v1/me', cookies: { mvm_admin: sessionCookie(res) } })
    t.equal(me.statusCode, 200)
    t.equal(me.json().admin.lastLoginAt !== null, true)
    t.equal(me.json().csrfToken, body.csrfToken, '/me gives a reloaded portal page its CSRF token')
  })

  t.test('wrong password and unknown username: the same 401, each audited', async (t) => {
    const ann = await addAdmin(app, 'helpdesk')
    const ip = randomIp()
    const wrong = await login({ username: ann.username, password: 'not the password' }, ip)
    const unknown = await login({ username: uniqueName('nobody'), password: 'not the password' }, ip)
    for (const res of [wrong, unknown]) {
      t.equal(res.statusCode, 401)
      t.equal(res.json().code, 'MVM_ADMIN_LOGIN_FAILED')
      t.equal(res.json().message, 'wrong username, password or code')
      t.notOk(res.headers['set-cookie'])
    }
    const [bad] = await auditEntries(app, 'admin.login_failed', ann.id)
    t.match(bad, { actor_type: 'admin', actor_id: ann.id, source_ip: ip, details: { reason: 'bad_password', consecutiveFailures: 1, lockedUntil: null } })
    const { rows } = await app.services.db.pool.query("SELECT * FROM audit_entries WHERE action = 'admin.login_failed' AND details->>'reason' = 'unknown_user'")
    t.equal(rows.length, 1)
    t.match(rows[0], { actor_type: 'admin', actor_id: null, target_id: null, source_ip: ip })
    t.notOk('username' in rows[0].details, 'an unknown username is not kept: it may be a password typed into the wrong field')
    t.notMatch(JSON.stringify(rows), /not the password/, 'no password in the log')
    t.equal(bad.details.username, ann.username, 'a known account is named')
  })

  t.test('5 wrong passwords in a row lock the account for 15 minutes; then the right one is refused with 403', async (t) => {
    const ann = await addAdmin(app, 'admin')
    for (let i = 0; i < 5; i++) t.equal((await login({ username: ann.username, password: `wrong password ${i}` })).statusCode, 401)
    const { rows: [row] } = await app.services.db.pool.query('SELECT failed_logins, locked_until FROM admins WHERE id = $1', [ann.id])
    t.equal(row.failed_logins, 5)
    const minutes = (row.locked_until.getTime() - Date.now()) / 60_000
    t.ok(minutes > 14.9 && minutes <= 15, `locked for 15 minutes (${minutes.toFixed(2)})`)

    const locked = await login({ username: ann.username, password: ann.password })
    t.equal(locked.statusCode, 403)
    t.equal(locked.json().code, 'MVM_ADMIN_LOCKED_OUT')
    t.match(locked.json().message, /try again after \d{4}-/)
    const stillWrong = await login({ username: ann.username, password: 'wrong again' })
    t.equal(stillWrong.json().code, 'MVM_ADMIN_LOGIN_FAILED', 'without the password nobody learns the account is locked')
    const [lockedOut] = await auditEntries(app, 'admin.locked_out', ann.id)
    t.match(lockedOut, { details: { username: ann.username, consecutiveFailures: 5 } })
    t.equal((await auditEntries(app, 'admin.login_failed', ann.id)).at(-2).details.reason, 'locked')

    // the 15 minutes pass
    await app.services.db.pool.query("UPDATE admins SET locked_until = now() - interval '1 second' WHERE id = $1", [ann.id])
    const after = await login({ username: ann.username, password: ann.password })
    t.equal(after.statusCode, 200, 'the right password works once the lock-out has passed')
    const { rows: [reset] } = await app.services.db.pool.query('SELECT failed_logins, locked_until FROM admins WHERE id = $1', [ann.id])
    t.same(reset, { failed_logins: 0, locked_until: null }, 'a success resets the count')
  })

  t.test('a success in between resets the consecutive count', async (t) => {
    const ann = await addAdmin(app, 'admin')
    for (let i = 0; i < 4; i++) await login({ username: ann.username, password: 'wrong wrong wrong' })
    t.equal((await login({ username: ann.username, password: ann.password })).statusCode, 200)
    for (let i = 0; i < 4; i++) await login({ username: ann.username, password: 'wrong wrong wrong' })
    t.equal((await login({ username: ann.username, password: ann.password })).statusCode, 200, '4 + 4 failures with a success between do not lock')
  })

  t.test('throttling: 10 failures for one username, 30 from one address, then 429 with Retry-After', async (t) => {
    const name = uniqueName('target')
    // No account has this name, so its entries do not name it: count what was added.
    const unknownEntries = async () => (await app.services.db.pool.query("SELECT details FROM audit_entries WHERE action = 'admin.login_failed' AND details->>'reason' = 'unknown_user' ORDER BY seq")).rows
    const before = (await unknownEntries()).length
    const tries = await Promise.all(Array.from({ length: 10 }, () => login({ username: name, password: 'guess guess guess' })))
    t.same(tries.map((r) => r.statusCode), Array(10).fill(401))
    const limited = await login({ username: name, password: 'guess guess guess' })
    t.equal(limited.statusCode, 429, 'the 11th attempt for the username, from yet another address')
    t.equal(limited.json().code, 'MVM_RATE_LIMITED')
    const retry = Number(limited.headers['retry-after'])
    t.ok(retry > 800 && retry <= 900, `Retry-After ${retry} s`)
    const throttled = (await unknownEntries()).slice(before)
    t.equal(throttled.length, 10, 'the refused attempt costs no audit entry; the ten failures do')
    t.same(throttled.at(-1).details.throttled, ['username'], 'the failure that reached the limit says so')

    const ip = randomIp()
    await Promise.all(Array.from({ length: 30 }, () => login({ username: uniqueName('spray'), password: 'guess guess guess' }, ip)))
    const ann = await addAdmin(app, 'admin')
    const fromThere = await login({ username: ann.username, password: ann.password }, ip)
    t.equal(fromThere.statusCode, 429, 'the 31st attempt from the address, even with a right password')
    t.equal((await login({ username: ann.username, password: ann.password })).statusCode, 200, 'from another address it works')
  })

  t.test('a disabled administrator cannot sign in, and their open session ends', async (t) => {
    const owner = await adminAs(app, 'owner')
    const ann = await addAdmin(app, 'admin')
    const session = await signIn(app, ann)
    const off = await owner.call({ method: 'PATCH', url: `/admin/v1/admins/${ann.id}`, payload: { disabled: true } })
    t.equal(off.statusCode, 200)
    t.equal((await session.call({ method: 'GET', url: '/admin/v1/me' })).statusCode, 401)
    const res = await login({ username: ann.username, password: ann.password })
    t.equal(res.json().code, 'MVM_ADMIN_LOGIN_FAILED')
    t.equal((await auditEntries(app, 'admin.login_failed', ann.id)).at(-1).details.reason, 'disabled')
  })

  t.test('TOTP: setup gives an otpauth URI, enabling needs a valid code, sign-in then needs a fresh code', async (t) => {
    const ann = await addAdmin(app, 'auditor')
    const me = await signIn(app, ann)
    const notStarted = await me.call({ method: 'POST', url: '/admin/v1/me/totp/enable', payload: { code: '123456' } })
    t.equal(notStarted.statusCode, 409)
    t.equal(notStarted.json().code, 'MVM_ADMIN_TOTP_NOT_STARTED')

    const setup = await me.call({ method: 'POST', url: '/admin/v1/me/totp' })
    t.equal(setup.statusCode, 200)
    const { secret, otpauthUri, qrSvg } = setup.json()
    t.equal(new URL(otpauthUri).searchParams.get('secret'), secret)
    t.match(qrSvg, /^<svg /)
    const key = base32Decode(secret)
    const now = Date.now() / 1000

    const wrong = await me.call({ method: 'POST', url: '/admin/v1/me/totp/enable', payload: { code: totp(key, now - 120) } })
    t.equal(wrong.statusCode, 400)
    t.equal(wrong.json().code, 'MVM_ADMIN_TOTP_INVALID')
    const enabled = await me.call({ method: 'POST', url: '/admin/v1/me/totp/enable', payload: { code: totp(key, now) } })
    t.equal(enabled.statusCode, 200)
    t.equal(enabled.json().admin.totpEnabled, true)
    const [change] = (await auditEntries(app, 'admin.updated', ann.id))
    t.same(change.details.after, { totpEnabled: true })
    t.notMatch(JSON.stringify(change), new RegExp(secret), 'the secret is not in the log')
    t.equal((await me.call({ method: 'POST', url: '/admin/v1/me/totp' })).json().code, 'MVM_ADMIN_TOTP_ENABLED')

    const withoutCode = await login({ username: ann.username, password: ann.password })
    t.equal(withoutCode.statusCode, 401)
    t.equal(withoutCode.json().code, 'MVM_ADMIN_TOTP_REQUIRED')
    t.notOk(withoutCode.headers['set-cookie'])
    const badCode = await login({ username: ann.username, password: ann.password, totp: totp(key, now + 300) })
    t.equal(badCode.json().code, 'MVM_ADMIN_LOGIN_FAILED')
    t.equal((await auditEntries(app, 'admin.login_failed', ann.id)).at(-1).details.reason, 'bad_totp')
    const usedForEnabling = await login({ username: ann.username, password: ann.password, totp: totp(key, now) })
    t.equal(usedForEnabling.json().code, 'MVM_ADMIN_LOGIN_FAILED', 'the code that enabled TOTP does not also sign in')

    const next = totp(key, now + 30)
    const ok = await login({ username: ann.username, password: ann.password, totp: next })
    t.equal(ok.statusCode, 200, 'a code one step ahead (clock drift) signs in')
    t.equal(ok.json().admin.totpEnabled, true)
    t.equal((await auditEntries(app, 'admin.login', ann.id)).at(-1).details.totp, true)
    const replay = await login({ username: ann.username, password: ann.password, totp: next })
    t.equal(replay.json().code, 'MVM_ADMIN_LOGIN_FAILED', 'a code is good once')
  })

  t.test('CSRF: a state-changing request without the session\'s token, or with another, is 403', async (t) => {
    const owner = await adminAs(app, 'owner')
    const other = await adminAs(app, 'owner')
    const invite = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/admin/v1/users', remoteAddress: owner.ip, headers, payload: { username: uniqueName('u') } })
    const missing = await invite({ cookie: owner.headers.cookie! })
    t.equal(missing.statusCode, 403)
    t.equal(missing.json().code, 'MVM_ADMIN_CSRF')
    const foreign = await invite({ cookie: owner.headers.cookie!, 'x-csrf-token': other.csrfToken })
    t.equal(foreign.json().code, 'MVM_ADMIN_CSRF', 'another session\'s token')
    t.equal((await invite({ cookie: owner.headers.cookie!, 'x-csrf-token': owner.csrfToken.slice(1) })).json().code, 'MVM_ADMIN_CSRF')
    t.equal((await invite({ cookie: owner.headers.cookie!, 'x-csrf-token': owner.csrfToken })).statusCode, 201)
    t.equal((await app.inject({ method: 'GET', url: '/admin/v1/users', headers: { cookie: owner.headers.cookie! } })).statusCode, 200, 'reads need no token')
    const logout = await app.inject({ method: 'POST', url: '/admin/v1/logout', headers: { cookie: owner.headers.cookie! } })
    t.equal(logout.json().code, 'MVM_ADMIN_CSRF', 'nor can a forged request sign someone out')
  })

  t.test('sessions: none or an unknown one is 401; idle for 30 minutes ends it; sign-out ends it', async (t) => {
    for (const cookies of [{}, { mvm_admin: 'x'.repeat(43) }, { mvm_admin: 'short' }] as Record<string, string>[]) {
      const res = await app.inject({ method: 'GET', url: '/admin/v1/me', cookies })
      t.equal(res.statusCode, 401)
      t.equal(res.json().code, 'MVM_ADMIN_AUTH_REQUIRED')
    }
    const ann = await adminAs(app, 'helpdesk')
    const { createHash } = await import('node:crypto')
    const key = `mvm:admin-session:${createHash('sha256').update(ann.cookie).digest('hex')}`
    const redis = app.services.redis
    t.ok((await redis.ttl(key)) <= 1800 && (await redis.ttl(key)) > 1790, 'idle timeout 30 minutes')
    await redis.expire(key, 100)
    t.equal((await ann.call({ method: 'GET', url: '/admin/v1/users' })).statusCode, 200)
    t.ok((await redis.ttl(key)) > 1790, 'each request renews it')
    await redis.pexpire(key, 1)
    await new Promise((r) => setTimeout(r, 20))
    t.equal((await ann.call({ method: 'GET', url: '/admin/v1/me' })).statusCode, 401, 'expired after idling')

    const bob = await adminAs(app, 'helpdesk')
    const out = await bob.call({ method: 'POST', url: '/admin/v1/logout' })
    t.equal(out.statusCode, 204)
    t.match(String(out.headers['set-cookie']), /^mvm_admin=; .*Expires=Thu, 01 Jan 1970/, 'the cookie is cleared')
    t.equal((await bob.call({ method: 'GET', url: '/admin/v1/me' })).statusCode, 401, 'the old cookie is dead')
    t.equal((await auditEntries(app, 'admin.logout', bob.id)).length, 1)
  })

  t.test('POST /me/password: needs the current password and 12 characters; other sessions end', async (t) => {
    const account = await addAdmin(app, 'admin')
    const here = await signIn(app, account)
    const elsewhere = await signIn(app, account)
    const wrong = await here.call({ method: 'POST', url: '/admin/v1/me/password', payload: { currentPassword: 'nope nope nope', newPassword: 'a new long passphrase' } })
    t.equal(wrong.json().code, 'MVM_ADMIN_PASSWORD_WRONG')
    const weak = await here.call({ method: 'POST', url: '/admin/v1/me/password', payload: { currentPassword: account.password, newPassword: 'short pw' } })
    t.equal(weak.statusCode, 400)
    t.equal(weak.json().code, 'MVM_ADMIN_PASSWORD_WEAK')
    const ok = await here.call({ method: 'POST', url: '/admin/v1/me/password', payload: { currentPassword: account.password, newPassword: 'a new long passphrase' } })
    t.equal(ok.statusCode, 204)
    t.equal((await here.call({ method: 'GET', url: '/admin/v1/me' })).statusCode, 200, 'this session stays')
    t.equal((await elsewhere.call({ method: 'GET', url: '/admin/v1/me' })).statusCode, 401, 'the other one ended')
    t.equal((await login({ username: account.username, password: account.password })).statusCode, 401)
    t.equal((await login({ username: account.username, password: 'a new long passphrase' })).statusCode, 200)
    t.match((await auditEntries(app, 'admin.password_changed', account.id))[0], { actor_id: account.id, details: { by: 'self' } })
  })
})
