// Whitelist and pools through the admin API: who may read and change them, the audit entry every
// change leaves, and the whitelist's effect on enrollment and authentication (by user, team and
// business area). The pools' effect on messaging is in test/pools-effect.test.ts.
import t from 'tap'
import { build } from '../helper.ts'
import { adminAs, auditEntries, deviceSession, enrollDevice, uniqueName } from './support.ts'

/** The control-channel announcement travels through Redis: true once `check` holds, false after 1 s. */
async function soon(check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 1000
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return false
}

t.test('whitelist and pools through the admin API', async (t) => {
  const { app } = await build(t)
  const owner = await adminAs(app, 'owner')
  const admin = await adminAs(app, 'admin')
  const helpdesk = await adminAs(app, 'helpdesk')
  const auditor = await adminAs(app, 'auditor')
  const invite = async (extra: object = {}) => {
    const res = await owner.call({ method: 'POST', url: '/admin/v1/users', payload: { username: uniqueName('u'), ...extra } })
    if (res.statusCode !== 201) throw new Error(`invite: ${res.statusCode} ${res.body}`)
    return res.json() as { user: { id: string }; enrollment: { token: string } }
  }
  const tryEnroll = async (token: string) => {
    try { return await enrollDevice(app, token) } catch (err) { return (err as Error).message }
  }

  t.test('helpdesk and auditor cannot change pools or the whitelist; auditor can read them', async (t) => {
    const pool = (await owner.call({ method: 'POST', url: '/admin/v1/pools', payload: { name: uniqueName('pool') } })).json().pool
    const user = await invite()
    const changes = [
      { method: 'POST' as const, url: '/admin/v1/pools', payload: { name: uniqueName('p') } },
      { method: 'PATCH' as const, url: `/admin/v1/pools/${pool.id}`, payload: { name: uniqueName('p') } },
      { method: 'POST' as const, url: `/admin/v1/pools/${pool.id}/members`, payload: { userIds: [user.user.id] } },
      { method: 'DELETE' as const, url: `/admin/v1/pools/${pool.id}/members/${user.user.id}` },
      { method: 'DELETE' as const, url: `/admin/v1/pools/${pool.id}` },
      { method: 'PUT' as const, url: '/admin/v1/whitelist/mode', payload: { mode: 'whitelist' } },
      { method: 'POST' as const, url: '/admin/v1/whitelist/entries', payload: { kind: 'team', value: 'x' } },
    ]
    for (const who of [helpdesk, auditor]) {
      for (const c of changes) {
        const res = await who.call(c)
        t.equal(res.statusCode, 403, `${who.username}: ${c.method} ${c.url}`)
        t.equal(res.json().code, 'MVM_ADMIN_FORBIDDEN')
      }
    }
    t.equal((await helpdesk.call({ method: 'GET', url: '/admin/v1/pools' })).statusCode, 403, 'helpdesk cannot read pools')
    const read = await auditor.call({ method: 'GET', url: '/admin/v1/pools' })
    t.equal(read.statusCode, 200, 'auditor reads pools')
    t.match(read.json().pools, [{ id: pool.id, name: pool.name, members: 0 }], 'nothing changed')
    t.equal((await auditor.call({ method: 'GET', url: '/admin/v1/whitelist/mode' })).json().mode, 'all', 'the mode is unchanged')
    t.equal((await auditor.call({ method: 'GET', url: '/admin/v1/whitelist/entries' })).json().entries.length, 0)
  })

  t.test('pools: create, rename, members, delete — each audited with before and after', async (t) => {
    const name = uniqueName('Sales')
    const created = await admin.call({ method: 'POST', url: '/admin/v1/pools', payload: { name } })
    t.equal(created.statusCode, 201)
    const pool = created.json().pool
    const dup = await admin.call({ method: 'POST', url: '/admin/v1/pools', payload: { name: name.toUpperCase() } })
    t.equal(dup.statusCode, 409, 'names are unique regardless of case')
    t.equal(dup.json().code, 'MVM_POOL_EXISTS')
    const [a, b] = [await invite(), await invite()]
    const added = await admin.call({ method: 'POST', url: `/admin/v1/pools/${pool.id}/members`, payload: { userIds: [a.user.id, b.user.id] } })
    t.equal(added.statusCode, 200)
    t.same(added.json().members, [a.user.id, b.user.id].sort())
    const unknown = await admin.call({ method: 'POST', url: `/admin/v1/pools/${pool.id}/members`, payload: { userIds: ['00000000-0000-4000-8000-000000000000'] } })
    t.equal(unknown.statusCode, 404, 'an unknown user is refused')
    const tooMany = await admin.call({ method: 'POST', url: `/admin/v1/pools/${pool.id}/members`, payload: { userIds: Array.from({ length: 1001 }, () => a.user.id) } })
    t.equal(tooMany.statusCode, 400, 'at most 1000 per request')
    const removed = await admin.call({ method: 'DELETE', url: `/admin/v1/pools/${pool.id}/members/${a.user.id}` })
    t.same(removed.json().members, [b.user.id])
    const renamed = await admin.call({ method: 'PATCH', url: `/admin/v1/pools/${pool.id}`, payload: { name: `${name}-2` } })
    t.equal(renamed.json().pool.name, `${name}-2`)
    t.equal((await admin.call({ method: 'DELETE', url: `/admin/v1/pools/${pool.id}` })).statusCode, 200)
    t.equal((await admin.call({ method: 'GET', url: `/admin/v1/pools/${pool.id}` })).statusCode, 404)
    const { rows } = await app.services.db.pool.query('SELECT count(*)::int AS n FROM pool_members WHERE pool_id = $1', [pool.id])
    t.equal(rows[0].n, 0, 'memberships went with the pool')

    t.match(await auditEntries(app, 'pool.created', pool.id), [{ actor_id: admin.id, details: { after: { name } } }])
    t.match((await auditEntries(app, 'pool.updated', pool.id)).slice(0, 3), [
      { details: { before: { members: 0 }, after: { members: 2 }, added: [a.user.id, b.user.id].sort() } },
      { details: { before: { members: 2 }, after: { members: 1 }, removed: [a.user.id] } },
      { details: { before: { name }, after: { name: `${name}-2` } } },
    ])
    t.match(await auditEntries(app, 'pool.deleted', pool.id), [{ details: { before: { name: `${name}-2`, members: 1 }, after: null } }])
    t.match((await auditEntries(app, 'pool.updated', pool.id)).at(-1), { details: { reason: 'pool deleted', removed: [b.user.id] } }, 'the members it had are on record')
  })

  t.test('a pool of 2,500 members: added in requests of 1000, deleted with every member on record', async (t) => {
    const { rows } = await app.services.db.pool.query<{ id: string }>(
      `INSERT INTO users (id, username, username_key, display_name)
       SELECT gen_random_uuid(), 'big' || i, 'big' || i, 'Big ' || i FROM generate_series(1, 2500) AS i RETURNING id`)
    const ids = rows.map((r) => r.id)
    const pool = (await admin.call({ method: 'POST', url: '/admin/v1/pools', payload: { name: uniqueName('big') } })).json().pool
    for (let i = 0; i < ids.length; i += 1000) {
      const res = await admin.call({ method: 'POST', url: `/admin/v1/pools/${pool.id}/members`, payload: { userIds: ids.slice(i, i + 1000) } })
      t.equal(res.statusCode, 200, `members ${i + 1}…${Math.min(i + 1000, ids.length)} added`)
    }
    t.equal((await admin.call({ method: 'DELETE', url: `/admin/v1/pools/${pool.id}/members/${ids[0]}` })).statusCode, 200, 'one removed')
    t.equal((await admin.call({ method: 'DELETE', url: `/admin/v1/pools/${pool.id}` })).statusCode, 200, 'deleted')
    const entries = await auditEntries(app, 'pool.updated', pool.id)
    const removedAtDeletion = entries.filter((e: any) => e.details.reason === 'pool deleted').flatMap((e: any) => e.details.removed)
    t.equal(removedAtDeletion.length, 2499, 'every member the pool had when deleted is on record')
    t.same(new Set(removedAtDeletion), new Set(ids.slice(1)))
    t.match(await auditEntries(app, 'pool.deleted', pool.id), [{ details: { before: { members: 2499 } } }])
  })

  t.test('with the whitelist on, only users whitelisted by id, team or business area enroll and connect', async (t) => {
    const byId = await invite()
    const byTeam = await invite({ team: 'Field Ops' })
    const byArea = await invite({ businessArea: 'Logistics' })
    const nobody = await invite({ team: 'Other', businessArea: 'Elsewhere' })
    const early = await invite()
    const earlyDevice = await enrollDevice(app, early.enrollment.token)
    t.equal((await deviceSession(app, earlyDevice)).status, 200, 'connects while the mode is all')

    const mode = await owner.call({ method: 'PUT', url: '/admin/v1/whitelist/mode', payload: { mode: 'whitelist' } })
    t.equal(mode.statusCode, 200)
    t.match(await auditEntries(app, 'whitelist.updated', 'mode'), [{ details: { before: { mode: 'all' }, after: { mode: 'whitelist' } } }])
    t.equal((await deviceSession(app, earlyDevice)).status, 401, 'a user not whitelisted cannot authenticate')

    for (const u of [byId, byTeam, byArea, nobody]) t.match(await tryEnroll(u.enrollment.token), /enroll answered 401/, 'nobody enrolls before an entry')

    const entries = [
      { kind: 'user', value: byId.user.id },
      { kind: 'team', value: 'Field Ops' },
      { kind: 'business_area', value: 'Logistics' },
    ]
    const ids: string[] = []
    for (const e of entries) {
      const res = await owner.call({ method: 'POST', url: '/admin/v1/whitelist/entries', payload: e })
      t.equal(res.statusCode, 201, `${e.kind} entry`)
      ids.push(res.json().entry.id)
      t.match(await auditEntries(app, 'whitelist.updated', res.json().entry.id), [{ details: { before: null, after: e } }])
    }
    t.equal((await owner.call({ method: 'POST', url: '/admin/v1/whitelist/entries', payload: entries[1] })).statusCode, 409, 'an entry exists once')

    const reissue = async (u: { user: { id: string } }) => (await owner.call({ method: 'POST', url: `/admin/v1/users/${u.user.id}/token` })).json().enrollment.token as string
    for (const [label, u] of [['by user id', byId], ['by team', byTeam], ['by business area', byArea]] as const) {
      const d = await tryEnroll(await reissue(u))
      t.type(d, 'object', `whitelisted ${label}: enrolls`)
      if (typeof d === 'object') t.equal((await deviceSession(app, d)).status, 200, `whitelisted ${label}: connects`)
    }
    t.match(await tryEnroll(await reissue(nobody)), /enroll answered 401/, 'a user in no entry still cannot enroll')

    // moving a user out of the team takes their whitelisting with it
    const teamDevice = (await app.services.db.pool.query('SELECT id FROM devices WHERE user_id = $1', [byTeam.user.id])).rows[0]
    t.ok(teamDevice)
    await owner.call({ method: 'PATCH', url: `/admin/v1/users/${byTeam.user.id}`, payload: { team: 'Other' } })
    t.ok(await soon(async () => !(await app.services.policy.isWhitelisted(byTeam.user.id))), 'a team change is seen within a second')

    const del = await owner.call({ method: 'DELETE', url: `/admin/v1/whitelist/entries/${ids[0]}` })
    t.equal(del.statusCode, 200)
    t.ok(await soon(async () => !(await app.services.policy.isWhitelisted(byId.user.id))), 'removing the entry is seen within a second')
    t.match(await auditEntries(app, 'whitelist.updated', ids[0]), [{}, { details: { before: { kind: 'user' }, after: null } }])

    await owner.call({ method: 'PUT', url: '/admin/v1/whitelist/mode', payload: { mode: 'all' } })
    t.equal((await deviceSession(app, earlyDevice)).status, 200, 'mode all: everyone connects again')
  })
})
