// GET /admin/v1/users filters: pool, team, business area, whitelisted, last seen (half-open
// [after, before), never-seen users matched by neither), combined with status and q; pages stay a
// keyset under a filter; bad values are refused with 400; GET /users/count counts what the list selects.
import t from 'tap'
import { build } from '../helper.ts'
import { adminAs, uniqueName } from './support.ts'

t.test('user list filters', async (t) => {
  const { app } = await build(t)
  const { pool } = app.services.db
  const owner = await adminAs(app, 'owner')
  const tag = uniqueName('uf')
  const add = async (name: string, extra: { team?: string; businessArea?: string; lastSeen?: string | null; status?: string } = {}) => {
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO users (id, username, username_key, display_name, team, business_area, last_seen_at, status)
       VALUES (gen_random_uuid(), $1, $1, $1, $2, $3, $4, $5::user_status) RETURNING id`,
      [`${tag}-${name}`, extra.team ?? null, extra.businessArea ?? null, extra.lastSeen ?? null, extra.status ?? 'active'])
    return rows[0]!.id
  }
  const ids = {
    ann: await add('ann', { team: 'R&D', businessArea: 'North', lastSeen: '2025-03-01T00:00:00Z' }),
    ben: await add('ben', { team: 'R&D', businessArea: 'South', lastSeen: '2025-03-02T00:00:00Z', status: 'locked' }),
    cat: await add('cat', { team: 'Sales', businessArea: 'North', lastSeen: '2025-03-03T00:00:00.500Z' }),
    dan: await add('dan', { team: 'Sales', lastSeen: null }),
  }
  const name = Object.fromEntries(Object.entries(ids).map(([k, v]) => [v, k]))
  const list = async (qs: Record<string, string>) => {
    const res = await owner.call({ method: 'GET', url: `/admin/v1/users?${new URLSearchParams({ q: tag, ...qs })}` })
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
    return res.json().users.map((u: any) => name[u.id])
  }

  t.test('team and business area match exactly, after NFKC', async (t) => {
    t.same(await list({ team: 'R&D' }), ['ann', 'ben'])
    t.same(await list({ team: 'Ｒ＆Ｄ' }), ['ann', 'ben'], 'full-width forms are the same team')
    t.same(await list({ team: 'r&d' }), [], 'exact, not case-folded')
    t.same(await list({ team: 'R' }), [], 'not a substring')
    t.same(await list({ businessArea: 'North' }), ['ann', 'cat'])
    t.same(await list({ businessArea: 'North', team: 'Sales' }), ['cat'], 'filters combine')
    t.same(await list({ team: 'R&D', status: 'locked' }), ['ben'], 'with status')
  })

  t.test('pool members', async (t) => {
    const p = (await owner.call({ method: 'POST', url: '/admin/v1/pools', payload: { name: tag } })).json().pool.id
    await owner.call({ method: 'POST', url: `/admin/v1/pools/${p}/members`, payload: { userIds: [ids.ben, ids.dan] } })
    t.same(await list({ pool: p }), ['ben', 'dan'])
    t.same(await list({ pool: '00000000-0000-4000-8000-000000000000' }), [], 'an unknown pool has no members')
  })

  t.test('whitelisted: by user, team or business area entry, whatever the mode', async (t) => {
    t.same(await list({ whitelisted: 'true' }), [])
    t.same(await list({ whitelisted: 'false' }), ['ann', 'ben', 'cat', 'dan'])
    await owner.call({ method: 'POST', url: '/admin/v1/whitelist/entries', payload: { kind: 'user', value: ids.dan } })
    await owner.call({ method: 'POST', url: '/admin/v1/whitelist/entries', payload: { kind: 'business_area', value: 'South' } })
    t.same(await list({ whitelisted: 'true' }), ['ben', 'dan'], 'mode is all: entries still decide the filter')
    t.same(await list({ whitelisted: 'false' }), ['ann', 'cat'])
    await owner.call({ method: 'POST', url: '/admin/v1/whitelist/entries', payload: { kind: 'team', value: 'Sales' } })
    t.same(await list({ whitelisted: 'true' }), ['ben', 'cat', 'dan'])
  })

  t.test('last seen: [after, before), never seen matched by neither', async (t) => {
    t.same(await list({ lastSeenAfter: '2025-03-02T00:00:00Z' }), ['ben', 'cat'], 'after is inclusive')
    t.same(await list({ lastSeenBefore: '2025-03-02T00:00:00Z' }), ['ann'], 'before is exclusive')
    t.same(await list({ lastSeenBefore: '2025-03-03T00:00:00.500Z' }), ['ann', 'ben'], 'to the millisecond')
    t.same(await list({ lastSeenBefore: '2025-03-03T00:00:00.501Z' }), ['ann', 'ben', 'cat'])
    t.same(await list({ lastSeenAfter: '2025-03-01T00:00:00Z', lastSeenBefore: '2025-03-03T00:00:00Z' }), ['ann', 'ben'])
    t.same(await list({ lastSeenAfter: '1970-01-01T00:00:00Z' }), ['ann', 'ben', 'cat'], 'dan was never seen')
    t.same(await list({ lastSeenBefore: '2999-01-01T00:00:00Z' }), ['ann', 'ben', 'cat'])
  })

  t.test('pages under a filter neither skip nor repeat while users are added', async (t) => {
    const p = (await owner.call({ method: 'POST', url: '/admin/v1/pools', payload: { name: `${tag}-pages` } })).json().pool.id
    await pool.query(`INSERT INTO users (id, username, username_key, display_name, team)
      SELECT gen_random_uuid(), $1 || '-p' || lpad(i::text, 3, '0'), $1 || '-p' || lpad(i::text, 3, '0'), 'x', CASE WHEN i % 2 = 0 THEN 'Even' ELSE 'Odd' END
      FROM generate_series(1, 120) i`, [tag])
    await pool.query(`INSERT INTO pool_members (pool_id, user_id) SELECT $1, id FROM users WHERE username_key LIKE $2`, [p, `${tag}-p%`])
    const expected = (await pool.query(`SELECT u.id FROM users u JOIN pool_members m ON m.user_id = u.id AND m.pool_id = $1 WHERE u.team = 'Even' ORDER BY u.username_key, u.id`, [p])).rows.map((r) => r.id)
    const seen: string[] = []
    let cursor: string | null = null
    let i = 0
    do {
      const res = await owner.call({ method: 'GET', url: `/admin/v1/users?pool=${p}&team=Even&limit=7${cursor ? `&cursor=${cursor}` : ''}` })
      t.equal(res.statusCode, 200)
      seen.push(...res.json().users.map((u: any) => u.id))
      cursor = res.json().nextCursor
      // members that match, added before and after the reader's position, are not part of `expected`
      const { rows } = await pool.query<{ id: string }>(`INSERT INTO users (id, username, username_key, display_name, team)
        VALUES (gen_random_uuid(), $1, $1, 'x', 'Even'), (gen_random_uuid(), $2, $2, 'x', 'Even') RETURNING id`, [`${tag}-p000-${i}`, `${tag}-p999-${i++}`])
      await pool.query('INSERT INTO pool_members (pool_id, user_id) SELECT $1, unnest($2::uuid[])', [p, rows.map((r) => r.id)])
    } while (cursor)
    t.equal(new Set(seen).size, seen.length, 'no user twice')
    t.same(expected.filter((id) => !seen.includes(id)), [], 'every matching user present throughout was listed')
    t.ok(seen.length >= expected.length)
  })

  t.test('bad filter values are refused', async (t) => {
    for (const qs of [
      'pool=nope', 'team=', `team=${'x'.repeat(129)}`, 'businessArea=a%00b', 'whitelisted=yes', 'whitelisted=1',
      'lastSeenBefore=2025-03-01', 'lastSeenBefore=2025-03-01T00:00:00', 'lastSeenAfter=2025-03-01T00:00:00%2B01:00',
      'lastSeenAfter=2025-02-30T00:00:00Z', 'lastSeenAfter=0000-01-01T00:00:00Z', 'lastSeenBefore=2025-03-01T24:00:00Z', 'lastSeenAfter=yesterday',
    ]) {
      const res = await owner.call({ method: 'GET', url: `/admin/v1/users?${qs}` })
      t.same([res.statusCode, res.json().code], [400, 'MVM_REQUEST_INVALID'], qs)
    }
  })

  t.test('GET /users/count: how many the same filter selects, without paging', async (t) => {
    const count = async (qs: Record<string, string>, caller = owner) => {
      const res = await caller.call({ method: 'GET', url: `/admin/v1/users/count?${new URLSearchParams({ q: tag, ...qs })}` })
      if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
      return res.json().count as number
    }
    /** every page of the list under the filter */
    const listed = async (qs: Record<string, string>) => {
      let n = 0
      let cursor = ''
      do {
        const res = await owner.call({ method: 'GET', url: `/admin/v1/users?${new URLSearchParams({ q: tag, ...qs, limit: '50', ...(cursor ? { cursor } : {}) })}` })
        n += res.json().users.length
        cursor = res.json().nextCursor ?? ''
      } while (cursor)
      return n
    }
    const filters: Record<string, string>[] = [{}, { team: 'R&D' }, { team: 'Even' }, { status: 'locked' }, { whitelisted: 'false', status: 'active' }, { whitelisted: 'true' },
      { lastSeenAfter: '2025-03-02T00:00:00Z', lastSeenBefore: '2025-03-03T00:00:00.501Z' }]
    for (const qs of filters) {
      t.equal(await count(qs), await listed(qs), `as many as the list: ${JSON.stringify(qs)}`)
    }
    const total = Number((await pool.query('SELECT count(*) FROM users WHERE username_key LIKE $1', [`${tag}-%`])).rows[0].count)
    t.ok(total > 50, `${total} users: more than one page of the list`)
    t.equal(await count({}), total, 'every user of the test, past the page size')
    t.equal(await count({ team: 'Nobody' }), 0)
    const auditor = await adminAs(app, 'auditor')
    t.equal(await count({ team: 'R&D' }, auditor), 2, 'users:read is enough (an auditor)')
    for (const qs of ['limit=10', 'cursor=abc', 'whitelisted=yes', 'lastSeenBefore=2025-03-01', 'lastSeenAfter=0000-01-01T00:00:00Z', 'team=', 'nope=1']) {
      const res = await owner.call({ method: 'GET', url: `/admin/v1/users/count?${qs}` })
      t.same([res.statusCode, res.json().code], [400, 'MVM_REQUEST_INVALID'], qs)
    }
    t.equal((await app.inject({ method: 'GET', url: '/admin/v1/users/count' })).statusCode, 401, 'not without signing in')
  })
})
