// migrate(): idempotent, append-only (a changed applied file is refused), all-or-nothing per file,
// and safe when several pods start at once. Edited or broken migrations live in a temporary copy
// of migrations/ so the real folder is never touched.
import t, { type Test } from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { listMigrations, migrate, MigrationChecksumError } from '#core/db/migrate.ts'
import { freshDatabase } from '../../../test/support/services.ts'

const REAL = (await listMigrations()).map((m) => m.name)

/** A temporary copy of migrations/ plus `extra` files, removed at teardown. */
async function migrationsCopy(t: Test, extra: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-migrations-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const m of await listMigrations()) await writeFile(join(dir, m.name), m.sql)
  for (const [name, sql] of Object.entries(extra)) await writeFile(join(dir, name), sql)
  return dir
}

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(sql, params)).rows
  } finally {
    await client.end()
  }
}

const recorded = async (url: string) =>
  (await query<{ name: string }>(url, 'SELECT name FROM _mvm_migrations ORDER BY name')).map((r) => r.name)
const exists = async (url: string, relation: string) =>
  (await query<{ oid: string | null }>(url, 'SELECT to_regclass($1)::text AS oid', [relation]))[0]!.oid !== null

t.test('migrating twice applies every file once and nothing the second time', async (t) => {
  t.ok(REAL.length > 0, 'there are migrations to apply')
  const url = await freshDatabase(t, { migrate: false })
  t.same(await migrate(url), { applied: REAL, skipped: [] }, 'first run applies all files in order')
  t.same(await migrate(url), { applied: [], skipped: REAL }, 'second run applies nothing')
  t.same(await recorded(url), REAL, 'each file recorded once')
})

t.test('a changed, already applied file is refused with MigrationChecksumError naming it', async (t) => {
  const dir = await migrationsCopy(t)
  const url = await freshDatabase(t, { migrate: false })
  await migrate(url, { dir })
  const first = REAL[0]!
  await writeFile(join(dir, first), `${await readFile(join(dir, first), 'utf8')}\n-- edited after release\n`)
  await writeFile(join(dir, '9000_after_edit.sql'), 'CREATE TABLE after_edit (id int);')

  const err = await migrate(url, { dir }).then(() => null, (e: unknown) => e)
  t.type(err, MigrationChecksumError)
  t.equal((err as MigrationChecksumError).file, first)
  t.match((err as Error).message, first, 'the message names the file')
  t.notOk(await exists(url, 'after_edit'), 'no later migration ran')
  t.same(await recorded(url), REAL, 'nothing new recorded')
})

t.test('a failing migration rolls back its whole file and is not recorded', async (t) => {
  const broken = '9000_broken.sql'
  const dir = await migrationsCopy(t, {
    [broken]: `CREATE TABLE broken_table (id int);
INSERT INTO broken_table VALUES (1);
CREATE TYPE broken_enum AS ENUM ('x');
SELECT no_such_function();`,
  })
  const url = await freshDatabase(t, { migrate: false })

  await t.rejects(migrate(url, { dir }), { message: new RegExp(`^migration ${broken} failed: .*no_such_function`) })
  t.same(await recorded(url), REAL, 'the files before it stay applied, the broken one is not recorded')
  t.notOk(await exists(url, 'broken_table'), 'its first statements left no table')
  t.same(await query(url, "SELECT 1 FROM pg_type WHERE typname = 'broken_enum'"), [], 'and no type')

  await writeFile(join(dir, broken), 'CREATE TABLE broken_table (id int);')
  t.same(await migrate(url, { dir }), { applied: [broken], skipped: REAL }, 'the fixed file applies on the next run')
})

t.test('five concurrent migrate() calls all succeed and apply each file exactly once', async (t) => {
  // the extra file counts its own executions and holds the lock long enough for the calls to overlap
  const probe = '9000_count_runs.sql'
  const dir = await migrationsCopy(t, {
    [probe]: `SELECT pg_sleep(0.2);
CREATE TABLE IF NOT EXISTS probe_runs (n int);
INSERT INTO probe_runs VALUES (1);`,
  })
  const url = await freshDatabase(t, { migrate: false })
  const all = [...REAL, probe]

  const results = await Promise.allSettled(Array.from({ length: 5 }, () => migrate(url, { dir })))
  t.same(results.map((r) => r.status), Array(5).fill('fulfilled'), 'no call failed')
  const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.applied : []))
  t.same(applied.sort(), all, 'each file applied by exactly one call')
  for (const r of results) {
    if (r.status === 'fulfilled') t.same([...r.value.applied, ...r.value.skipped].sort(), all, 'every call saw every file')
  }
  t.same(await recorded(url), all)
  t.same(await query(url, 'SELECT count(*)::int AS runs FROM probe_runs'), [{ runs: 1 }], 'the probe ran once')
})
