// The audit export benchmark of `npm run bench`: a log of N entries (1,000,000 by default) in a
// database of its own, exported by the product's exporter in a child process (rows/s and that
// process's peak RSS), against the raw read rate of the same rows in the same run — PostgreSQL's
// `COPY (SELECT …) TO STDOUT` through psql. The exported file is then checked by the verifier, so
// the run proves it exported a valid log.
//
// Seeding through append() would take about an hour (~300 entries/s: one lock and three round
// trips each), so the log is built here: the same hash chain (docs/audit.md §3, computed by the
// product's entryHash), inserted 5,000 rows per statement; the table's triggers allow INSERT.
import { spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { createReadStream, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { migrate } from '#core/db/migrate.ts'
import { canonicalJson, entryHash, ZERO_HASH, type JsonObject } from '#core/audit/canonical.ts'
import { verifyExport } from '#core/audit/verify.ts'
import { ROOT } from './processes.ts'

export interface AuditExportResult {
  entries: number
  seed: { ms: number; rowsPerS: number }
  copy: { ms: number; rowsPerS: number; bytes: number }
  export: { ms: number; rowsPerS: number; bytes: number; peakRssMiB: number; rssBeforeMiB: number }
  verify: { ms: number; rowsPerS: number; ok: boolean; lastHash: string | null }
  /** export rows/s ÷ COPY rows/s */
  ratio: number
}

const BATCH = 5000
const START = Date.parse('2024-01-01T00:00:00.000Z')
const STEP_MS = 30_000 // 1,000,000 entries span about eleven months
const FROM = '2024-01-01T00:00:00.000Z'
const TO = '2026-01-01T00:00:00.000Z'
const COLUMNS = 'seq, at, actor_type, actor_id, action, target_type, target_id, source_ip, details, prev_hash, hash'

// A mix like a real log: sign-ins, user changes with before/after, device events.
const ADMINS = Array.from({ length: 20 }, () => randomUUID())
const USERS = Array.from({ length: 5000 }, () => randomUUID())
function event(i: number): { actorType: string; actorId: string | null; action: string; targetType: string | null; targetId: string | null; sourceIp: string | null; details: JsonObject } {
  const admin = ADMINS[i % ADMINS.length]!
  const user = USERS[(i * 7919) % USERS.length]!
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
  switch (i % 6) {
    case 0: return { actorType: 'admin', actorId: admin, action: 'admin.login', targetType: null, targetId: null, sourceIp: ip, details: { method: 'password' } }
    case 1: return { actorType: 'admin', actorId: admin, action: 'user.lock', targetType: 'user', targetId: user, sourceIp: ip, details: { before: { status: 'active' }, after: { status: 'locked' } } }
    case 2: return {
      actorType: 'admin', actorId: admin, action: 'user.updated', targetType: 'user', targetId: user, sourceIp: ip,
      details: { before: { username: `user${i}`, displayName: `User ${i}`, team: 'Field Service', businessArea: 'Operations', status: 'active' },
        after: { username: `user${i}`, displayName: `User ${i}`, team: 'Field Service Nord', businessArea: 'Operations', status: 'active' } },
    }
    case 3: return { actorType: 'device', actorId: user, action: 'device.auth_failed', targetType: null, targetId: null, sourceIp: ip, details: { reason: 'signature' } }
    case 4: return { actorType: 'user', actorId: user, action: 'device.enrolled', targetType: 'device', targetId: randomUUID(), sourceIp: ip, details: { platform: 'android' } }
    default: return { actorType: 'system', actorId: 'mvctl', action: 'user.created', targetType: 'user', targetId: user, sourceIp: null, details: { after: { username: `user${i}`, status: 'invited' }, enrollmentTokenExpiresAt: new Date(START + i * STEP_MS).toISOString() } }
  }
}

async function seed(url: string, n: number): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    let prev: Buffer = ZERO_HASH
    let pending: Promise<unknown> = Promise.resolve()
    for (let lo = 1; lo <= n; lo += BATCH) {
      const cols: unknown[][] = Array.from({ length: 11 }, () => [])
      for (let seq = lo; seq < Math.min(lo + BATCH, n + 1); seq++) {
        const e = { seq, at: new Date(START + seq * STEP_MS + (seq % 1000)).toISOString(), ...event(seq) }
        const hash = entryHash(e, prev)
        const row = [String(seq), e.at, e.actorType, e.actorId, e.action, e.targetType, e.targetId, e.sourceIp, canonicalJson(e.details), prev, hash]
        row.forEach((v, k) => cols[k]!.push(v))
        prev = hash
      }
      await pending // one statement in flight while the next batch is hashed
      pending = client.query(
        `INSERT INTO audit_entries (${COLUMNS}) SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::varchar[], $4::varchar[], $5::varchar[],
           $6::varchar[], $7::varchar[], $8::varchar[], $9::jsonb[], $10::bytea[], $11::bytea[])`, cols)
    }
    await pending
    await client.query('VACUUM ANALYZE audit_entries')
  } finally {
    await client.end()
  }
}

/** psql's COPY of the same rows to its stdout, counted here: the database's raw read rate. */
function copyOut(url: string): Promise<{ ms: number; bytes: number }> {
  const sql = `COPY (SELECT ${COLUMNS} FROM audit_entries WHERE at >= '${FROM}' AND at < '${TO}' ORDER BY seq) TO STDOUT`
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], { stdio: ['ignore', 'pipe', 'pipe'] })
    let bytes = 0
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { bytes += d.length })
    child.stderr.on('data', (d: Buffer) => { stderr += d })
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve({ ms: performance.now() - started, bytes }) : reject(new Error(`psql COPY failed (${code}): ${stderr}`))))
  })
}

function exportInChild(url: string, out: string): Promise<{ ms: number; bytes: number; count: number; lastHash: string | null; rssBeforeKiB: number; maxRssKiB: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/bench/audit-export-child.ts'), FROM, TO, out], {
      cwd: ROOT, env: { ...process.env, DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => { stderr += d })
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`the exporting process failed (${code}): ${stderr}`))
      try { resolve(JSON.parse(stdout.trim().split('\n').at(-1)!)) } catch { reject(new Error(`the exporting process answered ${stdout}`)) }
    })
  })
}

export async function runAuditExportBench(opts: {
  entries: number
  createDatabase(): Promise<string>
  log(msg: string): void
}): Promise<AuditExportResult> {
  const n = opts.entries
  const url = await opts.createDatabase()
  await migrate(url)
  let t = performance.now()
  await seed(url, n)
  const seedMs = performance.now() - t
  opts.log(`audit: ${n} chained entries seeded in ${(seedMs / 1000).toFixed(1)} s (${Math.round(n / (seedMs / 1000))}/s)`)

  await copyOut(url) // warm-up: both runs below then read from the same warm cache
  const copy = await copyOut(url)
  opts.log(`audit: COPY baseline ${Math.round(n / (copy.ms / 1000))} rows/s (${(copy.ms / 1000).toFixed(1)} s, ${(copy.bytes / 2 ** 20).toFixed(0)} MiB)`)

  const out = join(tmpdir(), `mvm-bench-audit-${randomBytes(4).toString('hex')}.ndjson`)
  try {
    const exp = await exportInChild(url, out)
    if (exp.count !== n) throw new Error(`the export holds ${exp.count} entries, not ${n}`)
    opts.log(`audit: export ${Math.round(n / (exp.ms / 1000))} rows/s (${(exp.ms / 1000).toFixed(1)} s, ${(exp.bytes / 2 ** 20).toFixed(0)} MiB NDJSON), peak RSS ${(exp.maxRssKiB / 1024).toFixed(0)} MiB (${(exp.rssBeforeKiB / 1024).toFixed(0)} MiB before the export)`)

    t = performance.now()
    const verified = await verifyExport(createReadStream(out))
    const verifyMs = performance.now() - t
    if (!verified.ok || verified.count !== n || verified.lastHash !== exp.lastHash) {
      throw new Error(`the exported log does not verify: ${JSON.stringify({ ...verified, header: undefined })}`)
    }
    opts.log(`audit: the export verifies (${n} entries from seq 1, last hash ${verified.lastHash}) in ${(verifyMs / 1000).toFixed(1)} s`)
    const rate = (ms: number) => Math.round(n / (ms / 1000))
    return {
      entries: n,
      seed: { ms: Math.round(seedMs), rowsPerS: rate(seedMs) },
      copy: { ms: Math.round(copy.ms), rowsPerS: rate(copy.ms), bytes: copy.bytes },
      export: { ms: Math.round(exp.ms), rowsPerS: rate(exp.ms), bytes: exp.bytes, peakRssMiB: Math.round(exp.maxRssKiB / 1024), rssBeforeMiB: Math.round(exp.rssBeforeKiB / 1024) },
      verify: { ms: Math.round(verifyMs), rowsPerS: rate(verifyMs), ok: true, lastHash: verified.lastHash },
      ratio: Math.round((rate(exp.ms) / rate(copy.ms)) * 100) / 100,
    }
  } finally {
    rmSync(out, { force: true })
  }
}
