// GET/POST/PATCH /admin/v1/users…: invitations with link and QR code, filters and keyset pages,
// profile changes, lock, unlock, offboarding and tokens, the roles that may do each, and the
// audit entry every change leaves.
import t from 'tap'
import { build } from '../helper.ts'
import { adminAs, auditEntries, decodeQrSvg, deviceSession, enrollDevice, uniqueName } from './support.ts'

const PUBLIC_URL = 'https://messenger.example.com'

t.test('users through the admin API', async (t) => {
  const { app } = await build(t, { MVM_PUBLIC_URL: PUBLIC_URL })
  const owner = await adminAs(app, 'owner')
  const invite = async (username: string, extra: object = {}, as = owner) => {
    const res = await as.call({ method: 'POST', url: '/admin/v1/users', payload: { username, ...extra } })
    if (res.statusCode !== 201) throw new Error(`invite ${username}: ${res.statusCode} ${res.body}`)
    return res.json() as { user: any; enrollment: { token: string; link: string; qrSvg: string; expiresAt: string } }
  }

  t.test('POST /users: an invited user, a one-time token, the enrollment link and its QR code', async (t) => {
    const res = await owner.call({ method: 'POST', url: '/admin/v1/users', payload: { username: 'Ada.Lovelace', displayName: 'Ada Lovelace', team: 'R&D', businessArea: 'Engineering', email: 'ada@example.com' } })
    t.equal(res.statusCode, 201)
    const { user, enrollment } = res.json()
    t.match(user, { username: 'Ada.Lovelace', displayName: 'Ada Lovelace', team: 'R&D', businessArea: 'Engineering', email: 'ada@example.com', status: 'invited', devices: 0 })
    t.match(enrollment.token, /^[A-Za-z0-9_-]{43}$/)
    t.equal(enrollment.link, `mobivisor://enroll?server=${encodeURIComponent(PUBLIC_URL)}&token=${enrollment.token}`, 'the link names MVM_PUBLIC_URL')
    t.match(enrollment.qrSvg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    t.equal(decodeQrSvg(enrollment.qrSvg), enrollment.link, 'the QR code reads as the link')
    const hours = (Date.parse(enrollment.expiresAt) - Date.now()) / 3600_000
    t.ok(hours > 71.9 && hours <= 72, 'valid for MVM_ENROLLMENT_TTL_HOURS')

    const device = await enrollDevice(app, enrollment.token)
    t.equal(device.userId, user.id, 'the token enrolls a device of that user')
    t.equal((await app.inject({ method: 'POST', url: '/v1/enroll', payload: { token: enrollment.token } })).statusCode, 400)
    const detail = await owner.call({ method: 'GET', url: `/admin/v1/users/${user.id}` })
    t.equal(detail.json().user.status, 'active', 'enrolling activates the user')
    t.equal(detail.json().user.devices, 1)
    t.match(detail.json().devices, [{ id: device.deviceId, platform: 'other', state: 'active' }])

    const [entry] = await auditEntries(app, 'user.created', user.id)
    t.match(entry, { actor_type: 'admin', actor_id: owner.id, source_ip: owner.ip, target_type: 'user', details: { after: { username: 'Ada.Lovelace', status: 'invited' } } })
    t.notMatch(JSON.stringify(entry), enrollment.token, 'the token is not in the log')

    const taken = await owner.call({ method: 'POST', url: '/admin/v1/users', payload: { username: 'ADA.LOVELACE' } })
    t.equal(taken.statusCode, 409)
    t.equal(taken.json().code, 'MVM_USER_EXISTS')
    for (const payload of [{ username: '+4915112345678' }, { username: 'a b' }, { username: 'x', extra: 1 }, { username: 'x', email: 'not-an-address' }, { username: 'x'.repeat(65) }]) {
      const bad = await owner.call({ method: 'POST', url: '/admin/v1/users', payload })
      t.equal(bad.statusCode, 400, JSON.stringify(payload))
      t.match(bad.json().code, /^MVM_(REQUEST_INVALID|USER_NAME_INVALID)$/)
    }
  })

  t.test('without MVM_PUBLIC_URL the link names the address the request came to', async (t) => {
    const other = await build(t)
    const o = await adminAs(other.app, 'owner')
    const res = await o.call({ method: 'POST', url: '/admin/v1/users', payload: { username: 'lin' }, headers: { host: 'gw.internal:8443' } })
    t.match(res.json().enrollment.link, /^mobivisor:\/\/enroll\?server=http%3A%2F%2Fgw.internal%3A8443&token=/)
  })

  t.test('GET /users: status and text filters, limits, unknown members refused', async (t) => {
    const tag = uniqueName('flt')
    await invite(`${tag}-one`, { displayName: 'Zoë Quartermaine' })
    const two = await invite(`${tag}-two`, { displayName: 'Other Person' })
    await owner.call({ method: 'POST', url: `/admin/v1/users/${two.user.id}/lock` })
    const list = async (qs: string) => (await owner.call({ method: 'GET', url: `/admin/v1/users?${qs}` })).json().users.map((u: any) => u.username)
    t.same(await list(`q=${tag}`), [`${tag}-one`, `${tag}-two`], 'q matches usernames')
    t.same(await list(`q=${tag.toUpperCase()}-TWO`), [`${tag}-two`], 'case-insensitively')
    t.same(await list(`q=${encodeURIComponent('zoë quarter')}`), [`${tag}-one`], 'and display names')
    t.same(await list(`q=${tag}&status=locked`), [`${tag}-two`])
    t.same(await list(`q=${tag}&status=active`), [])
    t.same(await list('q=%25'), [], '% is a character, not a wildcard')
    for (const qs of ['limit=0', 'limit=201', 'limit=ten', 'status=gone', 'cursor=!!', 'cursor=bm90LWpzb24', 'sort=name', `q=${'x'.repeat(129)}`]) {
      const res = await owner.call({ method: 'GET', url: `/admin/v1/users?${qs}` })
      t.equal(res.statusCode, 400, qs)
      t.equal(res.json().code, 'MVM_REQUEST_INVALID')
    }
    t.equal((await owner.call({ method: 'GET', url: '/admin/v1/users?limit=200' })).statusCode, 200)
  })

  t.test('pages neither skip nor repeat while users are being added', async (t) => {
    const tag = uniqueName('page')
    const { pool } = app.services.db
    // 150 users present from the start, inserted directly for speed
    await pool.query(`INSERT INTO users (id, username, username_key, display_name)
      SELECT gen_random_uuid(), $1 || '-' || lpad(i::text, 3, '0'), $1 || '-' || lpad(i::text, 3, '0'), 'initial ' || i FROM generate_series(1, 150) i`, [tag])
    const initial = new Set((await pool.query('SELECT id FROM users WHERE username_key LIKE $1', [`${tag}-%`])).rows.map((r) => r.id as string))
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    let added = 0
    let writing = true
    // a writer adds users before, between and after the reader's position the whole time
    const writer = (async () => {
      while (writing) {
        const n = Math.floor(Math.random() * 150) + 1
        await pool.query(`INSERT INTO users (id, username, username_key, display_name) VALUES (gen_random_uuid(), $1, $1, 'added')`,
          [`${tag}-${String(n).padStart(3, '0')}-w${added++}`])
      }
    })()
    do {
      const res = await owner.call({ method: 'GET', url: `/admin/v1/users?q=${tag}&limit=7${cursor ? `&cursor=${cursor}` : ''}` })
      t.equal(res.statusCode, 200)
      const body = res.json()
      seen.push(...body.users.map((u: any) => u.id))
      cursor = body.nextCursor
      pages++
      // and between pages: one user before the reader's position, one right after it, one at the end
      const last = body.users.at(-1)?.username as string | undefined
      if (last) {
        for (const name of [`${tag}-000-p${pages}`, `${last}-p${pages}`, `${tag}-999-p${pages}`]) {
          await pool.query(`INSERT INTO users (id, username, username_key, display_name) VALUES (gen_random_uuid(), $1, $1, 'added')`, [name])
        }
      }
    } while (cursor)
    writing = false
    await writer
    t.ok(pages > 20 && added > 0, `${added + 3 * pages} users were added while ${pages} pages were read`)
    t.equal(new Set(seen).size, seen.length, 'no user twice')
    t.same([...initial].filter((id) => !seen.includes(id)), [], 'every user present throughout was listed')
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM users WHERE id = ANY($1) ORDER BY username_key, id', [seen])
    t.same(rows.map((r) => r.id), seen, 'in sort order across pages')
  })

  t.test('PATCH /users/:id: display name, team, business area; before and after in the log', async (t) => {
    const { user } = await invite(uniqueName('pat'), { team: 'Sales' })
    const res = await owner.call({ method: 'PATCH', url: `/admin/v1/users/${user.id}`, payload: { displayName: 'Pat Doe', businessArea: 'North' } })
    t.equal(res.statusCode, 200)
    t.match(res.json().user, { displayName: 'Pat Doe', team: 'Sales', businessArea: 'North' })
    const cleared = await owner.call({ method: 'PATCH', url: `/admin/v1/users/${user.id}`, payload: { team: null } })
    t.equal(cleared.json().user.team, null, 'null clears')
    const rtl = await owner.call({ method: 'PATCH', url: `/admin/v1/users/${user.id}`, payload: { displayName: '\u0645\u0631\u064a\u0645 \u200fMaryam' } })
    t.equal(rtl.statusCode, 200, 'right-to-left names and the RLM mark are fine; only the reordering controls are refused')
    const [first, second] = await auditEntries(app, 'user.updated', user.id)
    t.match(first.details, { before: { displayName: user.username, team: 'Sales', businessArea: null }, after: { displayName: 'Pat Doe', team: 'Sales', businessArea: 'North' } })
    t.match(second.details, { before: { team: 'Sales' }, after: { team: null } })
    for (const payload of [{}, { username: 'renamed' }, { displayName: '' }, { team: 'x\u0000y' }, { displayName: '\u202eRTL override' },
      { displayName: 'a\u2066b\u2069' }, { team: 'x\u0085y' }, { businessArea: '\u202aNorth' }]) {
      t.equal((await owner.call({ method: 'PATCH', url: `/admin/v1/users/${user.id}`, payload })).statusCode, 400, JSON.stringify(payload))
    }
    const missing = await owner.call({ method: 'PATCH', url: '/admin/v1/users/00000000-0000-4000-8000-000000000000', payload: { team: 'x' } })
    t.equal(missing.statusCode, 404)
    t.equal(missing.json().code, 'MVM_USER_NOT_FOUND')
    t.equal((await owner.call({ method: 'GET', url: '/admin/v1/users/not-a-uuid' })).statusCode, 400)
  })

  t.test('lock, unlock, offboard, token: states, sessions and the log', async (t) => {
    const { user, enrollment } = await invite(uniqueName('lou'))
    const device = await enrollDevice(app, enrollment.token)
    const { token } = await deviceSession(app, device)
    const authorization = `Bearer ${token}`
    t.equal((await app.inject({ method: 'GET', url: '/v1/deliveries', headers: { authorization } })).statusCode, 200)

    const locked = await owner.call({ method: 'POST', url: `/admin/v1/users/${user.id}/lock` })
    t.equal(locked.statusCode, 200)
    t.equal(locked.json().user.status, 'locked')
    t.equal((await app.inject({ method: 'GET', url: '/v1/deliveries', headers: { authorization } })).statusCode, 401, 'the session token is refused at once')
    t.equal((await deviceSession(app, device)).status, 401, 'and no new session is opened')
    const reissue = await owner.call({ method: 'POST', url: `/admin/v1/users/${user.id}/token` })
    t.equal(reissue.statusCode, 409)
    t.equal(reissue.json().code, 'MVM_USER_STATE_CONFLICT')

    const unlocked = await owner.call({ method: 'POST', url: `/admin/v1/users/${user.id}/unlock` })
    t.equal(unlocked.json().user.status, 'active', 'back to active: a device was enrolled')
    t.equal((await deviceSession(app, device)).status, 200, 'the device authenticates again')

    const issued = await owner.call({ method: 'POST', url: `/admin/v1/users/${user.id}/token` })
    t.equal(issued.statusCode, 200)
    t.equal(decodeQrSvg(issued.json().enrollment.qrSvg), issued.json().enrollment.link)
    const second = await enrollDevice(app, issued.json().enrollment.token)

    const offboarded = await owner.call({ method: 'POST', url: `/admin/v1/users/${user.id}/offboard` })
    t.equal(offboarded.statusCode, 200)
    t.match(offboarded.json().user, { status: 'offboarded', devices: 0 })
    const detail = (await owner.call({ method: 'GET', url: `/admin/v1/users/${user.id}` })).json()
    t.same(detail.devices.map((d: any) => d.state), ['revoked', 'revoked'], 'every device revoked; the user row stays')
    t.equal((await deviceSession(app, device)).status, 401)
    t.equal((await deviceSession(app, second)).status, 401)
    for (const action of ['lock', 'unlock', 'offboard', 'token']) {
      const res = await owner.call({ method: 'POST', url: `/admin/v1/users/${user.id}/${action}` })
      t.equal(res.statusCode, 409, `${action} after offboarding`)
      t.equal(res.json().code, 'MVM_USER_STATE_CONFLICT')
    }

    t.match((await auditEntries(app, 'user.lock', user.id))[0], { actor_id: owner.id, source_ip: owner.ip, details: { before: { status: 'active' }, after: { status: 'locked' } } })
    t.match((await auditEntries(app, 'user.unlock', user.id))[0], { details: { before: { status: 'locked' }, after: { status: 'active' } } })
    t.equal((await auditEntries(app, 'user.enrollment_token_issued', user.id)).length, 1, 'only the issued token; the refused one left none')
    const [off] = await auditEntries(app, 'user.offboard', user.id)
    t.same(off.details.revokedDevices, [device.deviceId, second.deviceId].sort())
    t.equal((await auditEntries(app, 'device.revoked', device.deviceId)).length, 1)
    t.equal((await auditEntries(app, 'device.revoked', second.deviceId)).length, 1)
  })

  t.test('unlocking a user who never enrolled leaves them invited', async (t) => {
    const { user } = await invite(uniqueName('inv'))
    await owner.call({ method: 'POST', url: `/admin/v1/users/${user.id}/lock` })
    const res = await owner.call({ method: 'POST', url: `/admin/v1/users/${user.id}/unlock` })
    t.equal(res.json().user.status, 'invited')
  })

  t.test('roles: helpdesk invites, locks, unlocks and issues tokens; auditor only reads', async (t) => {
    const helpdesk = await adminAs(app, 'helpdesk')
    const auditor = await adminAs(app, 'auditor')
    const admin = await adminAs(app, 'admin')
    const { user } = await invite(uniqueName('role'))
    const routes: [string, string, object | undefined][] = [
      ['GET', '/admin/v1/users', undefined],
      ['GET', `/admin/v1/users/${user.id}`, undefined],
      ['POST', '/admin/v1/users', { username: uniqueName('by') }],
      ['PATCH', `/admin/v1/users/${user.id}`, { team: 'x' }],
      ['POST', `/admin/v1/users/${user.id}/lock`, undefined],
      ['POST', `/admin/v1/users/${user.id}/unlock`, undefined],
      ['POST', `/admin/v1/users/${user.id}/token`, undefined],
      ['GET', '/admin/v1/api-tokens', undefined],
      ['POST', '/admin/v1/api-tokens', { name: 'ci', scopes: ['users:read'] }],
      ['GET', '/admin/v1/admins', undefined],
      ['POST', '/admin/v1/admins', { username: uniqueName('adm'), role: 'auditor' }],
    ]
    const allowed: Record<string, string[]> = {
      helpdesk: ['GET /admin/v1/users', `GET /admin/v1/users/${user.id}`, 'POST /admin/v1/users', `POST /admin/v1/users/${user.id}/lock`, `POST /admin/v1/users/${user.id}/unlock`, `POST /admin/v1/users/${user.id}/token`],
      auditor: ['GET /admin/v1/users', `GET /admin/v1/users/${user.id}`],
      admin: routes.filter(([, url]) => !url.startsWith('/admin/v1/admins')).map(([m, u]) => `${m} ${u}`),
    }
    for (const [role, caller] of [['helpdesk', helpdesk], ['auditor', auditor], ['admin', admin]] as const) {
      for (const [method, url, payload] of routes) {
        const res = await caller.call({ method: method as 'GET', url, ...(payload ? { payload: { ...payload, ...('username' in payload ? { username: uniqueName('by') } : {}) } } : {}) })
        if (allowed[role]!.includes(`${method} ${url}`)) {
          t.ok(res.statusCode < 300, `${role}: ${method} ${url} is allowed (${res.statusCode})`)
        } else {
          t.equal(res.statusCode, 403, `${role}: ${method} ${url} is refused`)
          t.equal(res.json().code, 'MVM_ADMIN_FORBIDDEN')
        }
      }
    }
    const refused = await auditor.call({ method: 'POST', url: `/admin/v1/users/${user.id}/lock` })
    t.equal(refused.json().message, 'not allowed: needs the users:lock right')
    const offboard = await helpdesk.call({ method: 'POST', url: `/admin/v1/users/${user.id}/offboard` })
    t.equal(offboard.statusCode, 403, 'helpdesk cannot offboard')
    t.equal((await auditEntries(app, 'user.lock', user.id)).filter((e) => e.actor_id === auditor.id).length, 0, 'a refused lock leaves no lock entry')
  })
})
