// One pg pool per process, shared by Prisma (through the driver adapter) and by the few
// hot-path statements that are written as SQL (envelope store, delivery acks).
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient } from '../generated/prisma/client.ts'

export type Prisma = InstanceType<typeof PrismaClient>

export interface Db {
  prisma: Prisma
  pool: pg.Pool
  ping(): Promise<void>
  close(): Promise<void>
}

export function createDb(url: string, opts: { poolSize?: number; onError?: (err: Error) => void } = {}): Db {
  const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, idleTimeoutMillis: 30_000 })
  pool.on('error', (err) => opts.onError?.(err))
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  return {
    prisma,
    pool,
    async ping() { await pool.query('SELECT 1') },
    async close() {
      await prisma.$disconnect()
      await pool.end()
    },
  }
}

/** Runs `fn` in one transaction on one pooled connection: committed if it returns, rolled back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken = false
  try {
    await client.query('BEGIN')
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch(() => { broken = true })
    throw err
  } finally {
    client.release(broken)
  }
}
