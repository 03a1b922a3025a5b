// mvchat: the terminal client, built on the SDK the mobile apps use.
// Its identity keys and history live in an encrypted local store (DESIGN §5) under the profile
// folder, unlocked with a PIN typed at a prompt or given in MVM_PIN for scripts.
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import {
  ApiError, createNodeTransport, defaultProvider, enrollDevice, LocalStore, MessengerClient, StoreError,
  type ClientState, type DeviceIdentity, type ReceivedMessage,
} from '#sdk/index.ts'
import { loadLocalEnv } from '#core/local-env.ts'

const USAGE = `usage: mvchat [--profile DIR] <command>
  enroll LINK | --server URL --token TOKEN [--ca FILE] [--name DEVICE-NAME]
                           LINK: the mobivisor://enroll?… link an administrator handed out
                           (--ca defaults to $MVM_CA_FILE)
  send <username> <text...>
  receive [--follow]
  chat <username>          interactive: type a line to send it, Ctrl-D to quit
  history [username]
  whoami
The PIN is asked for at a prompt, or read from MVM_PIN. The profile folder defaults to
$MVM_PROFILE or ~/.mobivisor-messenger.`

const HISTORY_LIMIT = 2000
const SEEN_LIMIT = 20_000

interface Settings { ca: string | null }
interface Entry { at: string; direction: 'in' | 'out'; peer: string; from: string; text: string; id: string }

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    profile: { type: 'string' }, server: { type: 'string' }, token: { type: 'string' }, ca: { type: 'string' },
    name: { type: 'string' }, follow: { type: 'boolean', short: 'f', default: false }, help: { type: 'boolean', short: 'h' },
  },
})
loadLocalEnv()
const profile = values.profile ?? process.env.MVM_PROFILE ?? join(homedir(), '.mobivisor-messenger')
const provider = defaultProvider()
const [command, ...args] = positionals

function fail(message: string, code = 1): never {
  console.error(message)
  process.exit(code)
}

/** Reads a PIN from the terminal without echoing it (raw mode: Enter ends, Backspace edits, Ctrl-C quits). */
async function askPin(prompt: string): Promise<string> {
  if (process.env.MVM_PIN) return process.env.MVM_PIN
  const stdin = process.stdin
  if (!stdin.isTTY) fail('no PIN: set MVM_PIN or run in a terminal', 2)
  process.stdout.write(prompt)
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  stdin.resume()
  return new Promise<string>((resolve) => {
    let pin = ''
    const finish = () => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stdout.write('\n')
      resolve(pin)
    }
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish()
        if (ch === '\u0003' || ch === '\u0004') {
          stdin.setRawMode(false)
          process.stdout.write('\n')
          process.exit(130)
        }
        if (ch === '\u007f' || ch === '\b') pin = pin.slice(0, -1)
        else if (ch >= ' ') pin += ch
      }
    }
    stdin.on('data', onData)
  })
}

async function openStore(): Promise<LocalStore> {
  if (!existsSync(join(profile, 'store.json'))) fail(`no profile in ${profile}: run "mvchat --profile ${profile} enroll ..." first`, 2)
  try {
    return await LocalStore.open(profile, await askPin('PIN: '), { provider })
  } catch (err) {
    if (err instanceof StoreError) fail(`${err.code}: ${err.message}`)
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') fail(`no profile in ${profile}: run "mvchat enroll" first`, 2)
    throw err
  }
}

async function connectClient(store: LocalStore) {
  const identity = (await store.get('identity')) as DeviceIdentity | undefined
  if (!identity) fail(`the profile in ${profile} has no enrolled device`, 2)
  const settings = ((await store.get('settings')) ?? { ca: null }) as Settings
  const transport = createNodeTransport(identity.server, settings.ca ? { ca: settings.ca } : {})
  const seen = new Map(Object.entries(((await store.get('seen')) ?? {}) as Record<string, string>))
  const state: ClientState = {
    acceptedSeq: (d, m) => seen.get(`${d}/${m}`),
    async markAccepted(d, m, seq) {
      seen.set(`${d}/${m}`, seq)
      while (seen.size > SEEN_LIMIT) seen.delete(seen.keys().next().value!)
      await store.put('seen', Object.fromEntries(seen))
    },
  }
  return { client: new MessengerClient({ identity, transport, provider, state }), transport }
}

async function record(store: LocalStore, entry: Entry) {
  const history = ((await store.get('history')) ?? []) as Entry[]
  history.push(entry)
  await store.put('history', history.slice(-HISTORY_LIMIT))
}

function show(e: Entry) {
  const when = e.at.slice(0, 16).replace('T', ' ')
  console.log(e.direction === 'in' ? `${when}  ${e.from}: ${e.text}` : `${when}  you → ${e.peer}: ${e.text}`)
}

async function toEntry(client: MessengerClient, m: ReceivedMessage): Promise<Entry> {
  const peer = (await client.profile(m.peerUserId).catch(() => ({ username: m.peerUserId }))).username
  const from = m.outgoing ? 'you' : peer
  return { at: m.sentAt, direction: m.outgoing ? 'out' : 'in', peer, from, text: m.content.text, id: m.id }
}

function explain(err: unknown): never {
  if (err instanceof ApiError) fail(`${err.code}: ${err.message}`)
  const e = err as NodeJS.ErrnoException
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND') fail(`cannot reach the server (${e.code})`)
  if (e.code === 'ECONNRESET' || e.message === 'socket hang up') fail('the server closed the connection: is the URL right? The gateway speaks https://')
  if (e.code?.startsWith('ERR_TLS') || e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || e.code === 'SELF_SIGNED_CERT_IN_CHAIN' || e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    fail(`the server's certificate is not trusted (${e.code}): pass --ca with your organisation's CA file at enrollment`)
  }
  fail(e.message)
}

/** Server and token from an enrollment link (as the portal and the API hand it out) or the two options; --server wins over the link's. */
function enrollmentTarget(): { server: string; token: string } {
  const link = [args[0], values.token].find((v) => v?.startsWith('mobivisor:'))
  if (link) {
    let params: URLSearchParams
    try { params = new URL(link).searchParams } catch { fail('the enrollment link is not a valid mobivisor://enroll link', 2) }
    const server = values.server ?? params.get('server')
    const token = params.get('token')
    if (!server || !token) fail('the enrollment link lacks its server or token: copy the whole link', 2)
    return { server, token }
  }
  if (!values.server || !values.token) fail('enroll needs the enrollment link, or --server URL and --token TOKEN', 2)
  return { server: values.server, token: values.token }
}

async function main() {
  if (values.help || !command) fail(USAGE, values.help ? 0 : 2)
  switch (command) {
    case 'enroll': {
      const { server, token } = enrollmentTarget()
      const caFile = values.ca ?? process.env.MVM_CA_FILE
      let ca: string | null = null
      try {
        ca = caFile ? readFileSync(caFile, 'utf8') : null
      } catch (err) {
        fail(`cannot read the CA file ${caFile}: ${(err as NodeJS.ErrnoException).code}`, 2)
      }
      const pin = await askPin('choose a PIN (at least 6 characters): ')
      if (pin.length < 6) fail('the PIN must have at least 6 characters', 2)
      if (!process.env.MVM_PIN && (await askPin('repeat the PIN: ')) !== pin) fail('the PINs differ', 2)
      const transport = createNodeTransport(server, ca ? { ca } : {})
      const identity = await enrollDevice({ transport, provider, server, token, platform: 'terminal', ...(values.name ? { name: values.name } : {}) })
      transport.close()
      const store = await LocalStore.create(profile, pin, { provider })
      await store.put('identity', identity)
      await store.put('settings', { ca } satisfies Settings)
      console.log(`enrolled as ${identity.username} (device ${identity.deviceId}); profile in ${profile}`)
      return
    }
    case 'whoami': {
      const identity = (await (await openStore()).get('identity')) as DeviceIdentity
      console.log(`${identity.username} on ${identity.server} (device ${identity.deviceId})`)
      return
    }
    case 'send': {
      const [to, ...words] = args
      if (!to || words.length === 0) fail('usage: mvchat send <username> <text...>', 2)
      const store = await openStore()
      const { client, transport } = await connectClient(store)
      const result = await client.sendText(to, words.join(' '))
      await record(store, { at: result.sentAt, direction: 'out', peer: to, from: 'you', text: words.join(' '), id: result.id })
      console.log(`sent ${result.id}${result.duplicate ? ' (already sent before)' : ''}`)
      transport.close()
      return
    }
    case 'receive':
    case 'chat': {
      const peer = command === 'chat' ? args[0] : undefined
      if (command === 'chat' && !peer) fail('usage: mvchat chat <username>', 2)
      const store = await openStore()
      const { client, transport } = await connectClient(store)
      if (peer) {
        const entry = await client.lookup(peer)
        console.error(`chatting with ${entry.username} (${entry.displayName}); type a line and press Enter to send, Ctrl-D to quit`)
      }
      let synced!: () => void
      let received = 0
      let lost = false
      const firstSync = new Promise<void>((r) => { synced = r })
      await client.connect({
        async message(m) {
          const entry = await toEntry(client, m)
          await record(store, entry)
          received++
          show(entry)
        },
        rejected: () => console.error('a message could not be verified and was discarded'),
        synced: () => synced(),
        connection: (s) => {
          if (!values.follow && !peer) return
          if (s === 'reconnecting' && !lost) console.error('connection lost; reconnecting…')
          if (s === 'open' && lost) console.error('connected again')
          if (s === 'reconnecting') lost = true
          if (s === 'open') lost = false
        },
        // Final: the account was locked or offboarded, the device revoked, or the user taken off the
        // whitelist. A script must see it, so the command ends with status 1.
        failed: (err, { closeReason }) => fail(`the server refused this device: ${closeReason ? `${closeReason} (${err.code})` : err.code}`),
      })
      await firstSync
      if (command === 'receive' && !values.follow) {
        if (received === 0) console.error('no new messages')
        await client.close()
        transport.close()
        return
      }
      if (peer) {
        const rl = createInterface({ input: process.stdin })
        for await (const line of rl) {
          const text = line.trim()
          if (!text) continue
          try {
            const result = await client.sendText(peer, text)
            await record(store, { at: result.sentAt, direction: 'out', peer, from: 'you', text, id: result.id })
          } catch (err) {
            console.error(err instanceof ApiError ? `not sent: ${err.code}: ${err.message}` : `not sent: ${(err as Error).message}`)
          }
        }
        await client.close()
        transport.close()
        return
      }
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      await client.close()
      transport.close()
      return
    }
    case 'history': {
      const store = await openStore()
      const history = ((await store.get('history')) ?? []) as Entry[]
      const peer = args[0]?.toLowerCase()
      for (const e of history) if (!peer || e.peer.toLowerCase() === peer) show(e)
      return
    }
    default:
      fail(USAGE, 2)
  }
}

main().catch(explain)
