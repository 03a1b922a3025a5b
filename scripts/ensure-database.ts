// Creates the database named in DATABASE_URL if the server does not have it yet (local runs;
// in Kubernetes the customer's PostgreSQL already has it).
import pg from 'pg'

const url = new URL(process.env.DATABASE_URL ?? '')
const name = decodeURIComponent(url.pathname.slice(1))
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
  console.error(`DATABASE_URL must name a database (lowercase letters, digits, _), got "${name}"`)
  process.exit(2)
}
const admin = new URL(url)
admin.pathname = '/postgres'
const client = new pg.Client({ connectionString: admin.toString() })
await client.connect()
try {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
  if (!rowCount) {
    await client.query(`CREATE DATABASE ${name}`)
    console.log(`created database ${name}`)
  }
} finally {
  await client.end()
}
