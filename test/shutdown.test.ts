// A rolling update seen from the clients: SIGTERM on one of two gateways while messages flow.
// The gateway tells its sockets to reconnect (1012), answers or lets the SDK retry what was in
// flight, and exits 0 within MVM_SHUTDOWN_GRACE_SECONDS; the other gateway keeps serving, and
// every message whose send was acknowledged reaches the recipient exactly once.
import t from 'tap'
import pg from 'pg'
import { createNodeTransport, defaultProvider, enrollDevice, memoryState, MessengerClient, newMessageId, type ReceivedMessage } from '#sdk/index.ts'
import { freshDatabase } from './support/services.ts'
import { startGateway } from './support/gateway.ts'
import { addUsers, enroll } from './support/people.ts'
import { balancedTransport, httpsRequest } from './support/operations.ts'

const GRACE_SECONDS = 10
const INTERVAL_MS = 20
const BURST = 30

interface Send {
  from: string
  id: string
  text: string
  startedAt: number
  state: 'pending' | 'acked' | 'failed'
  error?: string
  done: Promise<void>
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 25))
  }
}

t.test('SIGTERM on gateway 1 while messages flow: no acknowledged message lost or duplicated, exit 0 in time', async (t) => {
  const db = await freshDatabase(t)
  const env = { MVM_SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS) }
  const [gw1, gw2] = await Promise.all([startGateway(t, db, env), startGateway(t, db, env)])
  const tokens = await addUsers(db, ['alice', 'bob', 'carol'])
  const provider = defaultProvider()

  // alice sends from gateway 2, which stays up
  const alice = await enroll(t, gw2, tokens.alice!, { name: 'alice phone' })
  await alice.connect()

  // bob receives on gateway 1; his state (which messages he took) survives his reconnect
  const bobLine = balancedTransport([gw1])
  const bobIdentity = await enrollDevice({ transport: bobLine.transport, provider, server: gw1.url, token: tokens.bob!, platform: 'terminal', name: 'bob phone' })
  const bobState = memoryState()
  const received = new Map<string, ReceivedMessage[]>()
  const take = (m: ReceivedMessage) => { received.set(m.id, [...(received.get(m.id) ?? []), m]) }
  const bob = new MessengerClient({ identity: bobIdentity, transport: bobLine.transport, provider, state: bobState })
  t.teardown(async () => { await bob.close(); bobLine.transport.close() })
  await new Promise<void>((resolve, reject) => { bob.connect({ message: take, synced: resolve }).catch(reject) })

  // carol sends from gateway 1, reached through a Service that drops gateway 1 once it terminates
  const carolLine = balancedTransport([gw1, gw2])
  const carolIdentity = await enrollDevice({ transport: carolLine.transport, provider, server: gw1.url, token: tokens.carol!, platform: 'terminal', name: 'carol phone' })
  const carol = new MessengerClient({ identity: carolIdentity, transport: carolLine.transport, provider })
  t.teardown(async () => { await carol.close(); carolLine.transport.close() })
  await new Promise<void>((resolve, reject) => { carol.connect({ synced: resolve }).catch(reject) })

  const sends: Send[] = []
  /** Starts a send to bob without awaiting it; `state` turns 'acked' once sendText resolves. */
  const send = (from: string, client: MessengerClient, text: string): Send => {
    const s: Send = { from, id: newMessageId(provider), text, startedAt: Date.now(), state: 'pending', done: Promise.resolve() }
    s.done = client.sendText('bob', text, { id: s.id }).then(
      () => { s.state = 'acked' },
      (err: Error) => { s.state = 'failed'; s.error = `${err.name}: ${err.message}` },
    )
    sends.push(s)
    return s
  }
  const stream = (from: string, client: MessengerClient) => {
    let n = 0
    const timer = setInterval(() => send(from, client, `${from} ${n++}`), INTERVAL_MS)
    return () => clearInterval(timer)
  }
  const stopAlice = stream('alice', alice.client)
  const stopCarol = stream('carol', carol)

  t.ok(await eventually(() => received.size >= 20), 'messages flow to bob on gateway 1 before the signal')

  // A burst from carol right before the signal, so that some of her frames are on the wire or
  // being handled by gateway 1 when it gets SIGTERM.
  const burst = Array.from({ length: BURST }, (_, i) => send('carol', carol, `carol burst ${i}`))
  await new Promise((r) => setImmediate(r)) // sealed and written to the socket
  const signalAt = Date.now()
  const exited = gw1.stop('SIGTERM').then((code) => ({ code, ms: Date.now() - signalAt }))
  carolLine.remove(gw1.url)
  const inFlightAtSignal = sends.filter((s) => s.from === 'carol' && s.state === 'pending')
  const receivedBeforeSignal = received.size

  t.ok(await eventually(() => bobLine.closeCodes.length > 0, 5_000), 'bob\'s socket on gateway 1 closes')
  await new Promise((r) => setTimeout(r, 1_500)) // the streams go on while gateway 1 drains
  stopAlice()
  stopCarol()
  await Promise.all(sends.map((s) => s.done))
  const exit = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), (GRACE_SECONDS + 5) * 1000))])
  const output = gw1.output().slice(-3000)

  t.test('gateway 1 exits 0 within its grace period, after closing sockets with 1012', async (t) => {
    t.ok(exit, `gateway 1 exited within ${GRACE_SECONDS + 5} s`, { output })
    t.equal(exit?.code, 0, 'exit code 0', { output })
    t.ok(exit && exit.ms < GRACE_SECONDS * 1000, `exited ${exit?.ms} ms after SIGTERM, sooner than the ${GRACE_SECONDS} s grace period`)
    t.equal(bobLine.closeCodes[0], 1012, 'bob\'s socket was closed with 1012 (service restart)')
    t.equal(carolLine.closeCodes[0], 1012, 'carol\'s socket was closed with 1012')
  })

  t.test('gateway 2 keeps serving', async (t) => {
    const ready = await httpsRequest(gw2, { path: '/readyz' })
    t.equal(ready.status, 200, '/readyz on gateway 2')
    const afterSignal = sends.filter((s) => s.from === 'alice' && s.startedAt > signalAt)
    t.ok(afterSignal.length > 0 && afterSignal.every((s) => s.state === 'acked'), `alice's ${afterSignal.length} sends after the signal were all acknowledged by gateway 2`)
    t.same(sends.filter((s) => s.from === 'alice' && s.state !== 'acked').map((s) => `${s.text}: ${s.error}`), [], 'no send of alice failed')
  })

  t.test('a send in flight on gateway 1 at the signal is answered there or retried by the SDK', async (t) => {
    t.ok(inFlightAtSignal.length > 0, `${inFlightAtSignal.length} of carol's sends were in flight at the signal`)
    t.ok(burst.every((s) => carolLine.socketAnswers.has(s.id) || carolLine.restSends.includes(s.id)), 'the burst went out on the socket')
    t.same(sends.filter((s) => s.from === 'carol' && s.state !== 'acked').map((s) => `${s.text}: ${s.error}`), [], 'every send of carol was acknowledged')
    const answeredOnGw1 = inFlightAtSignal.filter((s) => carolLine.socketAnswers.get(s.id) === gw1.url)
    const retried = inFlightAtSignal.filter((s) => carolLine.restSends.includes(s.id))
    t.same(inFlightAtSignal.filter((s) => !answeredOnGw1.includes(s) && !retried.includes(s)).map((s) => s.text), [], 'each was answered on gateway 1\'s socket or retried over REST')
    const storedUnanswered = retried.filter((s) => carolLine.restDuplicates.includes(s.id))
    t.comment(`in flight at the signal: ${inFlightAtSignal.length}; answered by gateway 1: ${answeredOnGw1.length}; retried by the SDK: ${retried.length}, of which gateway 1 had stored ${storedUnanswered.length} without answering`)
  })

  t.test('bob, back on gateway 2, has every acknowledged message exactly once', async (t) => {
    await bob.close() // what bob took on gateway 1 is in bobState; the rest waits in the store
    const transport = createNodeTransport(gw2.url, { ca: gw2.ca })
    const bobAgain = new MessengerClient({ identity: { ...bobIdentity, server: gw2.url }, transport, provider, state: bobState })
    t.teardown(async () => { await bobAgain.close(); transport.close() })
    await new Promise<void>((resolve, reject) => { bobAgain.connect({ message: take, synced: resolve }).catch(reject) })
    await bobAgain.drain()

    const acked = sends.filter((s) => s.state === 'acked')
    t.ok(acked.length >= 50, `${acked.length} acknowledged sends (${sends.length} in all)`)
    t.same(acked.filter((s) => !received.has(s.id)).map((s) => s.text), [], 'no acknowledged message is missing')
    t.same([...received].filter(([, ms]) => ms.length > 1).map(([id, ms]) => `${id} x${ms.length}`), [], 'no message was handed to the app twice')
    const byId = new Map(sends.map((s) => [s.id, s]))
    t.same([...received.values()].flat().filter((m) => byId.get(m.id)?.text !== m.content.text).map((m) => m.id), [], 'each with the text that was sent under its id')

    const store = new pg.Client({ connectionString: db })
    await store.connect()
    t.teardown(() => store.end())
    const pending = async () => Number((await store.query('SELECT count(*) AS n FROM deliveries WHERE device_id = $1', [bobIdentity.deviceId])).rows[0].n)
    t.ok(await eventually(async () => (await pending()) === 0, 5_000), 'and has acknowledged all of them: nothing waits in the store for him')
    t.comment(`received before the signal: ${receivedBeforeSignal}; in all: ${received.size}; acknowledged sends: ${acked.length}; failed: ${sends.length - acked.length}`)
  })
})
