// Tools for the operational tests (TLS scan, shutdown, metrics): a server certificate shaped
// like a production one, a strict parser of the Prometheus text format, a client transport
// that stands in for the Service in front of the gateways, and the worker as a process.
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import forge from 'node-forge'
import { createNodeTransport, type SocketHandlers, type Transport } from '#sdk/index.ts'
import { CERT_DIR, ROOT, testCerts } from './certs.ts'
import { TEST_REDIS_URL } from './services.ts'

interface Teardown { teardown(fn: () => unknown): void }
interface Target { url: string; ca: Buffer }

// --- a production-shaped certificate -----------------------------------------------------------

/**
 * A server certificate for localhost issued by the test CA, shaped like one from a real PKI
 * (cert-manager, a company CA): it names a CRL distribution point. The development certificate
 * of scripts/gen-certs.ts names none, which a scanner rates HIGH ("neither CRL nor OCSP URI");
 * that is a property of the operator's PKI, not of the gateway, so the scan uses this one.
 * The CRL address is on loopback and is never fetched (testssl phones out only with --phone-out).
 */
export function productionLikeCert(t: Teardown): { ca: string; cert: string; key: string } {
  const { ca } = testCerts()
  const caCert = forge.pki.certificateFromPem(readFileSync(ca, 'utf8'))
  const caKey = forge.pki.privateKeyFromPem(readFileSync(join(CERT_DIR, 'ca-key.pem'), 'utf8'))
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const cert = forge.pki.createCertificate()
  cert.publicKey = forge.pki.publicKeyFromPem(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString())
  cert.serialNumber = '00' + randomBytes(16).toString('hex')
  cert.validity.notBefore = new Date(Date.now() - 60_000)
  cert.validity.notAfter = new Date(Date.now() + 90 * 86_400_000)
  cert.setSubject([{ name: 'commonName', value: 'localhost' }, { name: 'organizationName', value: 'MobiVisor Messenger (test)' }])
  cert.setIssuer(caCert.subject.attributes)
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    { name: 'cRLDistributionPoints', altNames: [{ type: 6, value: 'http://127.0.0.1:9/mvm-test-ca.crl' }] },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ])
  cert.sign(caKey, forge.md.sha256.create())
  const dir = mkdtempSync(join(tmpdir(), 'mvm-cert-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const files = { ca, cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem') }
  writeFileSync(files.cert, forge.pki.certificateToPem(cert))
  writeFileSync(files.key, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  return files
}

// --- Prometheus text exposition format 0.0.4 ---------------------------------------------------

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'
export interface Sample { name: string; labels: Record<string, string>; value: number }
export interface Family { name: string; type: MetricType; help?: string; samples: Sample[] }

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const FLOAT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
const SUFFIXES: Record<MetricType, string[]> = {
  counter: [''], gauge: [''], untyped: [''], histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'],
}

export class ExpositionError extends Error {
  override name = 'ExpositionError'
}

export interface ParseOptions {
  /**
   * Also take the other spellings that Go's ParseFloat reads, case-insensitively (`Nan`, `inf`,
   * `+Infinity`): what a Prometheus server would ingest. Off by default: the format's own
   * tokens are `NaN`, `+Inf` and `-Inf`, and OpenMetrics parsers accept nothing else.
   */
  goSpellings?: boolean
}

function parseValue(text: string, where: string, opts: ParseOptions = {}): number {
  if (text === 'NaN') return NaN
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (opts.goSpellings) {
    if (/^nan$/i.test(text)) return NaN
    const inf = /^([+-]?)inf(inity)?$/i.exec(text)
    if (inf) return inf[1] === '-' ? -Infinity : Infinity
  }
  if (!FLOAT.test(text)) throw new ExpositionError(`${where}: "${text}" is not a number`)
  return Number(text)
}

/** Label set `{a="x",b="y"}` starting at `text[0] === '{'`; returns the labels and the rest of the line. */
function parseLabels(text: string, where: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {}
  let i = 1
  for (;;) {
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) }
    const name = /^[^=]*/.exec(text.slice(i))![0]
    if (!LABEL_NAME.test(name)) throw new ExpositionError(`${where}: invalid label name "${name}"`)
    if (name.startsWith('__')) throw new ExpositionError(`${where}: label name "${name}" is reserved`)
    if (Object.hasOwn(labels, name)) throw new ExpositionError(`${where}: label "${name}" given twice`)
    i += name.length
    if (text.slice(i, i + 2) !== '="') throw new ExpositionError(`${where}: expected ="… after label ${name}`)
    i += 2
    let value = ''
    for (;;) {
      const c = text[i]
      if (c === undefined) throw new ExpositionError(`${where}: unterminated label value`)
      if (c === '"') break
      if (c === '\\') {
        const e = text[i + 1]
        if (e === '\\') value += '\\'
        else if (e === '"') value += '"'
        else if (e === 'n') value += '\n'
        else throw new ExpositionError(`${where}: invalid escape \\${e ?? ''} in a label value`)
        i += 2
      } else {
        value += c
        i += 1
      }
    }
    labels[name] = value
    i += 1
    if (text[i] === ',') i += 1
    else if (text[i] !== '}') throw new ExpositionError(`${where}: expected , or } after label ${name}`)
  }
}

/**
 * Parses Prometheus text format 0.0.4 strictly: only `# HELP`, `# TYPE`, sample and empty lines;
 * valid metric and label names, escapes and numbers; one TYPE per family, before its samples;
 * a family's samples in one group; no duplicate series; histograms with cumulative buckets that
 * end at le="+Inf" equal to _count. Throws ExpositionError naming the line.
 */
export function parseExposition(body: string, opts: ParseOptions = {}): Map<string, Family> {
  if (!body.endsWith('\n')) throw new ExpositionError('the body does not end with a line feed')
  const families = new Map<string, Family>()
  const series = new Set<string>()
  const closed = new Set<string>()
  const typed = new Set<string>()
  let current: string | undefined
  const family = (name: string): Family => {
    let f = families.get(name)
    if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }))
    return f
  }
  const familyOfSample = (name: string): string => {
    for (const [base, f] of families) {
      for (const suffix of SUFFIXES[f.type]) if (base + suffix === name) return base
    }
    return name
  }
  const lines = body.slice(0, -1).split('\n')
  lines.forEach((line, index) => {
    const where = `line ${index + 1} (${JSON.stringify(line.slice(0, 120))})`
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([^ ]+)(?: (.*))?$/.exec(line)
      if (!m) throw new ExpositionError(`${where}: a comment other than # HELP or # TYPE`)
      const [, keyword, name, rest = ''] = m
      if (!METRIC_NAME.test(name!)) throw new ExpositionError(`${where}: invalid metric name "${name}"`)
      const f = family(name!)
      if (keyword === 'HELP') {
        if (f.help !== undefined) throw new ExpositionError(`${where}: a second HELP for ${name}`)
        if (rest.replace(/\\[\\n]/g, '').includes('\\')) throw new ExpositionError(`${where}: invalid escape in HELP`)
        f.help = rest.replace(/\\(\\|n)/g, (_s, e: string) => (e === 'n' ? '\n' : '\\'))
      } else {
        if (!TYPES.has(rest as MetricType)) throw new ExpositionError(`${where}: unknown type "${rest}"`)
        if (f.samples.length > 0) throw new ExpositionError(`${where}: TYPE for ${name} after its samples`)
        if (typed.has(name!)) throw new ExpositionError(`${where}: a second TYPE for ${name}`)
        typed.add(name!)
        f.type = rest as MetricType
      }
      return
    }
    const nameMatch = /^[^{ \t]+/.exec(line)
    const name = nameMatch?.[0] ?? ''
    if (!METRIC_NAME.test(name)) throw new ExpositionError(`${where}: invalid metric name "${name}"`)
    let rest = line.slice(name.length)
    let labels: Record<string, string> = {}
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, where))
    const fields = /^[ \t]+([^ \t]+)(?:[ \t]+(-?[0-9]+))?$/.exec(rest)
    if (!fields) throw new ExpositionError(`${where}: expected a value (and an optional integer timestamp) after the series`)
    const value = parseValue(fields[1]!, where, opts)
    const base = familyOfSample(name)
    const f = family(base)
    if (current !== base) {
      if (closed.has(base)) throw new ExpositionError(`${where}: samples of ${base} are not in one group`)
      if (current) closed.add(current)
      current = base
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (series.has(key)) throw new ExpositionError(`${where}: duplicate series`)
    series.add(key)
    if (f.type === 'counter' && !(value >= 0)) throw new ExpositionError(`${where}: a counter must be a non-negative number`)
    if (f.type === 'histogram' && name === `${base}_bucket` && !('le' in labels)) throw new ExpositionError(`${where}: a bucket without le`)
    f.samples.push({ name, labels, value })
  })
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

function checkHistogram(f: Family) {
  const groups = new Map<string, Sample[]>()
  const keyOf = (labels: Record<string, string>) => JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort())
  for (const s of f.samples) {
    const key = keyOf(s.labels)
    groups.set(key, [...(groups.get(key) ?? []), s])
  }
  for (const [key, samples] of groups) {
    const buckets = samples.filter((s) => s.name === `${f.name}_bucket`)
      .map((s) => ({ le: parseValue(s.labels.le!, `${f.name} bucket`), value: s.value }))
    const count = samples.find((s) => s.name === `${f.name}_count`)
    const sum = samples.find((s) => s.name === `${f.name}_sum`)
    if (!count || !sum) throw new ExpositionError(`histogram ${f.name}${key}: _sum or _count missing`)
    const inf = buckets.find((b) => b.le === Infinity)
    if (!inf) throw new ExpositionError(`histogram ${f.name}${key}: no le="+Inf" bucket`)
    if (inf.value !== count.value) throw new ExpositionError(`histogram ${f.name}${key}: +Inf bucket ${inf.value} != _count ${count.value}`)
    const sorted = [...buckets].sort((a, b) => a.le - b.le)
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.le === sorted[i - 1]!.le) throw new ExpositionError(`histogram ${f.name}${key}: le ${sorted[i]!.le} twice`)
      if (sorted[i]!.value < sorted[i - 1]!.value) throw new ExpositionError(`histogram ${f.name}${key}: buckets are not cumulative`)
    }
  }
}

/** The sum of a family's samples named `name` whose labels include `match`; 0 when there are none. */
export function valueOf(families: Map<string, Family>, name: string, match: Record<string, string> = {}): number {
  const base = [...families.values()].find((f) => SUFFIXES[f.type].some((s) => f.name + s === name))
  return (base?.samples ?? [])
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0)
}

export interface Scrape { status: number; contentType: string; body: string }

export function getMetrics(port: number, path = '/metrics'): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on port ${port} timed out`)))
    req.on('error', reject)
  })
}

/** GET /metrics, answered 200 and parsed (strictly unless `opts` say otherwise). */
export async function scrape(port: number, opts: ParseOptions = {}): Promise<Map<string, Family>> {
  const res = await getMetrics(port)
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`)
  return parseExposition(res.body, opts)
}

// --- raw HTTPS ------------------------------------------------------------------------------------

export interface Answer { status: number; headers: http.IncomingHttpHeaders; body: any }

/** One HTTPS request on its own connection; the body is sent as it is given (a string) or as JSON. */
export function httpsRequest(gw: Target, opts: { method?: string; path: string; token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Answer> {
  const payload = opts.body === undefined ? undefined : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body))
  const headers: Record<string, string> = { ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}), ...opts.headers }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  return new Promise((resolve, reject) => {
    const req = https.request(`${gw.url}${opts.path}`, { method: opts.method ?? (payload ? 'POST' : 'GET'), headers, ca: gw.ca, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown = text
        try { body = JSON.parse(text) } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${opts.path} timed out`)))
    req.on('error', reject)
    req.end(payload)
  })
}

// --- the Service in front of the gateways -------------------------------------------------------

export interface Balanced {
  transport: Transport
  /** Close codes of every socket the SDK had open, in order. */
  closeCodes: number[]
  /** Ids of envelopes the SDK sent over REST (its retry path when a socket goes away mid-send). */
  restSends: string[]
  /** Of those, the ids the gateway answered as a duplicate: stored before, by an earlier attempt. */
  restDuplicates: string[]
  /** Ids answered with 'sent' on a socket, by the gateway URL that answered. */
  socketAnswers: Map<string, string>
  /** Takes a gateway out of rotation, as a Service does once a pod is terminating. */
  remove(url: string): void
}

/**
 * A Transport over several gateways that sends every new request and socket to the first one
 * still in rotation, like a Kubernetes Service, and records what the SDK did through it.
 */
export function balancedTransport(targets: Target[]): Balanced {
  const inner = targets.map((g) => ({ url: g.url, transport: createNodeTransport(g.url, { ca: g.ca }), inRotation: true }))
  const pick = () => {
    const target = inner.find((i) => i.inRotation)
    if (!target) throw new Error('no gateway in rotation')
    return target
  }
  const b: Balanced = {
    closeCodes: [],
    restSends: [],
    restDuplicates: [],
    socketAnswers: new Map(),
    remove(url) { for (const i of inner) if (i.url === url) i.inRotation = false },
    transport: {
      async request<T>(method: 'GET' | 'POST', path: string, opts?: { body?: unknown; token?: string }): Promise<T> {
        if (!(method === 'POST' && path === '/v1/envelopes')) return pick().transport.request<T>(method, path, opts)
        const id = String((opts?.body as { id?: unknown } | undefined)?.id)
        b.restSends.push(id)
        const answer = await pick().transport.request<T>(method, path, opts)
        if ((answer as { duplicate?: unknown }).duplicate === true) b.restDuplicates.push(id)
        return answer
      },
      socket(path, token, handlers: SocketHandlers) {
        const target = pick()
        return target.transport.socket(path, token, {
          ...handlers,
          onMessage(text) {
            if (text.startsWith('{"type":"sent"')) b.socketAnswers.set(String((JSON.parse(text) as { id?: unknown }).id), target.url)
            handlers.onMessage(text)
          },
          onClose(code, reason) {
            b.closeCodes.push(code)
            handlers.onClose(code, reason)
          },
        })
      },
      close() { for (const i of inner) i.transport.close() },
    },
  }
  return b
}

// --- the worker as a process --------------------------------------------------------------------

export interface WorkerProcess {
  process: ChildProcess
  output(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** `node --import tsx worker/src/main.ts` with the test services; killed at teardown if still running. */
export function startWorkerProcess(t: Teardown, env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'worker/src/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: TEST_REDIS_URL, MVM_HTTP_HOST: '127.0.0.1', MVM_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return { process: child, output: () => output, exited }
}

/** Signs in to the admin API of `gw` like the portal: the session cookie and the CSRF token on every call. */
export async function adminSession(gw: Target, username: string, password: string) {
  const login = await httpsRequest(gw, { path: '/admin/v1/login', body: { username, password } })
  if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`)
  const cookie = String(login.headers['set-cookie']).split(';')[0]!
  const headers = { cookie, 'x-csrf-token': login.body.csrfToken as string }
  return (method: string, path: string, body?: unknown) => httpsRequest(gw, { method, path, headers, ...(body === undefined ? {} : { body }) })
}
