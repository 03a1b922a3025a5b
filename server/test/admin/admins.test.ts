// Administrators managed by owners: create (password generated, shown once), change role, disable,
// reset; the last owner stays; nobody else may.
import t from 'tap'
import { build } from '../helper.ts'
import { addAdmin, adminAs, auditEntries, randomIp, signIn, uniqueName } from './support.ts'

t.test('administrators', async (t) => {
  const { app } = await build(t)
  const owner = await adminAs(app, 'owner')

  t.test('POST /admins: a generated password that signs in once given; GET lists; the log has no password', async (t) => {
    const username = uniqueName('new')
    const res = await owner.call({ method: 'POST', url: '/admin/v1/admins', payload: { username, role: 'helpdesk', displayName: 'New Person' } })
    t.equal(res.statusCode, 201)
    const { admin, password } = res.json()
    t.match(admin, { username, role: 'helpdesk', displayName: 'New Person', totpEnabled: false, disabled: false })
    t.match(password, /^[A-Za-z0-9_-]{24}$/)
    await signIn(app, { id: admin.id, username, password })
    t.ok((await owner.call({ method: 'GET', url: '/admin/v1/admins' })).json().admins.some((a: any) => a.id === admin.id))
    const [entry] = await auditEntries(app, 'admin.created', admin.id)
    t.match(entry, { actor_id: owner.id, details: { after: { username, role: 'helpdesk' } } })
    t.notMatch(JSON.stringify(entry), password)
    const dup = await owner.call({ method: 'POST', url: '/admin/v1/admins', payload: { username: username.toUpperCase(), role: 'auditor' } })
    t.equal(dup.statusCode, 409)
    t.equal(dup.json().code, 'MVM_ADMIN_EXISTS')
    t.equal((await owner.call({ method: 'POST', url: '/admin/v1/admins', payload: { username: 'x', role: 'root' } })).statusCode, 400)
  })

  t.test('PATCH /admins/:id: role and disabled with before/after; the last active owner stays', async (t) => {
    const ann = await addAdmin(app, 'admin')
    const res = await owner.call({ method: 'PATCH', url: `/admin/v1/admins/${ann.id}`, payload: { role: 'auditor' } })
    t.equal(res.json().admin.role, 'auditor')
    t.match((await auditEntries(app, 'admin.updated', ann.id)).at(-1).details, { before: { role: 'admin' }, after: { role: 'auditor' } })

    // a database of its own, so that this test knows every owner there is
    const solo = await build(t)
    const only = await adminAs(solo.app, 'owner')
    for (const payload of [{ role: 'admin' }, { disabled: true }]) {
      const refused = await only.call({ method: 'PATCH', url: `/admin/v1/admins/${only.id}`, payload })
      t.equal(refused.statusCode, 409, JSON.stringify(payload))
      t.equal(refused.json().code, 'MVM_ADMIN_LAST_OWNER')
    }
    const second = await addAdmin(solo.app, 'owner')
    t.equal((await only.call({ method: 'PATCH', url: `/admin/v1/admins/${only.id}`, payload: { role: 'admin' } })).statusCode, 200, 'with another owner it works')
    const demoted = await only.call({ method: 'GET', url: '/admin/v1/admins' })
    t.equal(demoted.statusCode, 403, 'the demotion holds from the next request on')
    const secondSession = await signIn(solo.app, second)
    t.equal((await secondSession.call({ method: 'PATCH', url: `/admin/v1/admins/${second.id}`, payload: { disabled: true } })).statusCode, 409)
    t.equal((await owner.call({ method: 'PATCH', url: '/admin/v1/admins/00000000-0000-4000-8000-000000000000', payload: { role: 'admin' } })).json().code, 'MVM_ADMIN_NOT_FOUND')
    t.equal((await owner.call({ method: 'PATCH', url: `/admin/v1/admins/${ann.id}`, payload: {} })).statusCode, 400)
  })

  t.test('POST /admins/:id/password: a new password, the lock-out and (if asked) TOTP cleared, sessions ended', async (t) => {
    const ann = await addAdmin(app, 'admin')
    const session = await signIn(app, ann)
    for (let i = 0; i < 5; i++) await app.inject({ method: 'POST', url: '/admin/v1/login', remoteAddress: randomIp(), payload: { username: ann.username, password: 'wrong wrong wrong' } })
    const res = await owner.call({ method: 'POST', url: `/admin/v1/admins/${ann.id}/password`, payload: { resetTotp: true } })
    t.equal(res.statusCode, 200)
    t.equal(res.json().admin.lockedUntil, null)
    t.equal((await session.call({ method: 'GET', url: '/admin/v1/me' })).statusCode, 401, 'the open session ended')
    const fresh = await signIn(app, { ...ann, password: res.json().password })
    t.equal(fresh.id, ann.id)
    const old = await app.inject({ method: 'POST', url: '/admin/v1/login', remoteAddress: randomIp(), payload: { username: ann.username, password: ann.password } })
    t.equal(old.statusCode, 401)
    t.match((await auditEntries(app, 'admin.password_changed', ann.id))[0], { actor_id: owner.id, details: { by: 'reset', totpReset: true } })
  })

  t.test('only owners manage administrators', async (t) => {
    for (const role of ['admin', 'helpdesk', 'auditor'] as const) {
      const caller = await adminAs(app, role)
      for (const [method, url, payload] of [['GET', '/admin/v1/admins'], ['POST', '/admin/v1/admins', { username: uniqueName('x'), role: 'owner' }], ['PATCH', `/admin/v1/admins/${caller.id}`, { role: 'owner' }], ['POST', `/admin/v1/admins/${owner.id}/password`, {}]] as const) {
        const res = await caller.call({ method, url, ...(payload ? { payload } : {}) })
        t.equal(res.statusCode, 403, `${role}: ${method} ${url}`)
        t.equal(res.json().code, 'MVM_ADMIN_FORBIDDEN')
      }
    }
  })
})
