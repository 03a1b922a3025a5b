// A password someone else generated and saw (an administrator created over the API or by mvctl,
// the first owner, a reset) signs in, but reaches only the session routes until its holder changes
// it; the new one must differ. API tokens are not held back. Core `create` without the option (as
// other tests use it) sets nothing.
import t, { type Test } from 'tap'
import { build } from '../helper.ts'
import { adminAs, auditEntries, signIn, uniqueName, type Caller } from './support.ts'

t.test('handed-out admin passwords are changed first', async (t) => {
  const { app } = await build(t)
  const owner = await adminAs(app, 'owner')

  /** Every kind of route a handed-out password must not reach, and the session routes it must. */
  const assertHeldBack = async (t: Test, caller: Caller) => {
    const me = await caller.call({ method: 'GET', url: '/admin/v1/me' })
    t.equal(me.statusCode, 200, 'GET /me answers')
    t.equal(me.json().admin.mustChangePassword, true, 'and says the password must change')
    for (const [method, url] of [['GET', '/admin/v1/users'], ['GET', '/admin/v1/audit'], ['GET', '/admin/v1/pools'], ['POST', '/admin/v1/api-tokens'], ['GET', '/admin/v1/admins']] as const) {
      const res = await caller.call({ method, url, ...(method === 'POST' ? { payload: { name: 'x', scopes: ['users:read'] } } : {}) })
      t.same([res.statusCode, res.json().code], [403, 'MVM_ADMIN_PASSWORD_CHANGE_REQUIRED'], `${method} ${url}`)
    }
  }
  const change = (caller: Caller, currentPassword: string, newPassword: string) =>
    caller.call({ method: 'POST', url: '/admin/v1/me/password', payload: { currentPassword, newPassword } })

  t.test('created by an owner over the API: held back until changed; the same password again is refused', async (t) => {
    const username = uniqueName('newbie')
    const created = await owner.call({ method: 'POST', url: '/admin/v1/admins', payload: { username, role: 'admin' } })
    t.equal(created.statusCode, 201)
    t.equal(created.json().admin.mustChangePassword, true, 'the answer says so')
    const account = { id: created.json().admin.id as string, username, password: created.json().password as string }
    const newbie = await signIn(app, account)
    await assertHeldBack(t, newbie)

    const same = await change(newbie, account.password, account.password)
    t.same([same.statusCode, same.json().code], [400, 'MVM_ADMIN_PASSWORD_UNCHANGED'], 'the handed-out password is not a new one')
    const weak = await change(newbie, account.password, 'short')
    t.equal(weak.json().code, 'MVM_ADMIN_PASSWORD_WEAK')
    const wrong = await change(newbie, 'not the password at all', 'my own long passphrase')
    t.equal(wrong.json().code, 'MVM_ADMIN_PASSWORD_WRONG')
    await assertHeldBack(t, newbie)

    t.equal((await change(newbie, account.password, 'my own long passphrase')).statusCode, 204)
    const users = await newbie.call({ method: 'GET', url: '/admin/v1/users' })
    t.equal(users.statusCode, 200, 'the same session now reaches the API')
    t.equal((await newbie.call({ method: 'GET', url: '/admin/v1/me' })).json().admin.mustChangePassword, false)
    const again = await signIn(app, { ...account, password: 'my own long passphrase' })
    t.equal((await again.call({ method: 'GET', url: '/admin/v1/users' })).statusCode, 200, 'and so does a new sign-in')
    const [entry] = await auditEntries(app, 'admin.password_changed', account.id)
    t.match(entry, { actor_id: account.id, details: { by: 'self' } })
  })

  t.test('a reset by an owner holds the next sign-in back, TOTP or not; tokens made before keep working', async (t) => {
    const victim = await adminAs(app, 'admin')
    const made = await victim.call({ method: 'POST', url: '/admin/v1/api-tokens', payload: { name: 'sync', scopes: ['users:read'] } })
    t.equal(made.statusCode, 201)
    const reset = await owner.call({ method: 'POST', url: `/admin/v1/admins/${victim.id}/password`, payload: { resetTotp: true } })
    t.equal(reset.statusCode, 200)
    t.equal(reset.json().admin.mustChangePassword, true)
    t.equal((await victim.call({ method: 'GET', url: '/admin/v1/me' })).statusCode, 401, 'the old session ended')
    const back = await signIn(app, { ...victim, password: reset.json().password })
    await assertHeldBack(t, back)
    const byToken = await app.inject({ method: 'GET', url: '/admin/v1/users', headers: { authorization: `Bearer ${made.json().token}` } })
    t.equal(byToken.statusCode, 200, 'an API token is not a handed-out password')
    t.equal((await change(back, reset.json().password, 'after the reset, mine')).statusCode, 204)
    t.equal((await back.call({ method: 'GET', url: '/admin/v1/users' })).statusCode, 200)
  })

  t.test('the first owner, and an account created in core without the option', async (t) => {
    // No administrator at all is what createFirstOwner needs: check the flag it writes instead.
    const { rows } = await app.services.db.pool.query("SELECT column_default FROM information_schema.columns WHERE table_name = 'admins' AND column_name = 'must_change_password'")
    t.equal(rows[0]?.column_default, 'false', 'accounts are not held back by default')
    t.equal((await owner.call({ method: 'GET', url: '/admin/v1/me' })).json().admin.mustChangePassword, false, 'a core-created test account is not held back')
    const listed = await owner.call({ method: 'GET', url: '/admin/v1/admins' })
    t.ok(listed.json().admins.every((a: { mustChangePassword: unknown }) => typeof a.mustChangePassword === 'boolean'), 'the list says it for each')
  })
})
