// `npm run migrate`: brings the database named by DATABASE_URL up to date (the Helm hook Job runs this too).
import { migrate } from '#core/db/migrate.ts'

const url = process.env.DATABASE_URL
if (!url) {
  console.error('DATABASE_URL is required (e.g. postgresql://user@127.0.0.1:5432/mobivisor)')
  process.exit(2)
}
try {
  const { applied, skipped } = await migrate(url, { log: (m) => console.log(m) })
  console.log(`migrations: ${applied.length} applied, ${skipped.length} already in place`)
} catch (err) {
  console.error((err as Error).message)
  process.exit(1)
}
