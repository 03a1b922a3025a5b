// Users and enrolled SDK clients for tests, made the way an administrator and an employee would:
// mvctl's user service issues the token, the SDK enrolls over the gateway's API.
import { createDb } from '#core/db/client.ts'
import { createUserService } from '#core/identity/users.ts'
import { createNodeTransport, defaultProvider, enrollDevice, MessengerClient, type CryptoProvider, type ReceivedMessage } from '#sdk/index.ts'

interface Teardown { teardown(fn: () => unknown): void }

export async function addUsers(databaseUrl: string, names: string[]): Promise<Record<string, string>> {
  const db = createDb(databaseUrl, { poolSize: 1 })
  try {
    const users = createUserService({ prisma: db.prisma, enrollmentTtlHours: 1 })
    const tokens: Record<string, string> = {}
    for (const name of names) tokens[name] = (await users.add({ username: name })).token
    return tokens
  } finally {
    await db.close()
  }
}

export async function newToken(databaseUrl: string, name: string): Promise<string> {
  const db = createDb(databaseUrl, { poolSize: 1 })
  try {
    return (await createUserService({ prisma: db.prisma, enrollmentTtlHours: 1 }).reissue(name)).token
  } finally {
    await db.close()
  }
}

export interface Device {
  client: MessengerClient
  inbox: ReceivedMessage[]
  rejected: string[]
  /** Resolves once the inbox holds `n` messages. */
  received(n: number, timeoutMs?: number): Promise<ReceivedMessage[]>
  connect(): Promise<void>
}

export async function enroll(t: Teardown, gateway: { url: string; ca: Buffer }, token: string, opts: { provider?: CryptoProvider; name?: string } = {}): Promise<Device> {
  const transport = createNodeTransport(gateway.url, { ca: gateway.ca })
  const provider = opts.provider ?? defaultProvider()
  const identity = await enrollDevice({ transport, provider, server: gateway.url, token, platform: 'terminal', ...(opts.name ? { name: opts.name } : {}) })
  return device(t, new MessengerClient({ identity, transport, provider }), transport)
}

export function device(t: Teardown, client: MessengerClient, transport?: { close(): void }): Device {
  const inbox: ReceivedMessage[] = []
  const rejected: string[] = []
  const waiters: (() => void)[] = []
  const d: Device = {
    client, inbox, rejected,
    async received(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      while (inbox.length + rejected.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} deliveries, have ${inbox.length} messages and ${rejected.length} rejections`)
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50) })
      }
      return inbox
    },
    async connect() {
      await client.connect({
        message: (m) => { inbox.push(m); waiters.splice(0).forEach((w) => w()) },
        rejected: (r) => { rejected.push(r.code); waiters.splice(0).forEach((w) => w()) },
      })
    },
  }
  t.teardown(async () => { await client.close(); transport?.close() })
  return d
}
