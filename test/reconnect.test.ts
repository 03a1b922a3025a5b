// The SDK keeps its socket: when its gateway goes away it reconnects with backoff on its own,
// and what was sent meanwhile arrives once the gateway is back.
import t from 'tap'
import { createNodeTransport, defaultProvider, enrollDevice, MessengerClient, type ReceivedMessage } from '#sdk/index.ts'
import { freshDatabase } from './support/services.ts'
import { freePort, startGateway } from './support/gateway.ts'
import { addUsers, enroll } from './support/people.ts'

t.test('a client whose gateway restarts reconnects by itself and receives what was sent meanwhile', async (t) => {
  const db = await freshDatabase(t)
  const port = await freePort()
  let home = await startGateway(t, db, { MVM_HTTP_PORT: String(port) })
  const other = await startGateway(t, db)
  const tokens = await addUsers(db, ['alice', 'bob'])
  const alice = await enroll(t, other, tokens.alice!)

  const transport = createNodeTransport(home.url, { ca: home.ca })
  const provider = defaultProvider()
  const bob = new MessengerClient({ identity: await enrollDevice({ transport, provider, server: home.url, token: tokens.bob! }), transport, provider })
  t.teardown(async () => { await bob.close(); transport.close() })
  const states: string[] = []
  const inbox: ReceivedMessage[] = []
  await bob.connect({ message: (m) => { inbox.push(m) }, connection: (s) => { states.push(s) } })

  await home.stop('SIGTERM')
  const texts = ['while you were away 1', 'while you were away 2', 'while you were away 3']
  for (const text of texts) await alice.client.sendText('bob', text)
  await new Promise((r) => setTimeout(r, 300))
  t.same(inbox, [], 'nothing arrives while the gateway is down')

  home = await startGateway(t, db, { MVM_HTTP_PORT: String(port) })
  const deadline = Date.now() + 20_000
  while (inbox.length < texts.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  t.same(inbox.map((m) => m.content.text), texts, 'in order, once each')
  t.ok(states.includes('reconnecting'), 'it noticed the loss')
  t.equal(states.filter((s) => s === 'open').length, 2, 'and opened the socket again')
})
