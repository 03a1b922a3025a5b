// build(t): a gateway app (server/src/app.ts) over a fresh, migrated database and the test Redis,
// closed and dropped when the test ends. Requests go through app.inject.
import { buildApp, type App } from '#server/app.ts'
import type { Config } from '#core/config.ts'
import { freshDatabase, testConfig } from '../../test/support/services.ts'

interface Teardown { teardown(fn: () => unknown): void }

export interface Built { app: App; databaseUrl: string; config: Config }

export async function build(t: Teardown, env: Record<string, string> = {}): Promise<Built> {
  const databaseUrl = await freshDatabase(t)
  const config = testConfig(databaseUrl, env)
  const app = await buildApp({ config })
  t.teardown(() => app.close())
  await app.ready()
  return { app, databaseUrl, config }
}
