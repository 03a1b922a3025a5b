// GET /admin/v1/audit, GET /admin/v1/audit/export and POST /admin/v1/audit/verify on a gateway
// process over TLS: who may read, filters and half-open periods, pages that neither skip nor repeat
// while entries are appended, export → verify round trips, a changed byte named by its seq, the
// audit.exported entry, and bad input refused with 400.
import t from 'tap'
import { createAdminService } from '#core/admin/admins.ts'
import { createAuditLog, type AppendResult } from '#core/audit/audit-log.ts'
import type { AdminRole } from '#core/admin/roles.ts'
import { freshDatabase } from '../../../test/support/services.ts'
import { startGateway, type Gateway } from '../../../test/support/gateway.ts'
import { database, eventually } from '../../../test/support/attack.ts'
import { httpsRequest, type Answer } from '../../../test/support/operations.ts'

type Call = (method: string, path: string, opts?: { body?: string; headers?: Record<string, string> }) => Promise<Answer>

async function signedIn(gw: Gateway, username: string, password: string): Promise<Call> {
  const login = await httpsRequest(gw, { path: '/admin/v1/login', body: { username, password } })
  if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`)
  const auth = { cookie: String(login.headers['set-cookie']).split(';')[0]!, 'x-csrf-token': login.body.csrfToken as string }
  return (method, path, opts = {}) => httpsRequest(gw, { method, path, ...(opts.body === undefined ? {} : { body: opts.body }), headers: { ...auth, ...opts.headers } })
}

const NDJSON = { 'content-type': 'application/x-ndjson' }
const ALL_TIME = 'from=2000-01-01&to=2100-01-01'

t.test('the audit API', async (t) => {
  const db = await freshDatabase(t)
  const gw = await startGateway(t, db)
  const pool = database(t, db)
  const log = createAuditLog({ pool })
  const accounts = createAdminService({ pool, audit: log })
  const as = async (role: AdminRole) => {
    const { admin, password } = await accounts.create({ username: `${role}-1`, role }, { type: 'system', id: 'test' })
    return { id: admin.id, call: await signedIn(gw, admin.username, password) }
  }
  const auditor = await as('auditor')
  const helpdesk = await as('helpdesk')
  const append = (action: string, i: number, extra: object = {}) =>
    log.append({ actor: { type: i % 2 ? 'admin' : 'system', id: `actor-${i % 3}` }, action, target: { type: 'user', id: `user-${i % 4}` }, details: { i }, ...extra })

  t.test('audit:read is needed: helpdesk is refused, an auditor reads', async (t) => {
    for (const [method, path] of [['GET', '/admin/v1/audit'], ['GET', `/admin/v1/audit/export?${ALL_TIME}`], ['POST', '/admin/v1/audit/verify']] as const) {
      const res = await helpdesk.call(method, path, method === 'POST' ? { body: '', headers: NDJSON } : {})
      t.same([res.status, res.body.code], [403, 'MVM_ADMIN_FORBIDDEN'], `helpdesk: ${method} ${path}`)
    }
    const res = await auditor.call('GET', '/admin/v1/audit')
    t.equal(res.status, 200)
    t.ok(res.body.entries.some((e: any) => e.action === 'admin.login' && e.actorId === auditor.id), 'the sign-ins are there')
    t.equal(res.headers['cache-control'], 'no-store')
  })

  t.test('filters and half-open periods', async (t) => {
    const made: AppendResult[] = []
    for (let i = 0; i < 12; i++) {
      made.push(await append('filter.test', i))
      if (i % 3 === 2) await new Promise((r) => setTimeout(r, 5)) // several distinct times
    }
    const get = async (qs: string) => {
      const res = await auditor.call('GET', `/admin/v1/audit?action=filter.test&limit=500&${qs}`)
      t.equal(res.status, 200, qs)
      return (res.body.entries as any[]).map((e) => e.seq)
    }
    const desc = (r: AppendResult[]) => r.map((m) => m.seq).sort((a, b) => b - a)
    t.same(await get(''), desc(made), 'newest first')
    const from = made[3]!.at
    const to = made[9]!.at
    t.same(await get(`from=${from}&to=${to}`), desc(made.filter((m) => m.at >= from && m.at < to)), 'an entry at `from` is in, one at `to` is out')
    t.ok(made.filter((m) => m.at === to).length > 0 && !(await get(`from=${from}&to=${to}`)).includes(made[9]!.seq), 'the entry at `to` itself is out')
    t.same(await get(`to=${from}`), desc(made.filter((m) => m.at < from)))
    t.same(await get(`from=${to}`), desc(made.filter((m) => m.at >= to)))
    t.same(await get('actorType=admin'), desc(made.filter((_, i) => i % 2 === 1)))
    t.same(await get('targetType=user&targetId=user-1'), desc(made.filter((_, i) => i % 4 === 1)))
    t.same(await get('targetId=user-2&actorType=system'), desc(made.filter((_, i) => i % 4 === 2)))
    const one = (await auditor.call('GET', `/admin/v1/audit?action=filter.test&limit=1`)).body.entries[0]
    t.same(Object.keys(one), ['seq', 'at', 'actorType', 'actorId', 'action', 'targetType', 'targetId', 'sourceIp', 'details', 'prevHash', 'hash'], 'the fields of an export line')
    t.match(one, { seq: made[11]!.seq, at: made[11]!.at, hash: made[11]!.hash, details: { i: 11 }, prevHash: /^[0-9a-f]{64}$/ })
  })

  t.test('pages neither skip nor repeat while entries are appended', async (t) => {
    const first: number[] = []
    for (let i = 0; i < 30; i++) first.push((await append('page.test', i)).seq)
    const seen: number[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const res: Answer = await auditor.call('GET', `/admin/v1/audit?action=page.test&limit=7${cursor ? `&cursor=${cursor}` : ''}`)
      t.equal(res.status, 200)
      seen.push(...res.body.entries.map((e: any) => e.seq))
      cursor = res.body.nextCursor
      pages++
      for (let i = 0; i < 3; i++) await append('page.test', 100 + i) // newer than every page: never in a later one
    } while (cursor)
    t.equal(pages, 5)
    t.same(seen, [...first].reverse(), 'every entry once, newest first')
  })

  t.test('export → verify: intact, then one changed byte names its seq', async (t) => {
    const res = await auditor.call('GET', `/admin/v1/audit/export?${ALL_TIME}`)
    t.equal(res.status, 200)
    t.match(res.headers['content-type'], /^application\/x-ndjson/)
    t.equal(res.headers['content-disposition'], 'attachment; filename="audit-20000101T000000Z-21000101T000000Z.ndjson"')
    const text = res.body as string
    const lines = text.split('\n').slice(0, -1)
    const header = JSON.parse(lines[0]!)
    t.match(header, { mvmAuditExport: 1, from: '2000-01-01T00:00:00.000Z', to: '2100-01-01T00:00:00.000Z', filters: {}, firstSeq: 1 })
    const entries = lines.slice(1).map((l) => JSON.parse(l))
    t.ok(entries.length > 60, `${entries.length} entries`)
    const last = entries.at(-1)

    const ok = await auditor.call('POST', '/admin/v1/audit/verify', { body: text, headers: NDJSON })
    t.equal(ok.status, 200)
    t.same(ok.body, { ok: true, entries: entries.length, firstBroken: null, lastSeq: last.seq, lastHash: last.hash, links: 'checked' })

    t.ok(await eventually(async () => (await pool.query("SELECT 1 FROM audit_entries WHERE action = 'audit.exported'")).rowCount === 1), 'the export is recorded')
    const { rows: [exported] } = await pool.query("SELECT actor_type, actor_id, details FROM audit_entries WHERE action = 'audit.exported'")
    t.match(exported, { actor_type: 'admin', actor_id: auditor.id, details: { via: 'api', format: 'ndjson', complete: true, count: entries.length, firstSeq: 1, lastSeq: last.seq, lastHash: last.hash } })

    const victim = entries[Math.floor(entries.length / 2)]
    const lineNo = lines.findIndex((l) => l.startsWith(`{"seq":${victim.seq},`))
    const changed = [...lines]
    changed[lineNo] = changed[lineNo]!.replace(`"actorId":"${victim.actorId}"`, `"actorId":"${victim.actorId.slice(0, -1)}${victim.actorId.endsWith('x') ? 'y' : 'x'}"`)
    t.equal(changed[lineNo]!.length, lines[lineNo]!.length, 'one byte changed')
    const broken = await auditor.call('POST', '/admin/v1/audit/verify', { body: changed.join('\n') + '\n', headers: { 'content-type': 'application/x-ndjson; charset=utf-8' } })
    t.equal(broken.status, 200)
    t.match(broken.body, { ok: false, entries: lineNo - 1, firstBroken: { seq: victim.seq, line: lineNo + 1, reason: /hash does not match/ }, lastSeq: victim.seq - 1, lastHash: victim.prevHash })

    const removed = lines.filter((_, i) => i !== lineNo).join('\n') + '\n'
    t.match((await auditor.call('POST', '/admin/v1/audit/verify', { body: removed, headers: NDJSON })).body, { ok: false, firstBroken: { seq: victim.seq, reason: /missing/ } }, 'a removed line names the missing seq')
    const garbled = [...lines.slice(0, 3), 'not json', ...lines.slice(3)].join('\n')
    t.match((await auditor.call('POST', '/admin/v1/audit/verify', { body: garbled, headers: NDJSON })).body, { ok: false, entries: 2, firstBroken: { line: 4, reason: /not valid JSON/ } })
  })

  t.test('filtered and CSV exports', async (t) => {
    const filtered = await auditor.call('GET', `/admin/v1/audit/export?${ALL_TIME}&action=page.test&actorType=admin`)
    const lines = (filtered.body as string).split('\n').slice(0, -1)
    t.same(JSON.parse(lines[0]!).filters, { action: 'page.test', actorType: 'admin' })
    t.ok(lines.slice(1).every((l) => l.includes('"actorType":"admin"') && l.includes('"action":"page.test"')))
    const verified = await auditor.call('POST', '/admin/v1/audit/verify', { body: filtered.body, headers: NDJSON })
    t.match(verified.body, { ok: true, entries: lines.length - 1, links: 'unchecked' })

    const csv = await auditor.call('GET', `/admin/v1/audit/export?${ALL_TIME}&format=csv&action=filter.test`)
    t.equal(csv.status, 200)
    t.match(csv.headers['content-type'], /^text\/csv/)
    t.match(csv.headers['content-disposition'], /filename="audit-20000101T000000Z-21000101T000000Z\.csv"/)
    const rows = (csv.body as string).split('\r\n')
    t.equal(rows[0], 'seq,at,actor_type,actor_id,action,target_type,target_id,source_ip,details,prev_hash,hash')
    t.equal(rows.length, 1 + 12 + 1, 'a header, 12 rows and the last line end')
  })

  t.test('bad input is refused with 400', async (t) => {
    for (const qs of ['from=2025-02-30', 'from=2025-13-01', 'to=2025-01-01T24:00:00Z', 'from=yesterday', 'from=2025-01-01T10:00:00',
      'from=2025-03-01&to=2025-03-01', 'from=2025-03-02&to=2025-03-01', 'limit=0', 'limit=501', 'limit=1000000', 'limit=ten',
      'cursor=abc', 'cursor=0', 'actorType=robot', 'action=Not-An-Action', 'sort=seq', `targetId=${'x'.repeat(257)}`]) {
      const res = await auditor.call('GET', `/admin/v1/audit?${qs}`)
      t.same([res.status, res.body.code], [400, 'MVM_REQUEST_INVALID'], `GET /audit?${qs}`)
    }
    for (const qs of ['', 'from=2025-01-01', 'to=2025-01-01', 'from=2025-02-01&to=2025-01-01', `${ALL_TIME}&format=xml`, `${ALL_TIME}&limit=5`]) {
      const res = await auditor.call('GET', `/admin/v1/audit/export?${qs}`)
      t.same([res.status, res.body.code], [400, 'MVM_REQUEST_INVALID'], `GET /audit/export?${qs}`)
    }
    const line = '{"mvmAuditExport":1}\n'
    for (const type of ['application/json', 'text/csv', 'text/plain', 'application/octet-stream']) {
      const res = await auditor.call('POST', '/admin/v1/audit/verify', { body: type === 'application/json' ? '{}' : line, headers: { 'content-type': type } })
      t.same([res.status, res.body.code], [400, 'MVM_REQUEST_INVALID'], `verify with ${type}`)
    }
    t.same((await auditor.call('POST', '/admin/v1/audit/verify')).status, 400, 'verify without a body')
    const empty = await auditor.call('POST', '/admin/v1/audit/verify', { body: '', headers: NDJSON })
    t.match(empty.body, { ok: false, entries: 0, firstBroken: { seq: null, line: 1, reason: /empty file/ } }, 'an empty upload is no export')
  })

  t.test('an upload over 1 GiB is refused before it is read', async (t) => {
    const res = await auditor.call('POST', '/admin/v1/audit/verify', { body: '', headers: { ...NDJSON, 'content-length': String(1024 ** 3 + 1) } }).catch((err: Error) => err)
    if (res instanceof Error) t.fail(`request failed: ${res.message}`)
    else t.same([res.status, res.body.code], [413, 'MVM_AUDIT_UPLOAD_TOO_LARGE'])
  })
})
