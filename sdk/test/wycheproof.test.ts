import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNativeProvider, pureProvider, type CryptoProvider } from '#sdk/crypto/index.ts'
import { VectorFileError, runWycheproof } from '#sdk/crypto/wycheproof.ts'

const vectorsDir = process.env.MVM_VECTORS_DIR ?? fileURLToPath(new URL('../../../shared/vectors/wycheproof/', import.meta.url))
const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const native = createNativeProvider()
const providers: CryptoProvider[] = [native, pureProvider]

t.test('every Wycheproof file passes with 0 failures on both providers', async (t) => {
  const files = (await readdir(vectorsDir)).filter((f) => f.endsWith('.json')).sort()
  const algorithms = new Set<string>()
  for (const file of files) {
    const json = JSON.parse(await readFile(join(vectorsDir, file), 'utf8'))
    const result = runWycheproof(json, providers, file)
    algorithms.add(result.algorithm)
    t.equal(result.failed, 0, `${file}: 0 failed`, { failures: result.failures.slice(0, 5) })
    t.equal(result.passed, json.numberOfTests, `${file}: all ${json.numberOfTests} cases ran`)
  }
  t.same([...algorithms].sort(), ['AES-CBC-PKCS5', 'EDDSA', 'HKDF-SHA-256', 'HMACSHA256', 'XDH'], 'all five primitives are covered')
})

// tcId 1 is RFC 7748's first X25519 vector with the last byte of the shared secret changed.
const wrongVector = {
  algorithm: 'XDH',
  schema: 'xdh_comp_schema_v1.json',
  numberOfTests: 2,
  testGroups: [{
    type: 'XdhComp',
    curve: 'curve25519',
    tests: [
      {
        tcId: 1, comment: 'wrong expected output', flags: [], result: 'valid',
        public: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
        private: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
        shared: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28500',
      },
      {
        tcId: 2, comment: 'correct', flags: [], result: 'valid',
        public: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
        private: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
        shared: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
      },
    ],
  }],
}

const hmacVector = (result: string, tag: string) => ({
  algorithm: 'HMACSHA256',
  testGroups: [{ type: 'MacTest', keySize: 256, tagSize: 128, tests: [{ tcId: 1, comment: '', flags: [], key: '00'.repeat(32), msg: '', result, tag }] }],
})
const EMPTY_TAG_128 = 'b613679a0814d9ec772f95d778c35fc5' // HMAC-SHA256(32 zero bytes, "") truncated to 128 bits

t.test('a valid case with a wrong expected output is reported as a failure', async (t) => {
  const result = runWycheproof(wrongVector, providers, 'wrong.json')
  t.equal(result.passed, 1)
  t.equal(result.failed, 1)
  t.match(result.failures[0], { tcId: 1, reason: 'wrong output', outcomes: { native: { kind: 'wrong' }, pure: { kind: 'wrong' } } })
})

t.test('MAC vectors compare the truncated tag: a correct tag marked invalid fails, a wrong one marked invalid passes', async (t) => {
  t.equal(runWycheproof(hmacVector('valid', EMPTY_TAG_128), providers).passed, 1)
  t.equal(runWycheproof(hmacVector('invalid', EMPTY_TAG_128), providers).failed, 1)
  t.equal(runWycheproof(hmacVector('invalid', `${EMPTY_TAG_128.slice(0, -1)}4`), providers).passed, 1)
  t.equal(runWycheproof(hmacVector('acceptable', '00'.repeat(16)), providers).passed, 1)
})

t.test('providers that disagree with each other fail the case, even on an "acceptable" one', async (t) => {
  const liar: CryptoProvider = { ...native, name: 'pure', x25519: (priv, pub) => native.x25519(priv, pub).map((b) => b ^ 1) }
  const acceptable = structuredClone(wrongVector)
  for (const c of acceptable.testGroups[0]!.tests) c.result = 'acceptable'
  const result = runWycheproof(acceptable, [native, liar])
  t.equal(result.failed, 2)
  t.same(result.failures.map((f) => f.reason), ['providers disagree', 'providers disagree'])
})

t.test('an unknown algorithm or a malformed file is a VectorFileError naming the file', async (t) => {
  t.throws(() => runWycheproof({ algorithm: 'ECDSA', testGroups: [{ type: 'EcdsaVerify', tests: [] }] }, providers, 'ecdsa.json'), VectorFileError)
  t.throws(() => runWycheproof({ algorithm: 'XDH', testGroups: [{ type: 'XdhComp', curve: 'curve448', tests: [] }] }, providers, 'x448.json'), /x448\.json: unsupported curve/)
  t.throws(() => runWycheproof({ algorithm: 'XDH', testGroups: [{ type: 'toString', tests: [] }] }, providers, 'odd.json'), /odd\.json/)
  t.throws(() => runWycheproof([1, 2], providers, 'array.json'), /array\.json: not a Wycheproof file/)
  const bad = structuredClone(wrongVector) as { testGroups: Array<{ tests: Array<Record<string, unknown>> }> }
  bad.testGroups[0]!.tests[0]!.public = 'zz'
  t.throws(() => runWycheproof(bad, providers, 'bad.json'), /bad\.json: tcId 1: field public is not hex/)
})

function cli(...files: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'scripts/vectors.ts', ...files], { cwd: repoRoot }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

t.test('the CLI exits 1 for a failing case, 2 for an unusable file, 0 when all pass', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-vectors-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const wrong = join(dir, 'wrong.json')
  const unknown = join(dir, 'unknown.json')
  const notJson = join(dir, 'not.json')
  const good = join(dir, 'good.json')
  await writeFile(wrong, JSON.stringify(wrongVector))
  await writeFile(unknown, JSON.stringify({ algorithm: 'RSA', testGroups: [{ type: 'RsaVerify', tests: [] }] }))
  await writeFile(notJson, 'not json {')
  await writeFile(good, JSON.stringify(hmacVector('valid', EMPTY_TAG_128)))

  const failing = await cli(wrong)
  t.equal(failing.code, 1, 'exit 1')
  t.match(failing.stdout, /tcId 1 \(valid, wrong expected output\): wrong output/)
  t.equal(failing.stdout.trim().split('\n').at(-1), '1 passed, 1 failed')

  const unusable = await cli(unknown, notJson, join(dir, 'missing.json'), good)
  t.equal(unusable.code, 2, 'exit 2')
  t.match(unusable.stderr, /unknown\.json: unsupported test group type "RsaVerify"/)
  t.match(unusable.stderr, /not\.json: not JSON/)
  t.match(unusable.stderr, /missing\.json: cannot read: ENOENT/)
  t.match(unusable.stdout, /good\.json: HMACSHA256: 1 passed, 0 failed/, 'the usable files still run')

  const passing = await cli(good)
  t.equal(passing.code, 0, 'exit 0')
  t.equal(passing.stdout.trim().split('\n').at(-1), '1 passed, 0 failed')
})
