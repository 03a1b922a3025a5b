// The gateway's TLS as an outside scanner grades it: Debian's testssl.sh 3.0.8 against a real
// gateway process on loopback, every SSL Labs A+ criterion asserted from its JSON findings.
// The scan is the default one minus client simulation (informational only) and with the cipher
// enumeration per protocol (-E) instead of across protocols (-e): about a minute on 2 cores.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freshDatabase } from './support/services.ts'
import { startGateway } from './support/gateway.ts'
import { productionLikeCert } from './support/operations.ts'

const TESTSSL = '/usr/bin/testssl'
const SCAN_TIMEOUT_MS = 170_000
const CHECKS = ['-p', '-s', '-f', '-P', '-S', '-h', '-U', '-E']
const BAD = new Set(['MEDIUM', 'HIGH', 'CRITICAL'])
const REPORTED = new Set(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL', 'WARN', 'FATAL'])

interface Finding { id: string; severity: string; finding: string; ip?: string; port?: string }

function installed(): boolean {
  try {
    accessSync(TESTSSL, constants.X_OK)
    return true
  } catch {
    return false
  }
}

t.setTimeout(240_000)

t.test('testssl.sh grades the gateway\'s TLS at A+', async (t) => {
  if (!installed()) {
    t.fail(`${TESTSSL} is missing: the TLS scan needs Debian's testssl.sh 3.0.8 (apt-get install testssl.sh)`)
    return
  }
  const version = await new Promise<string>((resolve) => {
    const v = spawn(TESTSSL, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    v.stdout.on('data', (d) => { out += d })
    v.on('close', () => resolve(/testssl\s+(\S+)/.exec(out.replace(/\x1b\[[0-9;]*m/g, ''))?.[1] ?? out.slice(0, 200)))
  })
  t.match(version, /^3\.0\./, `testssl ${version}: the assertions read the JSON ids of testssl 3.0`)
  const db = await freshDatabase(t)
  const cert = productionLikeCert(t)
  const gw = await startGateway(t, db, { MVM_TLS_CERT_FILE: cert.cert, MVM_TLS_KEY_FILE: cert.key })
  const target = new URL(gw.url)
  // Only loopback is a valid target: the name the certificate carries, pinned to 127.0.0.1.
  t.equal(target.hostname, 'localhost', 'the target is the local gateway')

  const dir = mkdtempSync(join(tmpdir(), 'mvm-testssl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const jsonFile = join(dir, 'findings.json')
  const args = [
    '--add-ca', cert.ca, '--jsonfile', jsonFile, '--quiet', '--color', '0', '--warnings', 'off',
    '--sneaky', '--ip', '127.0.0.1', '--nodns', 'min', ...CHECKS, `https://localhost:${gw.port}`,
  ]
  const started = Date.now()
  const scan = spawn(TESTSSL, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let output = ''
  scan.stdout.on('data', (d) => { output += d })
  scan.stderr.on('data', (d) => { output += d })
  const killGroup = () => { try { process.kill(-scan.pid!, 'SIGKILL') } catch { /* already gone */ } }
  t.teardown(killGroup)
  const timer = setTimeout(killGroup, SCAN_TIMEOUT_MS)
  const [code, signal] = await once(scan, 'exit')
  clearTimeout(timer)
  const seconds = Math.round((Date.now() - started) / 1000)
  t.comment(`testssl ${args.join(' ')}: exit ${code ?? signal} after ${seconds} s`)
  if (!t.ok(existsSync(jsonFile) && signal === null, `the scan finished and wrote its findings (within ${SCAN_TIMEOUT_MS / 1000} s)`, { output: output.slice(-3000) })) return

  const findings = JSON.parse(readFileSync(jsonFile, 'utf8')) as Finding[]
  const byId = new Map(findings.map((f) => [f.id, f]))
  const reported = findings.filter((f) => REPORTED.has(f.severity)).map((f) => `${f.severity} ${f.id}: ${f.finding}`)
  const diag = { findingsAtLowOrAbove: reported }
  const finding = (id: string) => byId.get(id)?.finding

  t.test('the scan ran against the local gateway and completed', async (t) => {
    t.same(findings.filter((f) => f.id === 'scanProblem' || f.severity === 'FATAL').map((f) => f.finding), [], 'no scan problem')
    t.ok(findings.every((f) => f.ip === undefined || /(^|\/)127\.0\.0\.1$/.test(f.ip)), 'every finding is for 127.0.0.1')
    t.ok(findings.every((f) => f.port === undefined || f.port === String(gw.port)), `every finding is for port ${gw.port}`)
    for (const id of ['TLS1_2', 'cipher_order', 'cert_chain_of_trust', 'HSTS_time', 'heartbleed', 'ROBOT', 'secure_renego', 'LUCKY13']) {
      t.ok(byId.has(id), `has the ${id} check`)
    }
    t.equal(finding('cert_chain_of_trust'), 'passed.', 'the certificate chains to the test CA')
  })

  t.test('protocols: TLS 1.2 and 1.3 only', async (t) => {
    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) t.equal(finding(id), 'not offered', `${id} not offered`)
    t.match(finding('TLS1_2'), /^offered/, 'TLS 1.2 offered')
    t.match(finding('TLS1_3'), /^offered/, 'TLS 1.3 offered')
    t.equal(finding('fallback_SCSV'), 'no protocol below TLS 1.2 offered')
  })

  t.test('cipher suites: every one offered is forward-secret and AEAD', async (t) => {
    // -E lists each suite the server accepts, per protocol: "TLS 1.2 xc02f ECDHE-RSA-AES128-GCM-SHA256 ECDH 253 AESGCM 128 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    const suites = findings.filter((f) => /^cipher-/.test(f.id)).map((f) => {
      const m = /^(\S+ \S+)\s+(x[0-9a-f]+)\s+(\S+)\s+(\S+)(?: \d+)?\s+(\S+)\s+\d+\s+(\S+)/.exec(f.finding)
      return { id: f.id, line: f.finding, protocol: m?.[1], kx: m?.[4], enc: m?.[5], iana: m?.[6] }
    })
    t.ok(suites.some((s) => s.protocol === 'TLS 1.2') && suites.some((s) => s.protocol === 'TLS 1.3'), 'suites were enumerated for TLS 1.2 and 1.3', diag)
    t.same(suites.filter((s) => !/^cipher-tls1_[23]_/.test(s.id)).map((s) => s.line), [], 'no suite for any other protocol')
    t.same(suites.filter((s) => !s.iana).map((s) => s.line), [], 'every cipher finding is readable')
    const forwardSecret = (s: typeof suites[number]) => /^(ECDH|DH)$/.test(s.kx ?? '') && (/^TLS_(ECDHE|DHE)_/.test(s.iana!) || (s.protocol === 'TLS 1.3' && /^TLS_(AES|CHACHA20)_/.test(s.iana!)))
    const aead = (s: typeof suites[number]) => /^(AESGCM|ChaCha20|AESCCM8?)$/.test(s.enc ?? '') && /(_GCM_SHA\d+|_CHACHA20_POLY1305_SHA256|_CCM(_8)?(_SHA256)?)$/.test(s.iana!)
    t.same(suites.filter((s) => !forwardSecret(s)).map((s) => s.line), [], 'all forward-secret')
    t.same(suites.filter((s) => !aead(s)).map((s) => s.line), [], 'all AEAD')
    // the server's own order per protocol names the same suites
    for (const [id, protocol] of [['cipherorder_TLSv1_2', 'TLS 1.2'], ['cipherorder_TLSv1_3', 'TLS 1.3']] as const) {
      const listed = (finding(id) ?? '').split(/\s+/).filter(Boolean).sort()
      const enumerated = findings.filter((f) => f.id.startsWith(`cipher-tls1_${protocol.slice(-1)}_`)).map((f) => f.finding.split(/\s+/)[3]!).sort()
      t.same(listed, enumerated, `${id} lists the enumerated ${protocol} suites`)
    }
    t.equal(byId.get('PFS')?.severity, 'OK', 'forward secrecy offered')
    for (const id of ['cipherlist_NULL', 'cipherlist_aNULL', 'cipherlist_EXPORT', 'cipherlist_LOW', 'cipherlist_3DES_IDEA', 'cipherlist_AVERAGE']) {
      t.equal(finding(id), 'not offered', `${id} not offered`)
    }
  })

  t.test('HSTS: max-age of at least a year', async (t) => {
    const seconds = Number(/=(\d+) seconds/.exec(finding('HSTS_time') ?? '')?.[1] ?? NaN)
    t.ok(seconds >= 31_536_000, `HSTS max-age ${seconds} >= 31536000 (${finding('HSTS_time')})`)
  })

  t.test('no finding of severity MEDIUM, HIGH or CRITICAL', async (t) => {
    const bad = findings.filter((f) => BAD.has(f.severity)).map((f) => `${f.severity} ${f.id}: ${f.finding}`)
    t.same(bad, [], bad.length === 0 ? 'none' : `findings at MEDIUM or above (all at LOW or above: ${reported.join('; ')})`, diag)
  })
})
