// Prometheus metrics of the gateway and the worker as an operator scrapes them: plain HTTP on
// MVM_METRICS_PORT, strict text exposition format, counters that follow real traffic and errors.
import t from 'tap'
import { WebSocket } from 'ws'
import { freshDatabase } from './support/services.ts'
import { freePort, startGateway } from './support/gateway.ts'
import { addUsers, enroll, type Device } from './support/people.ts'
import {
  getMetrics, httpsRequest, parseExposition, scrape, startWorkerProcess, valueOf,
} from './support/operations.ts'

const N = 10
/** Parse as a Prometheus server ingests, for the tests of values; the format itself is checked strictly. */
const PROMETHEUS = { goSpellings: true }

/** Connects a device and resolves once the gateway has handed over everything stored for it. */
function online(device: Device): Promise<void> {
  return new Promise((resolve, reject) => {
    device.client.connect({ message: (m) => { device.inbox.push(m) }, synced: resolve }).catch(reject)
  })
}

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await read()
    if (ok(v) || Date.now() > deadline) return v
    await new Promise((r) => setTimeout(r, 50))
  }
}

t.test('the exposition parser is strict', async (t) => {
  const good = [
    '# HELP a_total things, with \\\\ and \\n escaped',
    '# TYPE a_total counter',
    'a_total{code="X",path="/a\\"b\\\\c\\n"} 3',
    'a_total{code="Y",} 1.5e3 1700000000000',
    '',
    '# TYPE h histogram',
    'h_bucket{le="0.5"} 1',
    'h_bucket{le="+Inf"} 2',
    'h_sum 0.75',
    'h_count 2',
    '# TYPE g gauge',
    'g NaN',
    'g{x="1"} -Inf',
    'g{x="2"} +Inf',
    '',
  ].join('\n')
  const families = parseExposition(good)
  t.equal(families.get('a_total')?.type, 'counter')
  t.equal(valueOf(families, 'a_total'), 1503)
  t.same(families.get('a_total')?.samples[0]?.labels, { code: 'X', path: '/a"b\\c\n' })
  t.equal(valueOf(families, 'h_count'), 2)
  t.ok(Number.isNaN(families.get('g')!.samples[0]!.value))

  const bad: [string, string][] = [
    ['no final line feed', 'a 1'],
    ['another comment', '# just a comment\na 1\n'],
    ['invalid metric name', '1a 1\n'],
    ['invalid label name', 'a{1x="y"} 1\n'],
    ['reserved label name', 'a{__name__="y"} 1\n'],
    ['unquoted label value', 'a{x=y} 1\n'],
    ['bad escape', 'a{x="\\t"} 1\n'],
    ['duplicate label', 'a{x="1",x="2"} 1\n'],
    ['no value', 'a{x="1"}\n'],
    ['not a number', 'a 1,5\n'],
    ['float timestamp', 'a 1 1.5\n'],
    ['trailing garbage', 'a 1 2 3\n'],
    ['unknown type', '# TYPE a countr\na 1\n'],
    ['TYPE after samples', 'a 1\n# TYPE a gauge\n'],
    ['second TYPE', '# TYPE a gauge\n# TYPE a gauge\na 1\n'],
    ['bad escape in HELP', '# HELP a x\\ty\na 1\n'],
    ['second HELP', '# HELP a x\n# HELP a y\na 1\n'],
    ['duplicate series', 'a{x="1"} 1\na{x="1"} 2\n'],
    ['split group', 'a 1\nb 1\na{x="1"} 1\n'],
    ['negative counter', '# TYPE c counter\nc -1\n'],
    ['histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['histogram not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['histogram count mismatch', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'],
  ]
  for (const [what, text] of bad) t.throws(() => parseExposition(text), { name: 'ExpositionError' }, what)
  t.throws(() => parseExposition('g Nan\n'), { name: 'ExpositionError' }, 'NaN spelled "Nan"')
  t.ok(Number.isNaN(parseExposition('g Nan\n', PROMETHEUS).get('g')!.samples[0]!.value), 'which Prometheus itself (Go ParseFloat) reads')
})

t.test('gateway: /metrics follows connections, messages, deliveries, latency and errors', async (t) => {
  const db = await freshDatabase(t)
  const port = await freePort()
  const gw = await startGateway(t, db, { MVM_METRICS_PORT: String(port) })

  const first = await getMetrics(port)
  t.equal(first.status, 200)
  t.match(first.contentType, /^text\/plain; version=0\.0\.4/, 'the text format\'s content type')
  t.doesNotThrow(() => parseExposition(first.body), 'the body parses as Prometheus text format')
  const before = parseExposition(first.body, PROMETHEUS)
  const expected: [string, string][] = [
    ['mvm_ws_connections', 'gauge'],
    ['mvm_messages_accepted_total', 'counter'],
    ['mvm_deliveries_sent_total', 'counter'],
    ['mvm_delivery_latency_seconds', 'histogram'],
    ['mvm_errors_total', 'counter'],
  ]
  for (const [name, type] of expected) t.equal(before.get(name)?.type, type, `${name} is a ${type}`)
  for (const suffix of ['_bucket', '_sum', '_count']) {
    t.ok(before.get('mvm_delivery_latency_seconds')!.samples.some((s) => s.name === `mvm_delivery_latency_seconds${suffix}`), `the histogram has ${suffix}`)
  }
  t.equal((await getMetrics(port, '/')).status, 404, 'only /metrics is served')

  t.test('back-to-back scrapes, as by a pair of Prometheus replicas, parse strictly', async (t) => {
    const problems: string[] = []
    for (let round = 0; round < 3; round++) {
      for (const res of await Promise.all([getMetrics(port), getMetrics(port)])) {
        try { parseExposition(res.body) } catch (err) { problems.push((err as Error).message) }
      }
    }
    t.same([...new Set(problems)], [], 'every body parses as Prometheus text format')
  })
  t.equal((await httpsRequest(gw, { path: '/metrics' })).status, 404, 'the public TLS listener does not serve metrics')

  const tokens = await addUsers(db, ['alice', 'bob'])
  const alice = await enroll(t, gw, tokens.alice!)
  const bob = await enroll(t, gw, tokens.bob!)

  t.test('two connected clients exchanging N messages move the counters by at least N', async (t) => {
    await Promise.all([online(alice), online(bob)])
    const connected = await eventually(() => scrape(port, PROMETHEUS), (m) => valueOf(m, 'mvm_ws_connections') === 2)
    t.equal(valueOf(connected, 'mvm_ws_connections'), 2, 'mvm_ws_connections is 2')

    for (let i = 0; i < N / 2; i++) {
      await alice.client.sendText('bob', `to bob ${i}`)
      await bob.client.sendText('alice', `to alice ${i}`)
    }
    await Promise.all([bob.received(N / 2), alice.received(N / 2)])
    const after = await eventually(() => scrape(port, PROMETHEUS), (m) => valueOf(m, 'mvm_deliveries_sent_total') - valueOf(before, 'mvm_deliveries_sent_total') >= N)
    const moved = (name: string) => valueOf(after, name) - valueOf(before, name)
    t.ok(moved('mvm_messages_accepted_total') >= N, `mvm_messages_accepted_total moved by ${moved('mvm_messages_accepted_total')} >= ${N}`)
    t.ok(moved('mvm_deliveries_sent_total') >= N, `mvm_deliveries_sent_total moved by ${moved('mvm_deliveries_sent_total')} >= ${N}`)
    t.ok(moved('mvm_delivery_latency_seconds_count') >= N, `the latency histogram counted ${moved('mvm_delivery_latency_seconds_count')} live deliveries >= ${N}`)
    t.ok(moved('mvm_delivery_latency_seconds_sum') > 0, 'and their latencies add up to more than 0')
    t.equal(valueOf(after, 'mvm_ws_connections'), 2, 'still 2 connections')
  })

  t.test('an invalid request or frame increments mvm_errors_total for its code', async (t) => {
    const token = await bob.client.sessionToken()
    const ws = new WebSocket(`${gw.url.replace(/^https/, 'wss')}/v1/ws`, { headers: { authorization: `Bearer ${token}` }, ca: gw.ca })
    const frames: any[] = []
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())))
    t.teardown(() => ws.terminate())
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    const frame = async (data: string) => {
      const n = frames.filter((f) => f.type === 'error').length
      ws.send(data)
      const ok = await eventually(async () => frames.filter((f) => f.type === 'error').length, (c) => c > n)
      return ok > n ? frames.filter((f) => f.type === 'error').at(-1) : undefined
    }

    const cases: [string, string, () => Promise<{ status?: number; code?: string }>][] = [
      ['a WebSocket frame that is not JSON', 'MVM_FRAME_MALFORMED', async () => ({ code: (await frame('{nope'))?.code })],
      ['a WebSocket frame of an unknown type', 'MVM_FRAME_UNKNOWN', async () => ({ code: (await frame('{"type":"hello"}'))?.code })],
      ['a send frame with an invalid envelope', 'MVM_FRAME_INVALID', async () => ({ code: (await frame('{"type":"send","envelope":{"id":1}}'))?.code })],
      ['a request without a session token', 'MVM_AUTH_FAILED', async () => {
        const res = await httpsRequest(gw, { path: '/v1/users/alice/devices' })
        return { status: res.status, code: res.body?.code }
      }],
      ['a request body that is not JSON', 'MVM_REQUEST_MALFORMED', async () => {
        const res = await httpsRequest(gw, { path: '/v1/envelopes', token, body: '{"id":' })
        return { status: res.status, code: res.body?.code }
      }],
      ['a request body that fails the schema', 'MVM_REQUEST_INVALID', async () => {
        const res = await httpsRequest(gw, { path: '/v1/envelopes', token, body: { id: 'x' } })
        return { status: res.status, code: res.body?.code }
      }],
      ['a request for a route that does not exist', 'MVM_NOT_FOUND', async () => {
        const res = await httpsRequest(gw, { path: '/v1/no-such-route', token })
        return { status: res.status, code: res.body?.code }
      }],
      ['a plain GET of the WebSocket endpoint', 'MVM_UPGRADE_REQUIRED', async () => {
        const res = await httpsRequest(gw, { path: '/v1/ws', token })
        return { status: res.status, code: res.body?.code }
      }],
    ]
    for (const [what, code, act] of cases) {
      t.test(`${what}: mvm_errors_total{code="${code}"} + 1`, async (t) => {
        const m0 = await scrape(port, PROMETHEUS)
        const answer = await act()
        t.equal(answer.code, code, `answered with ${code}`)
        if (answer.status !== undefined) t.ok(answer.status >= 400 && answer.status < 500, `a 4xx (${answer.status})`)
        const m1 = await eventually(() => scrape(port, PROMETHEUS), (m) => valueOf(m, 'mvm_errors_total', { code }) > valueOf(m0, 'mvm_errors_total', { code }), 2_000)
        t.equal(valueOf(m1, 'mvm_errors_total', { code }) - valueOf(m0, 'mvm_errors_total', { code }), 1, `mvm_errors_total{code="${code}"} went up by 1`)
      })
    }
  })
})

t.test('worker: /metrics reports the retention queue and SIGTERM exits 0', async (t) => {
  const db = await freshDatabase(t)
  const port = await freePort()
  const worker = startWorkerProcess(t, { DATABASE_URL: db, MVM_METRICS_PORT: String(port), MVM_SHUTDOWN_GRACE_SECONDS: '10' })
  const deadline = Date.now() + 30_000
  let res = await getMetrics(port).catch(() => undefined)
  while (res?.status !== 200 && Date.now() < deadline && worker.process.exitCode === null) {
    await new Promise((r) => setTimeout(r, 200))
    res = await getMetrics(port).catch(() => undefined)
  }
  if (!t.equal(res?.status, 200, 'the worker serves /metrics', { output: worker.output() })) return
  t.doesNotThrow(() => parseExposition(res!.body), 'the body parses as Prometheus text format')
  const families = parseExposition(res!.body, PROMETHEUS)
  const queue = families.get('mvm_queue_jobs')
  t.equal(queue?.type, 'gauge', 'mvm_queue_jobs is a gauge')
  const states = (queue?.samples ?? []).filter((s) => s.labels.queue === 'retention').map((s) => s.labels.state)
  for (const state of ['waiting', 'active', 'delayed', 'failed']) t.ok(states.includes(state), `mvm_queue_jobs{queue="retention",state="${state}"}`)
  t.ok((queue?.samples ?? []).every((s) => s.labels.component === 'worker' && Number.isInteger(s.value) && s.value >= 0), 'counts of jobs, labelled component="worker"')

  const t0 = Date.now()
  worker.process.kill('SIGTERM')
  const exit = await worker.exited
  t.same(exit, { code: 0, signal: null }, `SIGTERM: exit code 0 (after ${Date.now() - t0} ms)`, { output: worker.output() })
  t.ok(Date.now() - t0 < 10_000, 'within the grace period')
})
