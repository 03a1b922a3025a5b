// Applies migrations/NNNN_*.sql in order: one transaction per file, a SHA-256 checksum recorded
// per file, and a session advisory lock so that concurrent pods (or Helm hook retries) never race.
// An applied file whose checksum changed is refused: migrations are append-only.
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url))
const LOCK_KEY = 0x4d564d31 // "MVM1"
const FILE_PATTERN = /^\d{4}_[a-z0-9_]+\.sql$/

export interface MigrationResult { applied: string[]; skipped: string[] }

export class MigrationChecksumError extends Error {
  constructor(readonly file: string) {
    super(`migration ${file} was changed after it was applied; add a new migration instead`)
  }
}

export async function listMigrations(dir = MIGRATIONS_DIR): Promise<{ name: string; sql: string; checksum: string }[]> {
  const sql = (await readdir(dir)).filter((n) => n.endsWith('.sql'))
  const misnamed = sql.filter((n) => !FILE_PATTERN.test(n))
  // A file that would be skipped for its name is a migration that silently never runs.
  if (misnamed.length > 0) throw new Error(`migration files must be named NNNN_lower_snake.sql: ${misnamed.join(', ')}`)
  const names = sql.sort()
  return Promise.all(names.map(async (name) => {
    const sql = await readFile(join(dir, name), 'utf8')
    return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
  }))
}

export async function migrate(databaseUrl: string, opts: { dir?: string; log?: (msg: string) => void } = {}): Promise<MigrationResult> {
  const log = opts.log ?? (() => {})
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY])
    await client.query(`CREATE TABLE IF NOT EXISTS _mvm_migrations (
      name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    const done = new Map((await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM _mvm_migrations')).rows
      .map((r) => [r.name, r.checksum]))
    const result: MigrationResult = { applied: [], skipped: [] }
    const files = await listMigrations(opts.dir)
    const lastApplied = [...done.keys()].sort().at(-1)
    for (const name of done.keys()) if (!files.some((f) => f.name === name)) log(`warning: applied migration ${name} has no file here (an older release?)`)
    for (const m of files) {
      const recorded = done.get(m.name)
      if (recorded !== undefined) {
        if (recorded !== m.checksum) throw new MigrationChecksumError(m.name)
        result.skipped.push(m.name)
        continue
      }
      if (lastApplied !== undefined && m.name < lastApplied) {
        throw new Error(`migration ${m.name} sorts before ${lastApplied}, which is already applied: renumber it after the last one`)
      }
      await client.query('BEGIN')
      try {
        await client.query(m.sql)
        await client.query('INSERT INTO _mvm_migrations (name, checksum) VALUES ($1, $2)', [m.name, m.checksum])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err })
      }
      log(`applied ${m.name}`)
      result.applied.push(m.name)
    }
    return result
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {})
    await client.end()
  }
}
