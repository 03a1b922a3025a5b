import t from 'tap'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import pino from 'pino'
import { QueueEvents } from 'bullmq'
import { redisOptions } from '#core/redis.ts'
import { freshDatabase, testConfig } from '../../test/support/services.ts'
import { startWorker } from '../src/worker.ts'

t.test('retention job through BullMQ deletes expired deliveries, delivered envelopes, old tokens and old daily counts only', async (t) => {
  const url = await freshDatabase(t)
  const config = testConfig(url)
  const pool = new pg.Pool({ connectionString: url })
  t.teardown(() => pool.end())

  const user = randomUUID(), device = randomUUID()
  await pool.query(`INSERT INTO users (id, username, username_key, display_name, status) VALUES ($1, 'u', 'u', 'u', 'active')`, [user])
  await pool.query(`INSERT INTO devices (id, user_id, x25519_public_key, ed25519_public_key, platform) VALUES ($1, $2, $3, $4, 'terminal')`,
    [device, user, Buffer.alloc(32, 1), Buffer.alloc(32, 2)])
  const envelope = async (ageHours: number, withDelivery: number | null) => {
    const id = randomUUID()
    await pool.query(`INSERT INTO envelopes (id, sender_user_id, sender_device_id, client_message_id, recipient_user_id, content_class, body, created_at)
      VALUES ($1, $2, $3, $4, $2, 'text', '\\x00', now() - make_interval(hours => $5))`, [id, user, device, randomUUID().slice(0, 20), ageHours])
    if (withDelivery !== null) {
      await pool.query(`INSERT INTO deliveries (envelope_id, device_id, sealed_key, created_at) VALUES ($1, $2, '\\x00', now() - make_interval(hours => $3))`,
        [id, device, withDelivery])
    }
    return id
  }
  const deliveredOld = await envelope(48, null)
  const deliveredRecent = await envelope(1, null)
  const pendingRecent = await envelope(48, 48)
  const pendingAncient = await envelope(24 * 40, 24 * 40)
  await pool.query(`INSERT INTO enrollment_tokens (id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, now() - interval '8 days'), ($4, $2, $5, now() + interval '1 day')`,
    [randomUUID(), user, Buffer.alloc(32, 3), randomUUID(), Buffer.alloc(32, 4)])
  // daily counts: today, the last kept day, and the first day past MVM_ACTIVITY_RETENTION_DAYS
  const days = config.MVM_ACTIVITY_RETENTION_DAYS
  await pool.query(`INSERT INTO message_counts (user_id, day, sent, received) SELECT $1, (now() AT TIME ZONE 'UTC')::date - d, 1, 1 FROM unnest($2::int[]) AS d`,
    [user, [0, days, days + 1]])

  // the periodic schedule is left out so that this test's job is the only run
  const prefix = `mvm-test-${randomUUID()}`
  const worker = await startWorker(config, pino({ level: 'silent' }), { schedule: false, prefix })
  t.teardown(() => worker.close({ purge: true }))
  // options, not a connection: QueueEvents then owns its blocking connection and closes it itself
  const events = new QueueEvents('retention', { connection: redisOptions(config, { maxRetriesPerRequest: null }), prefix })
  t.teardown(() => events.close())
  await events.waitUntilReady()
  const job = await worker.queues.retention.add('retention', {})
  const result = await job.waitUntilFinished(events, 20_000)

  t.same(result, { expiredDeliveries: 1, deliveredEnvelopes: 2, enrollmentTokens: 1, bulkEnrollmentTokens: 0, messageCountDays: 1 })
  const kept = (await pool.query(`SELECT (now() AT TIME ZONE 'UTC')::date - day AS age FROM message_counts ORDER BY day DESC`)).rows.map((r) => r.age)
  t.same(kept, [0, days], `daily counts are kept for ${days} days, not a day longer`)
  const left = (await pool.query('SELECT id FROM envelopes ORDER BY created_at')).rows.map((r) => r.id).sort()
  t.same(left, [deliveredRecent, pendingRecent].sort(), 'recent envelopes and ones still awaited stay')
  t.notOk(left.includes(deliveredOld))
  t.notOk(left.includes(pendingAncient), 'a delivery nobody fetched for 40 days expires with its envelope')
  t.equal((await pool.query('SELECT count(*)::int AS n FROM enrollment_tokens')).rows[0].n, 1)
})

t.test('the worker schedules retention periodically', async (t) => {
  const config = testConfig(await freshDatabase(t))
  const worker = await startWorker(config, pino({ level: 'silent' }), { prefix: `mvm-test-${randomUUID()}` })
  // closed here, not in a teardown: tap runs teardowns first-in first-out, and the database
  // must outlive the job the schedule starts at once
  try {
    const schedulers = await worker.queues.retention.getJobSchedulers()
    t.ok(schedulers.some((s) => s.key === 'retention-periodic' && s.every === 600_000), 'every ten minutes')
  } finally {
    await worker.close({ purge: true }) // leave nothing behind in Redis
  }
})
