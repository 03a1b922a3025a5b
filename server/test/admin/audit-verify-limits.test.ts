// POST /admin/v1/audit/verify against uploads that are no export at all: one endless line, an
// endless CSV record or quoted cell, nothing but blank space. Each is answered as broken at once
// (no entry is longer than MAX_RECORD_CHARS), and the connection closes after an answer that did
// not need the rest of the upload.
import t from 'tap'
import { MAX_RECORD_CHARS } from '#core/audit/export-format.ts'
import { build } from '../helper.ts'
import { adminAs } from './support.ts'

t.test('verify refuses what no export holds, early', async (t) => {
  const { app } = await build(t)
  const auditor = await adminAs(app, 'auditor')
  const size = 3 * MAX_RECORD_CHARS
  const cases: [string, string, RegExp][] = [
    ['one NDJSON line without end', `{${'a'.repeat(size)}`, /^line 1: a line longer than 1048576 characters/],
    ['one CSV cell without end', 'a'.repeat(size), /^line 1: a record longer than 1048576 characters/],
    ['a quoted CSV cell without end', `"${'a'.repeat(size)}`, /^line 1: a record longer than 1048576 characters/],
    ['blank space only', ' '.repeat(size), /^line 1: nothing but blank space/],
  ]
  for (const [what, body, reason] of cases) {
    const started = performance.now()
    const res = await auditor.call({ method: 'POST', url: '/admin/v1/audit/verify', payload: body, headers: { 'content-type': 'application/x-ndjson' } })
    t.equal(res.statusCode, 200, what)
    t.match(res.json(), { ok: false, entries: 0, firstBroken: { seq: null, line: 1, reason } }, `${what}: broken at line 1`)
    t.equal(res.headers.connection, 'close', `${what}: the rest of the upload is not waited for`)
    t.comment(`${what}: ${Math.round(performance.now() - started)} ms for ${size / 2 ** 20} MiB`)
  }
  const fine = await auditor.call({ method: 'POST', url: '/admin/v1/audit/verify', payload: '', headers: { 'content-type': 'application/x-ndjson' } })
  t.equal(fine.headers.connection === 'close', false, 'an upload read to its end keeps the connection')
})
