// The hand-written migrations must build exactly the database that migrations/schema.prisma
// describes, since `prisma migrate diff` cannot run here. The expected shape comes from the schema
// itself through Prisma's parser (test/support/schema.ts); the actual one from pg_catalog.
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { freshDatabase } from './support/services.ts'
import { actualShape, diffShapes, expectedShape, parseDatamodel } from './support/schema.ts'

const SCHEMA_PATH = fileURLToPath(new URL('../migrations/schema.prisma', import.meta.url))
const datamodel = parseDatamodel(readFileSync(SCHEMA_PATH, 'utf8'))
const expected = expectedShape(datamodel)

async function connect(t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

t.test('schema.prisma parses into a non-empty model', async (t) => {
  t.equal(expected.tables.size, datamodel.models.length, 'one table per model')
  t.ok(expected.tables.size > 0 && expected.enums.size > 0, 'models and enums were read')
})

t.test('the migrated database matches schema.prisma', async (t) => {
  const db = await connect(t, await freshDatabase(t))
  const drift = diffShapes(expected, await actualShape(db))
  t.same(drift, [], drift.length ? `schema drift:\n  ${drift.join('\n  ')}` : 'no drift')
})

// Each change runs in a transaction that is rolled back (PostgreSQL DDL is transactional), so one
// second database serves them all; the check must name exactly the change and nothing else.
const DRIFTS: { change: string; sql: string; drift: string[] }[] = [
  { change: 'an added column', sql: 'ALTER TABLE users ADD COLUMN nickname text',
    drift: ['users: unexpected column nickname text'] },
  { change: 'a dropped index', sql: 'DROP INDEX devices_user_id_idx',
    drift: ['devices: missing index devices_user_id_idx (user_id)'] },
  { change: 'an index with its columns swapped',
    sql: 'DROP INDEX deliveries_device_id_id_idx; CREATE INDEX deliveries_device_id_id_idx ON deliveries (id, device_id)',
    drift: ['deliveries: index deliveries_device_id_id_idx (id, device_id), expected index deliveries_device_id_id_idx (device_id, id)'] },
  { change: 'a unique index made plain',
    sql: 'DROP INDEX users_external_id_key; CREATE INDEX users_external_id_key ON users (external_id)',
    drift: ['users: index users_external_id_key (external_id), expected unique index users_external_id_key (external_id)'] },
  { change: 'a widened varchar', sql: 'ALTER TABLE users ALTER COLUMN email TYPE varchar(255)',
    drift: ['users.email: type is character varying(255), expected character varying(254)'] },
  { change: 'a timestamp losing its time zone', sql: 'ALTER TABLE envelopes ALTER COLUMN created_at TYPE timestamp(3)',
    drift: ['envelopes.created_at: type is timestamp(3) without time zone, expected timestamp(3) with time zone'] },
  { change: 'a nullable column made NOT NULL', sql: 'ALTER TABLE users ALTER COLUMN team SET NOT NULL',
    drift: ['users.team: is NOT NULL, expected nullable'] },
  { change: 'a dropped enum default', sql: 'ALTER TABLE users ALTER COLUMN status DROP DEFAULT',
    drift: ["users.status: default is none, expected 'invited'"] },
  { change: 'a lost autoincrement', sql: 'ALTER TABLE deliveries ALTER COLUMN id DROP DEFAULT',
    drift: ['deliveries.id: default is none, expected autoincrement()'] },
  { change: 'a database-side uuid default Prisma does not declare',
    sql: 'ALTER TABLE devices ALTER COLUMN id SET DEFAULT gen_random_uuid()',
    drift: ['devices.id: default is gen_random_uuid(), expected none'] },
  { change: 'a foreign key that restricts instead of cascading',
    sql: `ALTER TABLE devices DROP CONSTRAINT devices_user_id_fkey,
          ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT ON UPDATE CASCADE`,
    drift: ['devices: foreign key (user_id) -> users (id) ON DELETE Restrict ON UPDATE Cascade, expected foreign key (user_id) -> users (id) ON DELETE Cascade ON UPDATE Cascade'] },
  { change: 'a dropped primary key', sql: 'ALTER TABLE envelopes DROP CONSTRAINT envelopes_pkey CASCADE',
    drift: [
      'envelopes: missing primary key envelopes_pkey (id)',
      'deliveries: missing foreign key (envelope_id) -> envelopes (id) ON DELETE Cascade ON UPDATE Cascade',
    ].sort() },
  { change: 'an added enum value', sql: "ALTER TYPE device_state ADD VALUE 'lost'",
    drift: ['enum device_state: values are (active, wipe_pending, wiped, revoked, lost), expected (active, wipe_pending, wiped, revoked)'] },
  { change: 'a stray table', sql: 'CREATE TABLE stray (id int)', drift: ['unexpected table stray'] },
]

t.test('the check names each difference a migration could introduce', async (t) => {
  const db = await connect(t, await freshDatabase(t))
  for (const { change, sql, drift } of DRIFTS) {
    await db.query('BEGIN')
    try {
      await db.query(sql)
      t.same(diffShapes(expected, await actualShape(db)).sort(), drift, change)
    } finally {
      await db.query('ROLLBACK')
    }
  }
  t.same(diffShapes(expected, await actualShape(db)), [], 'every change was rolled back')
})
