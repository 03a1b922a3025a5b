// API tokens: issued once and stored hashed, scoped, never more than their creator may do (also
// after the creator is demoted or disabled), revoked or expired at once; refusals audited.
import t from 'tap'
import { createHash } from 'node:crypto'
import { build } from '../helper.ts'
import { addAdmin, adminAs, auditEntries, randomIp, signIn, uniqueName } from './support.ts'

t.test('API tokens', async (t) => {
  const { app } = await build(t)
  const owner = await adminAs(app, 'owner')
  const issue = async (scopes: string[], as = owner, extra: object = {}) => {
    const res = await as.call({ method: 'POST', url: '/admin/v1/api-tokens', payload: { name: uniqueName('sync'), scopes, ...extra } })
    if (res.statusCode !== 201) throw new Error(`issue: ${res.statusCode} ${res.body}`)
    return res.json() as { token: string; apiToken: any }
  }
  // An address of this run's own: refused tokens are counted per address (the throttle below).
  const ip = randomIp()
  const withToken = (token: string, method: string, url: string, payload?: object, from = ip) =>
    app.inject({ method: method as 'GET', url, remoteAddress: from, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) })
  const { user } = (await owner.call({ method: 'POST', url: '/admin/v1/users', payload: { username: uniqueName('emp') } })).json()

  t.test('POST /api-tokens: the token once, its hash stored; listed without it; the log has no token', async (t) => {
    const { token, apiToken } = await issue(['users:read', 'audit:read'], owner, { expiresInDays: 30 })
    t.match(token, /^mvm_at_[A-Za-z0-9_-]{43}$/)
    t.match(apiToken, { scopes: ['audit:read', 'users:read'], createdBy: { id: owner.id, username: owner.username }, revokedAt: null, lastUsedAt: null })
    t.ok(Math.abs(Date.parse(apiToken.expiresAt) - Date.now() - 30 * 86_400_000) < 60_000)
    const { rows: [row] } = await app.services.db.pool.query('SELECT token_hash FROM api_tokens WHERE id = $1', [apiToken.id])
    t.same(row.token_hash, createHash('sha256').update(token).digest(), 'only SHA-256 of it is stored')
    const list = await owner.call({ method: 'GET', url: '/admin/v1/api-tokens' })
    t.equal(list.statusCode, 200)
    t.ok(list.json().apiTokens.some((x: any) => x.id === apiToken.id))
    t.notMatch(list.body, token)
    const [entry] = await auditEntries(app, 'api_token.created', apiToken.id)
    t.match(entry, { actor_id: owner.id, details: { scopes: ['audit:read', 'users:read'] } })
    t.notMatch(JSON.stringify(entry), token)
    for (const payload of [{ name: 'x', scopes: [] }, { name: 'x', scopes: ['users:admin'] }, { name: 'x', scopes: ['users:read', 'users:read'] }, { name: 'x', scopes: ['users:read'], expiresInDays: 0 }, { scopes: ['users:read'] }]) {
      t.equal((await owner.call({ method: 'POST', url: '/admin/v1/api-tokens', payload })).statusCode, 400, JSON.stringify(payload))
    }
  })

  t.test('scopes: users:read reads, users:write changes, neither manages tokens or admins, no CSRF token needed', async (t) => {
    const reader = (await issue(['users:read'])).token
    const writer = await issue(['users:write'])
    t.equal((await withToken(reader, 'GET', '/admin/v1/users')).statusCode, 200)
    t.equal((await withToken(reader, 'GET', `/admin/v1/users/${user.id}`)).statusCode, 200)
    const denied = await withToken(reader, 'POST', `/admin/v1/users/${user.id}/lock`)
    t.equal(denied.statusCode, 403)
    t.equal(denied.json().code, 'MVM_ADMIN_FORBIDDEN')
    t.equal((await withToken(writer.token, 'GET', '/admin/v1/users')).statusCode, 403, 'users:write does not include reading')
    const locked = await withToken(writer.token, 'POST', `/admin/v1/users/${user.id}/lock`)
    t.equal(locked.statusCode, 200)
    t.match((await auditEntries(app, 'user.lock', user.id)).at(-1), { actor_type: 'api-token', actor_id: writer.apiToken.id, source_ip: ip })
    t.equal((await withToken(writer.token, 'POST', `/admin/v1/users/${user.id}/unlock`)).statusCode, 200)
    t.equal((await withToken(writer.token, 'POST', '/admin/v1/users', { username: uniqueName('emm') })).statusCode, 201)
    for (const [method, url] of [['GET', '/admin/v1/api-tokens'], ['POST', '/admin/v1/api-tokens'], ['GET', '/admin/v1/admins'], ['GET', '/admin/v1/me'], ['POST', '/admin/v1/logout']] as const) {
      const res = await withToken(writer.token, method, url, method === 'POST' ? { name: 'x', scopes: ['users:read'] } : undefined)
      t.equal(res.statusCode, 403, `${method} ${url}`)
    }
    const used = (await owner.call({ method: 'GET', url: '/admin/v1/api-tokens' })).json().apiTokens.find((x: any) => x.id === writer.apiToken.id)
    t.ok(used.lastUsedAt, 'last use is recorded')
  })

  t.test('scopes: policy:read reads whitelist and pools, policy:manage changes them; helpdesk cannot issue either', async (t) => {
    const reader = (await issue(['policy:read'])).token
    const manager = (await issue(['policy:manage'])).token
    t.equal((await withToken(reader, 'GET', '/admin/v1/pools')).statusCode, 200)
    t.equal((await withToken(reader, 'GET', '/admin/v1/whitelist/mode')).statusCode, 200)
    t.equal((await withToken(reader, 'POST', '/admin/v1/pools', { name: uniqueName('pool') })).statusCode, 403, 'policy:read changes nothing')
    const created = await withToken(manager, 'POST', '/admin/v1/pools', { name: uniqueName('pool') })
    t.equal(created.statusCode, 201, 'policy:manage creates a pool')
    t.equal((await withToken(manager, 'GET', `/admin/v1/pools/${created.json().pool.id}`)).statusCode, 200, 'and reads it')
    t.equal((await withToken(manager, 'GET', '/admin/v1/users')).statusCode, 403, 'but not users')
    const helpdesk = await adminAs(app, 'helpdesk')
    for (const scope of ['policy:read', 'policy:manage']) {
      const res = await helpdesk.call({ method: 'POST', url: '/admin/v1/api-tokens', payload: { name: 'x', scopes: [scope] } })
      t.equal(res.statusCode, 403, `helpdesk cannot issue ${scope}`)
    }
  })

  t.test('a token carries at most its creator\'s rights, now: demoted, it shrinks; disabled, it stops', async (t) => {
    const ann = await addAdmin(app, 'admin')
    const annSession = await signIn(app, ann)
    const { token } = await issue(['users:write', 'users:read'], annSession)
    t.equal((await withToken(token, 'PATCH', `/admin/v1/users/${user.id}`, { team: 'A' })).statusCode, 200)
    await owner.call({ method: 'PATCH', url: `/admin/v1/admins/${ann.id}`, payload: { role: 'helpdesk' } })
    t.equal((await withToken(token, 'PATCH', `/admin/v1/users/${user.id}`, { team: 'B' })).statusCode, 403, 'helpdesk may not change profiles, so neither may the token')
    t.equal((await withToken(token, 'POST', `/admin/v1/users/${user.id}/lock`)).statusCode, 200, 'but it may still lock')
    await withToken(token, 'POST', `/admin/v1/users/${user.id}/unlock`)
    const asHelpdesk = await annSession.call({ method: 'POST', url: '/admin/v1/api-tokens', payload: { name: 'x', scopes: ['users:read'] } })
    t.equal(asHelpdesk.statusCode, 403, 'helpdesk cannot issue tokens')
    await owner.call({ method: 'PATCH', url: `/admin/v1/admins/${ann.id}`, payload: { disabled: true } })
    const res = await withToken(token, 'GET', '/admin/v1/users')
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'MVM_ADMIN_AUTH_REQUIRED')
  })

  t.test('DELETE /api-tokens/:id revokes at once; revoked, expired and unknown tokens are 401 and audited', async (t) => {
    const { token, apiToken } = await issue(['users:read'])
    const revoked = await owner.call({ method: 'DELETE', url: `/admin/v1/api-tokens/${apiToken.id}` })
    t.equal(revoked.statusCode, 200)
    t.ok(revoked.json().apiToken.revokedAt)
    t.equal((await withToken(token, 'GET', '/admin/v1/users')).statusCode, 401)
    t.equal((await owner.call({ method: 'DELETE', url: `/admin/v1/api-tokens/${apiToken.id}` })).statusCode, 200, 'revoking twice is harmless')
    t.equal((await auditEntries(app, 'api_token.revoked', apiToken.id)).length, 1, 'and logged once')
    const missing = await owner.call({ method: 'DELETE', url: '/admin/v1/api-tokens/00000000-0000-4000-8000-000000000000' })
    t.equal(missing.statusCode, 404)
    t.equal(missing.json().code, 'MVM_API_TOKEN_NOT_FOUND')

    const old = await issue(['users:read'])
    await app.services.db.pool.query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [old.apiToken.id])
    t.equal((await withToken(old.token, 'GET', '/admin/v1/users')).statusCode, 401, 'expired')
    const before = (await auditEntries(app, 'api_token.auth_failed')).length
    for (const authorization of ['Bearer mvm_at_' + 'A'.repeat(43), 'Bearer nonsense', 'Basic b3duZXI6cHc=']) {
      const res = await app.inject({ method: 'GET', url: '/admin/v1/users', remoteAddress: ip, headers: { authorization } })
      t.equal(res.statusCode, 401, authorization)
      t.equal(res.json().code, 'MVM_ADMIN_AUTH_REQUIRED')
    }
    const failures = await auditEntries(app, 'api_token.auth_failed')
    t.equal(failures.length - before, 3)
    t.match(failures.at(-1), { actor_type: 'api-token', actor_id: null, source_ip: ip, details: { method: 'GET', route: '/admin/v1/users' } })
  })

  t.test('refused tokens from one address: 30 are written to the log, then 429 without an entry; a valid token still works', async (t) => {
    const from = randomIp()
    const entriesFrom = async () => (await auditEntries(app, 'api_token.auth_failed')).filter((e) => e.source_ip === from)
    const bad = () => withToken('mvm_at_' + 'B'.repeat(43), 'GET', '/admin/v1/users', undefined, from)
    const answers = await Promise.all(Array.from({ length: 30 }, bad))
    t.same(new Set(answers.map((r) => r.statusCode)), new Set([401]), 'the first 30: 401')
    const logged = await entriesFrom()
    t.equal(logged.length, 30, 'each written to the audit log')
    t.equal(logged.filter((e) => e.details.throttled).length, 1, 'the 30th says the throttle starts')
    const over = await bad()
    t.same([over.statusCode, over.json().code], [429, 'MVM_RATE_LIMITED'], 'the 31st: 429')
    t.ok(Number(over.headers['retry-after']) > 0 && Number(over.headers['retry-after']) <= 900, `with Retry-After (${over.headers['retry-after']} s)`)
    await Promise.all(Array.from({ length: 20 }, bad))
    t.equal((await entriesFrom()).length, 30, 'and nothing more is written, however many follow')
    const { token } = await issue(['users:read'])
    t.equal((await withToken(token, 'GET', '/admin/v1/users', undefined, from)).statusCode, 200, 'a valid token from the same address is not held back')
    t.equal((await withToken('mvm_at_' + 'C'.repeat(43), 'GET', '/admin/v1/users', undefined, randomIp())).statusCode, 401, 'another address is counted apart')
  })
})
