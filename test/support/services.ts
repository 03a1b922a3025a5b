// Real services for tests: a fresh, migrated PostgreSQL database per test file (dropped at the
// end) and the local Redis. The base URLs come from the environment that scripts/test sets.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { loadConfig, type Config } from '#core/config.ts'
import { migrate } from '#core/db/migrate.ts'

export const ADMIN_DATABASE_URL = process.env.MVM_TEST_ADMIN_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
export const TEST_REDIS_URL = process.env.MVM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15'

interface Teardown { teardown(fn: () => unknown): void }

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL)
  url.pathname = `/${name}`
  return url.toString()
}

export async function freshDatabase(t: Teardown, opts: { migrate?: boolean } = {}): Promise<string> {
  const name = `mvm_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  t.teardown(async () => {
    const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
    await c.connect()
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await c.end()
  })
  const url = databaseUrl(name)
  if (opts.migrate !== false) await migrate(url)
  return url
}

export function testConfig(databaseUrlValue: string, overrides: Record<string, string> = {}): Config {
  return loadConfig({
    DATABASE_URL: databaseUrlValue,
    REDIS_URL: TEST_REDIS_URL,
    MVM_TLS: 'off',
    MVM_LOG_LEVEL: 'silent',
    ...overrides,
  })
}
