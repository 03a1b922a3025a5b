// The audit log against a real PostgreSQL: appends chain without gaps under concurrency and inside
// callers' transactions, the table refuses changes, exports honour their period, and every kind of
// tampering with an export (or with the table behind the triggers' back) names the entry.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { createDb } from '../../db/client.ts'
import {
  AuditEventError, createAuditLog, neutraliseCell, verifyChain, verifyExport,
  type AuditEvent, type ExportedEntry,
} from '../audit-log.ts'
import { buildChain, collect, documentedHash, freshPool, insertEntries } from './chain-fixture.ts'

const ZERO = '0'.repeat(64)
const login = (i: number): AuditEvent => ({
  actor: { type: 'admin', id: `admin-${i}` }, action: 'admin.login', sourceIp: '192.0.2.10', details: { method: 'password', n: i },
})

async function rows(pool: pg.Pool): Promise<ExportedEntry[]> {
  const log = createAuditLog({ pool })
  const out: ExportedEntry[] = []
  for await (const e of log.entries({ from: new Date(0), to: new Date('2999-01-01Z') })) out.push(e)
  return out
}

t.test('the first entry is seq 1 on 32 zero bytes, hashed as documented and timed by the database clock', async (t) => {
  const { pool } = await freshPool(t)
  const log = createAuditLog({ pool })
  const before = (await pool.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now
  const first = await log.append({
    actor: { type: 'admin', id: '6f1c9b8e-1f7a-4c1e-9a55-0c1d2e3f4a5b' }, action: 'user.lock', target: { type: 'user', id: 'alice' },
    sourceIp: '2001:db8::7', details: { before: { status: 'active' }, after: { status: 'locked' }, reason: 'lost phone', skip: undefined },
  })
  const after = (await pool.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now
  t.equal(first.seq, 1)
  t.match(first.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
  t.ok(Date.parse(first.at) >= before.getTime() - 1 && Date.parse(first.at) <= after.getTime(), 'at is the database clock at append')
  const second = await log.append({ actor: { type: 'system', id: null }, action: 'admin.login_failed', details: { reason: 'bad_password' } })
  t.equal(second.seq, 2)
  t.ok(second.at >= first.at, 'at never goes back')

  const [e1, e2] = await rows(pool)
  t.equal(e1!.at, first.at, 'the stored at is the hashed at (ms precision)')
  t.equal(e1!.prevHash, ZERO)
  t.same(e1!.details, { after: { status: 'locked' }, before: { status: 'active' }, reason: 'lost phone' }, 'undefined properties are left out')
  t.equal(e1!.hash, first.hash)
  t.equal(documentedHash(e1!), first.hash, 'an independent implementation of the documented encoding agrees')
  t.equal(e2!.prevHash, first.hash, 'the second entry links to the first')
  t.equal(documentedHash(e2!), second.hash)
  t.same(await log.head(), { seq: 2, at: second.at, hash: second.hash })
  t.match(await log.verifyDatabase(), { ok: true, count: 2, lastHash: second.hash, links: 'checked' })
})

t.test('append refuses malformed events and writes nothing', async (t) => {
  const { pool } = await freshPool(t)
  const log = createAuditLog({ pool })
  const base = login(1)
  const cases: [string, AuditEvent, RegExp][] = [
    ['unknown actor type', { ...base, actor: { type: 'robot' as 'admin', id: 'x' } }, /actor\.type/],
    ['empty actor id', { ...base, actor: { type: 'admin', id: '' } }, /actor\.id/],
    ['control character in an id', { ...base, target: { type: 'user', id: 'a\nb' } }, /target\.id contains control/],
    ['action not area.verb', { ...base, action: 'Login' }, /action must look like area\.verb/],
    ['target type with capitals', { ...base, target: { type: 'User', id: 'u' } }, /target\.type/],
    ['source ip that is no IP', { ...base, sourceIp: 'localhost' }, /sourceIp/],
    ['a fraction in details', { ...base, details: { ratio: 0.5 } }, /details\.ratio: number 0\.5/],
    ['a Map in details', { ...base, details: { m: new Map() } }, /details\.m: Map is not plain JSON/],
    ['an invalid Date in details', { ...base, details: { when: new Date('x') } }, /details\.when: Date is not plain JSON/],
    ['a BigInt in details', { ...base, details: { big: 1n } }, /details\.big: bigint is not JSON/],
    ['undefined in an array', { ...base, details: { list: [1, undefined] } }, /details\.list\[1\]: is undefined/],
    ['details that are an array', { ...base, details: [] as unknown as Record<string, unknown> }, /details must be a JSON object/],
  ]
  for (const [name, event, message] of cases) {
    await t.rejects(log.append(event), AuditEventError, name)
    await t.rejects(log.append(event), { message }, `${name}: the message says what is wrong`)
  }
  t.equal((await pool.query('SELECT count(*)::int AS n FROM audit_entries')).rows[0].n, 0, 'nothing was written')

  // Text quoted from a client is mended, not refused: a failed sign-in must still be logged.
  const mended = await log.append({ ...base, details: { username: 'ev\u0000il\ud800', when: new Date('2025-03-01T09:30:00.123Z'), ['k\u0000']: 1 } })
  const [stored] = await rows(pool)
  t.same(stored!.details, { username: 'ev\ufffdil\ufffd', when: '2025-03-01T09:30:00.123Z', 'k\ufffd': 1 }, 'U+0000 and lone surrogates become U+FFFD, a Date its ISO string')
  t.equal(documentedHash(stored!), mended.hash, 'and the stored form is what was hashed')
})

t.test('200 appends from 20 parallel connections form a gap-free chain that verifies', async (t) => {
  const { pool } = await freshPool(t, 20)
  const log = createAuditLog({ pool })
  const started = Date.now()
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(login(i))))
  t.comment(`200 appends over 20 connections in ${Date.now() - started} ms`)
  t.same(results.map((r) => r.seq).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1), 'seq 1..200, each once')
  const { rows: [stats] } = await pool.query('SELECT count(*)::int AS n, min(seq)::int AS lo, max(seq)::int AS hi, count(DISTINCT prev_hash)::int AS links FROM audit_entries')
  t.same(stats, { n: 200, lo: 1, hi: 200, links: 200 }, 'no gaps, every prev_hash distinct')
  const result = await log.verifyDatabase({ batchSize: 37 })
  t.match(result, { ok: true, count: 200, firstSeq: 1, lastSeq: 200, links: 'checked' })
  t.equal(result.ok && result.lastHash, results.find((r) => r.seq === 200)!.hash)
})

t.test("append inside the caller's transaction commits and rolls back with the action", async (t) => {
  const { pool } = await freshPool(t, 4)
  const log = createAuditLog({ pool })
  await pool.query('CREATE TABLE locks_done (user_id text)')
  const client = await pool.connect()
  t.teardown(() => client.release())

  await client.query('BEGIN')
  await client.query("INSERT INTO locks_done VALUES ('rolled-back')")
  t.equal((await log.append({ ...login(0), action: 'user.lock' }, client)).seq, 1)
  await client.query('ROLLBACK')
  t.equal((await pool.query('SELECT count(*)::int AS n FROM audit_entries')).rows[0].n, 0, 'rolled back with the action')

  await client.query('BEGIN')
  await client.query("INSERT INTO locks_done VALUES ('kept')")
  const inTx = await log.append({ ...login(1), action: 'user.lock' }, client)
  t.equal(inTx.seq, 1, 'the rolled-back seq is reused: no gap')
  // A concurrent append waits for the lock, then chains after the caller's entry.
  let concurrentDone = false
  const concurrent = log.append(login(2)).then((r) => { concurrentDone = true; return r })
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.notOk(concurrentDone, 'a concurrent append waits while the transaction holds the log')
  await client.query('COMMIT')
  t.equal((await concurrent).seq, 2)
  t.same((await pool.query('SELECT user_id FROM locks_done')).rows, [{ user_id: 'kept' }])
  t.match(await log.verifyDatabase(), { ok: true, count: 2 })

  await t.rejects(log.append(login(3), client), { message: /inside a transaction/ }, 'a client outside a transaction is refused')
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
  await t.rejects(log.append(login(3), client), { message: /READ COMMITTED/ }, 'a REPEATABLE READ snapshot could be older than the lock')
  await client.query('ROLLBACK')
  await client.query('BEGIN')
  await t.rejects(log.append({ ...login(4), sourceIp: 'nope' }, client), AuditEventError)
  t.equal((await log.append(login(4), client)).seq, 3, 'the transaction is still usable after a refused event')
  await client.query('COMMIT')
  t.match(await log.verifyDatabase(), { ok: true, count: 3 })
})

t.test('appendMany: entries in the order given, chained after concurrent appends, all or none', async (t) => {
  const { pool } = await freshPool(t, 6)
  const log = createAuditLog({ pool })
  await log.append(login(0))
  const client = await pool.connect()
  t.teardown(() => client.release())

  await client.query('BEGIN')
  const batch = await log.appendMany(Array.from({ length: 300 }, (_, i) => ({ ...login(i + 1), action: 'user.lock' as const, target: { type: 'user', id: randomUUID() } })), client)
  t.same(batch.map((r) => r.seq), Array.from({ length: 300 }, (_, i) => i + 2), 'seq 2..301 in the order given')
  t.equal(new Set(batch.map((r) => r.at)).size, 1, 'one clock reading for the batch')
  let concurrentDone = false
  const concurrent = log.append(login(999)).then((r) => { concurrentDone = true; return r })
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.notOk(concurrentDone, 'a concurrent append waits while the batch\'s transaction holds the log')
  await client.query('COMMIT')
  t.equal((await concurrent).seq, 302, 'and chains after the batch')
  const entries = await rows(pool)
  t.same(entries.slice(1, 301).map((e) => e.details.n), Array.from({ length: 300 }, (_, i) => i + 1), 'stored in the order given')
  t.match(await log.verifyDatabase({ batchSize: 64 }), { ok: true, count: 302 })

  await client.query('BEGIN')
  await t.rejects(log.appendMany([login(1), { ...login(2), sourceIp: 'nope' }], client), AuditEventError, 'one bad event refuses the batch')
  t.same(await log.appendMany([], client), [], 'nothing to append: nothing written')
  const after = await log.appendMany([login(3), login(4)], client)
  t.same(after.map((r) => r.seq), [303, 304], 'the transaction is still usable after a refused batch')
  await client.query('ROLLBACK')
  t.equal((await pool.query('SELECT count(*)::int AS n FROM audit_entries')).rows[0].n, 302, 'rolled back with the caller')
  await t.rejects(log.appendMany([login(5)], client), { message: /inside a transaction/ }, 'a client outside a transaction is refused')
  t.match(await log.verifyDatabase(), { ok: true, count: 302 })
})

t.test("append inside Prisma's interactive transaction commits and rolls back with the action", async (t) => {
  const { url, pool } = await freshPool(t, 2)
  const db = createDb(url, { poolSize: 2 })
  t.teardown(() => db.close())
  const log = createAuditLog({ pool: db.pool })
  const addUser = (tx: Parameters<Parameters<typeof db.prisma.$transaction>[0]>[0], name: string) =>
    tx.user.create({ data: { id: randomUUID(), username: name, usernameKey: name, displayName: name } })

  const kept = await db.prisma.$transaction(async (tx) => {
    const user = await addUser(tx, 'alice')
    return log.append({ actor: { type: 'admin', id: 'root' }, action: 'user.created', target: { type: 'user', id: user.id } }, tx)
  })
  t.equal(kept.seq, 1)
  await t.rejects(db.prisma.$transaction(async (tx) => {
    await addUser(tx, 'bob')
    await log.append({ actor: { type: 'admin', id: 'root' }, action: 'user.created', target: { type: 'user', id: 'bob' } }, tx)
    throw new Error('the action failed after its entry was written')
  }), /the action failed/)
  t.same((await db.prisma.user.findMany()).map((u) => u.username), ['alice'], 'only the committed action')
  t.same((await rows(pool)).map((e) => e.seq), [1], 'only its entry')
  t.equal((await log.append(login(1))).seq, 2, 'no gap after the rolled-back entry')
  await t.rejects(log.append(login(2), db.prisma), { message: /inside a transaction/ }, 'the PrismaClient itself is no transaction')
  await t.rejects(db.prisma.$transaction(async (tx) => log.append(login(3), tx), { isolationLevel: 'Serializable' }), { message: /READ COMMITTED/ })
  t.match(await log.verifyDatabase(), { ok: true, count: 2 })
})

t.test('UPDATE, DELETE and TRUNCATE on audit_entries are refused', async (t) => {
  const { pool } = await freshPool(t)
  const log = createAuditLog({ pool })
  await log.append(login(1))
  for (const [op, sql] of [
    ['UPDATE', "UPDATE audit_entries SET details = '{\"n\":2}' WHERE seq = 1"],
    ['DELETE', 'DELETE FROM audit_entries WHERE seq = 1'],
    ['TRUNCATE', 'TRUNCATE audit_entries'],
  ] as const) {
    await t.rejects(pool.query(sql), { code: '42501', message: `audit_entries is append-only: ${op} refused` }, op)
  }
  t.match(await log.verifyDatabase(), { ok: true, count: 1 }, 'the entry is untouched')
})

t.test('export: the period is half-open [from, to) in UTC and an unfiltered range checks its links', async (t) => {
  const { pool } = await freshPool(t)
  const log = createAuditLog({ pool })
  const base = Date.parse('2025-03-01T00:00:00.000Z')
  // 10 entries: two share a millisecond at the lower boundary, two at the upper one.
  const offsets = [0, 1, 999, 1000, 1000, 1500, 1999, 2000, 2000, 2001]
  const chain = [...buildChain(offsets.map((ms, i) => ({ at: new Date(base + ms), actorId: `a${i}` })))]
  await insertEntries(pool, chain)
  const from = new Date(base + 1000)
  const to = new Date(base + 2000)

  const got = []
  for await (const e of log.entries({ from, to, batchSize: 2 })) got.push(e.seq)
  t.same(got, [4, 5, 6, 7], 'both entries at `from` are in, both at `to` are out')
  const text = await collect(log.exportEntries({ from, to, batchSize: 3 }))
  const lines = text.trimEnd().split('\n')
  t.same(JSON.parse(lines[0]!), { mvmAuditExport: 1, from: from.toISOString(), to: to.toISOString(), filters: {}, firstSeq: 4, lastSeq: 7 })
  t.same(lines.slice(1).map((l) => JSON.parse(l).seq), [4, 5, 6, 7])
  t.same(JSON.parse(lines[1]!), chain[3], 'a line carries every field of the entry')
  const result = await verifyExport([text])
  t.match(result, { ok: true, count: 4, links: 'checked', firstSeq: 4, lastSeq: 7, firstPrevHash: chain[2]!.hash, lastHash: chain[6]!.hash },
    'a range that does not start at seq 1 verifies from its first prev_hash')

  // The same instants written with an offset are the same period.
  const offsetFrom = new Date('2025-03-01T01:00:01.000+01:00')
  t.same(offsetFrom.getTime(), from.getTime())
  t.same((await collect(log.exportEntries({ from: offsetFrom, to }))).split('\n').length, lines.length + 1)
  t.equal(await collect(log.exportEntries({ from: to, to: new Date(base + 2001) })).then((s) => s.split('\n').filter(Boolean).length), 3, 'from is inclusive: seq 8, 9')
  const empty = await collect(log.exportEntries({ from: new Date(base + 3000), to: new Date(base + 4000) }))
  t.same(JSON.parse(empty), { mvmAuditExport: 1, from: new Date(base + 3000).toISOString(), to: new Date(base + 4000).toISOString(), filters: {}, firstSeq: null, lastSeq: null })
  t.match(await verifyExport([empty]), { ok: true, count: 0 })
  await t.rejects(async () => log.exportEntries({ from: new Date('x'), to }), AuditEventError)
})

t.test('a filtered export verifies each hash and reports its links unchecked', async (t) => {
  const { pool } = await freshPool(t)
  const log = createAuditLog({ pool })
  for (let i = 0; i < 12; i++) {
    await log.append({ actor: { type: i % 3 === 0 ? 'device' : 'admin', id: `x${i}` }, action: i % 2 ? 'user.lock' : 'device.auth_failed', target: { type: 'user', id: i % 4 === 0 ? 'bob' : 'eve' } })
  }
  const period = { from: new Date(Date.now() - 60_000), to: new Date(Date.now() + 60_000) }
  const text = await collect(log.exportEntries({ ...period, actorType: 'device', batchSize: 2 }))
  const lines = text.trimEnd().split('\n')
  t.same(JSON.parse(lines[0]!).filters, { actorType: 'device' })
  t.same(lines.slice(1).map((l) => JSON.parse(l).seq), [1, 4, 7, 10])
  const result = await verifyExport([text])
  t.match(result, { ok: true, count: 4, links: 'unchecked' })

  const byTarget = await collect(log.exportEntries({ ...period, targetType: 'user', targetId: 'bob', format: 'csv' }))
  t.equal(byTarget.trimEnd().split('\r\n').length, 1 + 3, 'seq 1, 5, 9 in CSV')
  t.match(await verifyExport([byTarget], { filtered: true }), { ok: true, count: 3, links: 'unchecked' })
  t.match(await verifyExport([byTarget]), { ok: false, brokenSeq: 2 }, 'a filtered CSV verified as a chain shows the gap')

  const tampered = text.replace('"actorId":"x3"', '"actorId":"x5"')
  t.match(await verifyExport([tampered]), { ok: false, brokenSeq: 4, reason: /hash does not match/ }, 'a changed entry in a filtered export is named')
  const smuggled = lines.slice(0, 2).join('\n') + '\n' + [...buildChain([{ at: new Date(), actorType: 'admin' }], { seq: 1, hash: Buffer.from(JSON.parse(lines[1]!).hash, 'hex') })]
    .map((e) => JSON.stringify(e)).join('\n')
  t.match(await verifyExport([smuggled]), { ok: false, brokenSeq: 2, reason: /does not match the export's filter/ }, 'an entry outside the filter is refused')
})

t.test('changing an exported NDJSON entry makes verification name it', async (t) => {
  const { pool } = await freshPool(t)
  const log = createAuditLog({ pool })
  for (let i = 0; i < 8; i++) await log.append({ ...login(i), target: { type: 'user', id: `u${i}` } })
  const text = await collect(log.exportEntries({ from: new Date(Date.now() - 60_000), to: new Date(Date.now() + 60_000) }))
  const lines = text.trimEnd().split('\n') // [header, seq 1 … seq 8]
  t.match(await verifyExport([text]), { ok: true, count: 8, links: 'checked' })
  const join = (ls: string[]) => ls.join('\n') + '\n'
  const edit = (seq: number, fn: (line: string) => string) => join(lines.map((l, i) => (i === seq ? fn(l) : l)))
  const flipHex = (hex: string) => hex.slice(0, 10) + (hex[10] === 'a' ? 'b' : 'a') + hex.slice(11)

  const cases: [string, string, number, RegExp][] = [
    ['one byte in details', edit(3, (l) => l.replace('"n":2', '"n":3')), 3, /hash does not match/],
    ['one byte in at', edit(5, (l) => l.replace(/("at":"[^"]*)(\d)(Z")/, (_, a: string, d: string, z: string) => `${a}${d === '9' ? 0 : 9}${z}`)), 5, /hash does not match|earlier than/],
    ['one byte in the hash', edit(4, (l) => l.replace(/"hash":"([0-9a-f]{64})"/, (_, h: string) => `"hash":"${flipHex(h)}"`)), 4, /hash does not match/],
    ['one byte in prevHash', edit(6, (l) => l.replace(/"prevHash":"([0-9a-f]{64})"/, (_, h: string) => `"prevHash":"${flipHex(h)}"`)), 6, /prev_hash does not match the hash of seq 5/],
    ['the actor', edit(2, (l) => l.replace('admin-1', 'admin-9')), 2, /hash does not match/],
    ['a removed line', join(lines.filter((_, i) => i !== 4)), 4, /entry 4 is missing or out of order: seq 5 follows seq 3/],
    ['the removed first line', join(lines.filter((_, i) => i !== 1)), 1, /entry 1 is missing: the export should start at seq 1/],
    ['the removed last line', join(lines.slice(0, -1)), 8, /entry 8 is missing: the export ends at seq 7/],
    ['an entry added at the end', join([...lines, JSON.stringify([...buildChain([{ at: new Date() }], { seq: 8, hash: Buffer.from(JSON.parse(lines[8]!).hash, 'hex') })][0])]), 9, /seq 9 lies beyond the header's last seq 8/],
    ['two swapped lines', join([...lines.slice(0, 3), lines[4]!, lines[3]!, ...lines.slice(5)]), 3, /entry 3 is missing or out of order: seq 4 follows seq 2/],
    ['a renumbered entry', edit(7, (l) => l.replace('"seq":7', '"seq":70')), 7, /entry 7 is missing/],
    ['a line that is no longer JSON', edit(6, (l) => l.slice(0, -1)), 6, /line 7: not valid JSON/],
    ['an added field', edit(2, (l) => l.replace('{"seq"', '{"note":"x","seq"')), 2, /unknown field\(s\) note/],
    ['uppercase hex', edit(8, (l) => l.replace(/"hash":"([0-9a-f]{64})"/, (_, h: string) => `"hash":"${h.toUpperCase()}"`)), 8, /hash is not 64 lowercase hex/],
  ]
  for (const [name, file, seq, reason] of cases) {
    const result = await verifyExport([file])
    t.match(result, { ok: false, brokenSeq: seq, reason }, name)
    if (!result.ok) t.equal(result.count, seq - 1, `${name}: the entries before it verified`)
  }
  // A whole re-hashed chain is self-consistent; only a kept anchor (or the database) exposes it.
  const forged = [...buildChain(lines.slice(1).map((l) => {
    const e = JSON.parse(l) as ExportedEntry
    return { ...e, at: new Date(e.at), details: { ...e.details, n: 0 } }
  }))]
  const forgedText = lines[0] + '\n' + forged.map((e) => JSON.stringify(e)).join('\n') + '\n'
  t.match(await verifyExport([forgedText]), { ok: true }, 'a re-hashed copy is internally consistent')
  const last = JSON.parse(lines[8]!) as ExportedEntry
  t.match(await verifyExport([forgedText], { anchors: [{ seq: 8, hash: last.hash }] }), { ok: false, brokenSeq: 8, reason: /anchored hash/ }, 'but not against a kept anchor')
})

t.test('CSV neutralises formula cells, quotes per RFC 4180 and still verifies', async (t) => {
  const { pool } = await freshPool(t)
  const log = createAuditLog({ pool })
  const ids = ["=cmd|' /C calc'!A0", '+1', '-1', '@SUM(1)', "'already quoted", 'plain, with "quotes"']
  for (const id of ids) await log.append({ actor: { type: 'user', id }, action: 'device.auth_failed', target: { type: 'device', id }, details: { note: '=1+1\nsecond line' } })
  const csv = await collect(log.exportEntries({ from: new Date(Date.now() - 60_000), to: new Date(Date.now() + 60_000), format: 'csv' }))
  const rowsOut = csv.split('\r\n')
  t.equal(rowsOut[0], 'seq,at,actor_type,actor_id,action,target_type,target_id,source_ip,details,prev_hash,hash')
  t.match(rowsOut[1]!, /^1,[^,]+,user,'=cmd\|' \/C calc'!A0,device\.auth_failed,device,'=cmd\|' \/C calc'!A0,,"\{""note"":""=1\+1\\nsecond line""\}",/)
  t.match(rowsOut[2]!, /,user,'\+1,device\.auth_failed,device,'\+1,,/)
  t.match(rowsOut[3]!, /,user,'-1,device\.auth_failed,device,'-1,,/)
  t.match(rowsOut[4]!, /,user,'@SUM\(1\),/)
  t.match(rowsOut[5]!, /,user,''already quoted,/, "a leading ' is doubled so that reading can undo exactly one")
  t.match(rowsOut[6]!, /,user,"plain, with ""quotes""",/)
  for (const row of rowsOut.slice(1, -1)) {
    for (const cell of row.split(',')) t.notMatch(cell, /^[=+\-@]/, 'no cell starts a formula')
  }
  t.equal(neutraliseCell('\tcmd'), "'\tcmd")
  t.equal(neutraliseCell('\rcmd'), "'\rcmd")
  t.equal(neutraliseCell('ok'), 'ok')

  const result = await verifyExport([csv])
  t.match(result, { ok: true, count: 6, links: 'checked', format: 'csv' }, 'the verifier undoes the neutralisation')
  t.match(await verifyExport([csv.replace("'+1,device.auth_failed,device,'+1", "'+2,device.auth_failed,device,'+1")]), { ok: false, brokenSeq: 2, reason: /hash does not match/ })
  t.match(await verifyExport([csv.replace("'-1,", '-1,')]), { ok: true }, 'the neutralising quote is presentation, not part of the value')
  t.match(await verifyExport([rowsOut.filter((_, i) => i !== 4).join('\r\n')]), { ok: false, brokenSeq: 4, reason: /missing/ })
  t.match(await verifyExport([csv.replace('""note""', '"note""')]), { ok: false, brokenSeq: 1 }, 'broken quoting names the row')
  // Chunk boundaries anywhere (inside quotes, between CR and LF) read the same.
  const chunks = csv.match(/[\s\S]{1,7}/g)!
  t.match(await verifyExport(chunks.map((c) => Buffer.from(c))), { ok: true, count: 6 })
})

t.test('the verifier reads NDJSON in any chunking and rejects what is not an export', async (t) => {
  const chain = [...buildChain([0, 1, 2].map((i) => ({ at: new Date(Date.UTC(2025, 0, 1, 0, 0, i)), details: { text: 'ü€𝄞', i } })))]
  const text = chain.map((e) => JSON.stringify(e)).join('\n') + '\n'
  const bytes = Buffer.from(text)
  const oneByteChunks = Array.from(bytes, (b) => Buffer.from([b]))
  t.match(await verifyExport(oneByteChunks), { ok: true, count: 3, lastHash: chain[2]!.hash }, 'multi-byte characters split across chunks')
  t.match(await verifyChain(chain), { ok: true, count: 3 }, 'verifyChain also takes plain entries')
  t.match(await verifyChain(chain.slice(1)), { ok: true, count: 2 }, 'a headerless range starts from its first prev_hash')
  t.match(await verifyChain(chain.slice(1), { fromGenesis: true }), { ok: false, brokenSeq: 1 }, 'the whole log must start at seq 1')
  t.match(await verifyExport([Buffer.from([0x7b, 0xff, 0x0a])]), { ok: false, reason: /not valid UTF-8/ })
  t.match(await verifyExport(['hello,world\r\n']), { ok: false, reason: /not an audit export/ })
  t.match(await verifyExport(['\n\n']), { ok: false, reason: /empty file/ })
  t.match(await verifyExport([`${JSON.stringify(chain[0])}\n\n${JSON.stringify(chain[1])}\n`]), { ok: false, brokenSeq: 2, reason: /blank line/ })
  const badFirst = { ...chain[0]!, prevHash: 'ab'.repeat(32) }
  t.match(await verifyChain([badFirst]), { ok: false, brokenSeq: 1, reason: /32 zero bytes/ })
  const floaty = [...buildChain([{ at: new Date(0) }])].map((e) => ({ ...e, details: { x: 1.5 } }))
  t.match(await verifyChain(floaty), { ok: false, brokenSeq: 1, reason: /cannot be encoded/ })
})

t.test('verifyDatabase finds what a superuser did behind the triggers, and anchors find a cut-off end', async (t) => {
  const { pool } = await freshPool(t)
  const log = createAuditLog({ pool })
  for (let i = 0; i < 6; i++) await log.append(login(i))
  const head = (await log.head())!
  t.match(await log.verifyDatabase({ anchors: [head] }), { ok: true, count: 6, anchors: 1 })

  await pool.query('ALTER TABLE audit_entries DISABLE TRIGGER USER')
  await pool.query(`UPDATE audit_entries SET details = '{"method":"password","n":99}' WHERE seq = 2`)
  t.match(await log.verifyDatabase(), { ok: false, brokenSeq: 2, reason: /hash does not match/ }, 'an edited row')
  await pool.query('DELETE FROM audit_entries WHERE seq = 2')
  t.match(await log.verifyDatabase(), { ok: false, brokenSeq: 2, reason: /entry 2 is missing/ }, 'a deleted row')
  await pool.query('DELETE FROM audit_entries WHERE seq = 1')
  t.match(await log.verifyDatabase(), { ok: false, brokenSeq: 1, reason: /should start at seq 1/ }, 'a deleted beginning')
  await pool.query('TRUNCATE audit_entries')
  t.match(await log.verifyDatabase(), { ok: true, count: 0 }, 'an emptied log is an empty log…')
  t.match(await log.verifyDatabase({ anchors: [head] }), { ok: false, brokenSeq: 6, reason: /anchored entry 6 is missing: the chain ends at nothing/ }, '…until a kept anchor is checked')
  for (let i = 0; i < 6; i++) await log.append(login(i))
  const kept = (await log.head())!
  await pool.query('DELETE FROM audit_entries WHERE seq > 4')
  t.match(await log.verifyDatabase(), { ok: true, count: 4 }, 'a cut-off end looks like a shorter log…')
  t.match(await log.verifyDatabase({ anchors: [kept] }), { ok: false, brokenSeq: 6, reason: /anchored entry 6 is missing: the chain ends at seq 4/ }, '…until a kept anchor is checked')
  await pool.query('ALTER TABLE audit_entries ENABLE TRIGGER USER')
})

