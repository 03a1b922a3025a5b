// 100,000 entries export (and, as NDJSON, verify) with flat memory: the heap still in use, measured
// after a forced GC every 8 MB of output, stays far below the size of the export.
import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createAuditLog, verifyExport } from '../audit-log.ts'
import { buildChain, freshPool, insertEntries } from './chain-fixture.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const N = 100_000
const MB = 1024 * 1024

/** Passes chunks through, sampling the heap growth over `baseline` every 8 MB. */
async function* measured(source: AsyncIterable<Buffer>, stats: { bytes: number; peak: number }): AsyncGenerator<Buffer> {
  gc()
  const baseline = process.memoryUsage().heapUsed
  let nextSample = 0
  for await (const chunk of source) {
    stats.bytes += chunk.length
    if (stats.bytes >= nextSample) {
      gc()
      stats.peak = Math.max(stats.peak, process.memoryUsage().heapUsed - baseline)
      nextSample += 8 * MB
    }
    yield chunk
  }
}

t.test(`an export of ${N} entries streams with flat memory`, async (t) => {
  const { pool } = await freshPool(t)
  const log = createAuditLog({ pool })
  const start = Date.parse('2025-01-01T00:00:00.000Z')
  const events = function* () {
    for (let i = 0; i < N; i++) {
      yield {
        at: new Date(start + i * 10), actorType: 'admin', actorId: `admin-${i % 50}`, action: 'user.updated',
        targetType: 'user', targetId: `user-${i}`, sourceIp: '198.51.100.7',
        details: { before: { displayName: `Person ${i} before`, team: 'Logistik Nord', status: 'active' },
          after: { displayName: `Person ${i} after`, team: 'Logistik Süd', status: 'active' }, ticket: `CHG-${100000 + i}`, i },
      }
    }
  }
  let t0 = Date.now()
  t.equal(await insertEntries(pool, buildChain(events())), N)
  t.comment(`fixture: ${N} entries built and inserted in ${Date.now() - t0} ms`)
  const period = { from: new Date(start), to: new Date(start + N * 10) }

  const ndjson = { bytes: 0, peak: 0 }
  t0 = Date.now()
  const result = await verifyExport(measured(log.exportEntries(period), ndjson))
  t.comment(`ndjson: ${(ndjson.bytes / MB).toFixed(1)} MB exported and verified in ${Date.now() - t0} ms; heap growth at most ${(ndjson.peak / MB).toFixed(1)} MB`)
  t.match(result, { ok: true, count: N, firstSeq: 1, lastSeq: N, links: 'checked' }, 'the whole chain verifies')
  t.ok(ndjson.bytes > 40 * MB, `the export is large (${(ndjson.bytes / MB).toFixed(0)} MB)`)
  t.ok(ndjson.peak < 12 * MB, `heap growth ${(ndjson.peak / MB).toFixed(1)} MB stays well below the data size`)

  const csv = { bytes: 0, peak: 0 }
  t0 = Date.now()
  let rows = -1 // the header row
  for await (const chunk of measured(log.exportEntries({ ...period, format: 'csv' }), csv)) rows += chunk.toString().split('\r\n').length - 1
  t.comment(`csv: ${(csv.bytes / MB).toFixed(1)} MB exported in ${Date.now() - t0} ms; heap growth at most ${(csv.peak / MB).toFixed(1)} MB`)
  t.equal(rows, N, 'every entry is a CSV row')
  t.ok(csv.peak < 12 * MB, `CSV: heap growth ${(csv.peak / MB).toFixed(1)} MB stays well below the data size`)
})
