// The exporting process of the audit export benchmark (scripts/bench/audit-export.ts): the
// product's exporter (the code behind `mvctl audit export` and GET /admin/v1/audit/export) writes
// [from, to) as NDJSON to a file, then this process reports its counts, time and peak RSS as one
// JSON line. Its own process, so that the peak RSS is the exporter's alone.
//   DATABASE_URL=… node --import tsx audit-export-child.ts FROM TO OUT
import { createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import { createAuditLog, type ExportSummary } from '#core/audit/audit-log.ts'

const [from, to, out] = process.argv.slice(2)
if (!from || !to || !out || !process.env.DATABASE_URL) {
  console.error('usage: DATABASE_URL=… audit-export-child.ts FROM TO OUT')
  process.exit(2)
}
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 })
const log = createAuditLog({ pool })
await pool.query('SELECT 1') // connected before the clock starts, as a running gateway would be
const rssBeforeKiB = Math.round(process.memoryUsage().rss / 1024)
let summary: ExportSummary | undefined
const target = createWriteStream(out)
const started = performance.now()
await pipeline(log.exportEntries({ from: new Date(from), to: new Date(to), format: 'ndjson', onEnd: (s) => { summary = s } }), target)
const ms = performance.now() - started
await pool.end()
console.log(JSON.stringify({
  ms, bytes: target.bytesWritten, count: summary?.count ?? 0, lastSeq: summary?.lastSeq ?? null, lastHash: summary?.lastHash ?? null,
  rssBeforeKiB, maxRssKiB: process.resourceUsage().maxRSS,
}))
