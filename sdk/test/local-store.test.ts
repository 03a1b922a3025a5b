import t, { type Test } from 'tap'
import { mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CryptoError, bytesToHex, createNativeProvider, hexToBytes, open, pureProvider, seal } from '#sdk/crypto/index.ts'
import {
  LocalStore, StoreError, StoreWipedError, WrongPinError, derivePinKey, recordKeys, type KeyProtector, type LocalStoreOptions,
} from '#sdk/store/local-store.ts'

const native = createNativeProvider()
const FAST = { N: 2 ** 10, r: 8, p: 1 } // tests only; the default is N = 2^15
const kat = JSON.parse(readFileSync(new URL('./fixtures/known-answer.json', import.meta.url), 'utf8')).store
const h = hexToBytes

async function folder(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-store-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return join(dir, 'store')
}

const protector = (byte: number): KeyProtector => ({ secret: async () => new Uint8Array(32).fill(byte) })
const storeJson = async (dir: string) => JSON.parse(await readFile(join(dir, 'store.json'), 'utf8'))
const files = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).sort()

t.test('create, put, then open with the same PIN (on the other provider) returns every record', async (t) => {
  const dir = await folder(t)
  const store = await LocalStore.create(dir, '1234', { provider: native, scrypt: FAST })
  await store.put('profile', { displayName: 'Bob', devices: [1, 2] })
  await store.put('draft:ü', 'Grüße 👋')
  await store.put('counter', 42)
  await store.put('counter', 43)

  const again = await LocalStore.open(dir, '1234', { provider: pureProvider })
  t.same(await again.get('profile'), { displayName: 'Bob', devices: [1, 2] })
  t.equal(await again.get('draft:ü'), 'Grüße 👋')
  t.equal(await again.get('counter'), 43)
  t.equal(await again.get('missing'), undefined)
  t.same(await again.list(), ['counter', 'draft:ü', 'profile'])
  t.equal(await again.delete('counter'), true)
  t.equal(await again.delete('counter'), false)
  t.equal(await again.get('counter'), undefined)
  t.same(await (await LocalStore.open(dir, '1234', { provider: native })).list(), ['draft:ü', 'profile'])
  t.notOk((await files(dir)).some((f) => f.includes('.tmp-')), 'no temporary files left behind')
  const stored = await storeJson(dir)
  t.same(Object.keys(stored).sort(), ['encryptedKey', 'failedAttempts', 'kdf', 'protector', 'version'])
  t.same({ ...stored.kdf, salt: typeof stored.kdf.salt }, { name: 'scrypt', N: 1024, r: 8, p: 1, salt: 'string' })
  t.equal(stored.protector, false)
})

t.test('concurrent puts all land in the index', async (t) => {
  const dir = await folder(t)
  const store = await LocalStore.create(dir, '1234', { provider: native, scrypt: FAST })
  await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(`k${String(i).padStart(2, '0')}`, i)))
  t.equal((await (await LocalStore.open(dir, '1234', { provider: native })).list()).length, 20)
})

t.test('a wrong PIN fails cleanly with the attempts left, and a right PIN resets the counter', async (t) => {
  const dir = await folder(t)
  const store = await LocalStore.create(dir, '1234', { provider: native, scrypt: FAST })
  await store.put('a', 1)
  const opts: LocalStoreOptions = { provider: native, maxAttempts: 5 }
  for (const left of [4, 3]) {
    await t.rejects(LocalStore.open(dir, '0000', opts), { name: 'WrongPinError', code: 'MVM_STORE_WRONG_PIN', attemptsLeft: left })
  }
  t.equal((await storeJson(dir)).failedAttempts, 2)
  const opened = await LocalStore.open(dir, '1234', opts)
  t.equal(await opened.get('a'), 1)
  t.equal((await storeJson(dir)).failedAttempts, 0)
  await t.rejects(LocalStore.open(dir, '0000', opts), { code: 'MVM_STORE_WRONG_PIN', attemptsLeft: 4 })
})

t.test('reaching the attempt limit wipes the store: its files are gone', async (t) => {
  const dir = await folder(t)
  const store = await LocalStore.create(dir, '1234', { provider: native, scrypt: FAST })
  await store.put('secret', 'x')
  t.ok((await files(dir)).length >= 3)
  const opts = { provider: native, maxAttempts: 3 }
  await t.rejects(LocalStore.open(dir, '1111', opts), { code: 'MVM_STORE_WRONG_PIN', attemptsLeft: 2 })
  await t.rejects(LocalStore.open(dir, '2222', opts), { code: 'MVM_STORE_WRONG_PIN', attemptsLeft: 1 })
  await t.rejects(LocalStore.open(dir, '3333', opts), { name: 'StoreWipedError', code: 'MVM_STORE_WIPED' })
  t.same(await files(dir), [])
  await t.rejects(LocalStore.open(dir, '1234', opts), { code: 'MVM_STORE_NOT_FOUND' }, 'not even the right PIN opens it')
})

t.test('wipe() deletes every file and the instance refuses further use', async (t) => {
  const dir = await folder(t)
  const store = await LocalStore.create(dir, '1234', { provider: native, scrypt: FAST })
  await store.put('a', 1)
  await store.wipe()
  t.same(await files(dir), [])
  await t.rejects(store.get('a'), StoreWipedError)
})

t.test('a key protector changes pin_key: the same PIN without the protector secret fails', async (t) => {
  const dir = await folder(t)
  const store = await LocalStore.create(dir, '1234', { provider: native, scrypt: FAST, protector: protector(7) })
  await store.put('a', 'protected')
  t.equal((await storeJson(dir)).protector, true)

  await t.rejects(LocalStore.open(dir, '1234', { provider: native, protector: protector(8) }), WrongPinError, 'another keystore secret')
  await t.rejects(LocalStore.open(dir, '1234', { provider: native }), { code: 'MVM_STORE_PROTECTOR_MISMATCH' }, 'no protector at all')
  t.equal((await storeJson(dir)).failedAttempts, 1, 'only the real PIN attempt counted')
  t.equal(await (await LocalStore.open(dir, '1234', { provider: pureProvider, protector: protector(7) })).get('a'), 'protected')

  const salt = new Uint8Array(16)
  const plain = await derivePinKey(native, '1234', salt, FAST)
  const mixed = await derivePinKey(native, '1234', salt, FAST, new Uint8Array(32).fill(7))
  t.not(bytesToHex(plain.encKey), bytesToHex(mixed.encKey))
  t.not(bytesToHex(plain.macKey), bytesToHex(mixed.macKey))
  await t.rejects(LocalStore.create(await folder(t), '1234', { provider: native, scrypt: FAST, protector: { secret: async () => new Uint8Array(16) } }), { code: 'MVM_STORE_BAD_PROTECTOR' })
})

t.test('record files are named by an HMAC: neither names nor values appear on disk', async (t) => {
  const dir = await folder(t)
  const store = await LocalStore.create(dir, '1234', { provider: native, scrypt: FAST })
  const names = ['contacts', 'conversation:bob', 'settings']
  for (const name of names) await store.put(name, { name, value: 'plaintext-marker' })
  const onDisk = await files(dir)
  t.same(onDisk.filter((f) => f !== 'store.json' && f !== 'index').map((f) => /^[0-9a-f]{64}$/.test(f)), [true, true, true])
  for (const file of onDisk) {
    const bytes = await readFile(join(dir, file))
    for (const name of names) {
      t.notOk(file.includes(name) || file.includes(Buffer.from(name).toString('hex')), `${file} does not name ${name}`)
      t.notOk(bytes.includes(name) || bytes.includes('plaintext-marker'), `${file} does not contain ${name}`)
    }
  }
})

t.test('a tampered or swapped record file is rejected with CryptoError', async (t) => {
  const dir = await folder(t)
  const store = await LocalStore.create(dir, '1234', { provider: native, scrypt: FAST })
  await store.put('a', 'A')
  await store.put('b', 'B')
  const [fa, fb] = (await files(dir)).filter((f) => /^[0-9a-f]{64}$/.test(f)) as [string, string]
  const bytes = await readFile(join(dir, fa))
  bytes[20]! ^= 1
  await writeFile(join(dir, fa), bytes)
  await rename(join(dir, fb), join(dir, `${fb}.x`))
  await rename(join(dir, fa), join(dir, fb))
  await rename(join(dir, `${fb}.x`), join(dir, fa))
  const results = await Promise.allSettled([store.get('a'), store.get('b')])
  t.same(results.map((r) => r.status === 'rejected' && r.reason instanceof CryptoError), [true, true])
})

t.test('the PIN is NFKC-normalised; bad input fails with a coded error', async (t) => {
  const dir = await folder(t)
  await LocalStore.create(dir, '１２３４５６', { provider: native, scrypt: FAST })
  t.ok(await LocalStore.open(dir, '123456', { provider: pureProvider }))
  await t.rejects(LocalStore.create(dir, '123456', { provider: native, scrypt: FAST }), { code: 'MVM_STORE_EXISTS' })
  await t.rejects(LocalStore.create(await folder(t), '', { provider: native, scrypt: FAST }), { code: 'MVM_STORE_BAD_PIN' })
  await t.rejects(LocalStore.create(await folder(t), '1', { provider: native, scrypt: { N: 3, r: 8, p: 1 } }), { code: 'MVM_STORE_BAD_KDF' })
  const store = await LocalStore.open(dir, '123456', { provider: native })
  await t.rejects(store.put('', 1), { code: 'MVM_STORE_BAD_NAME' })
  await t.rejects(store.put('x', undefined), TypeError)
  await writeFile(join(dir, 'store.json'), '{"version":2}')
  await t.rejects(LocalStore.open(dir, '123456', { provider: native }), StoreError)
  await t.rejects(LocalStore.open(dir, '123456', { provider: native }), { code: 'MVM_STORE_CORRUPT' })
})

t.test('native and pure scrypt give identical bytes', async (t) => {
  for (const [password, salt, params] of [
    ['', '', { N: 16, r: 1, p: 1, length: 64 }],
    ['password', 'NaCl', { N: 1024, r: 8, p: 16, length: 64 }],
    ['1234', 'salt-salt-salt-1', { N: 2048, r: 4, p: 2, length: 32 }],
  ] as const) {
    const args = [new TextEncoder().encode(password), new TextEncoder().encode(salt), params] as const
    t.equal(bytesToHex(await pureProvider.scrypt(...args)), bytesToHex(await native.scrypt(...args)), `N=${params.N} r=${params.r} p=${params.p}`)
  }
  // RFC 7914 §12, second vector.
  const rfc = await native.scrypt(new TextEncoder().encode('password'), new TextEncoder().encode('NaCl'), { N: 1024, r: 8, p: 16, length: 64 })
  t.equal(bytesToHex(rfc), 'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640')
})

for (const p of [native, pureProvider]) {
  t.test(`${p.name}: the store known-answer vectors (default N = 2^15) are reproduced`, async (t) => {
    const salt = h(kat.salt)
    const cost = { N: kat.N, r: kat.r, p: kat.p }
    const pinKey = await derivePinKey(p, kat.pin, salt, cost)
    t.equal(bytesToHex(pinKey.encKey) + bytesToHex(pinKey.macKey), kat.scryptOutput)
    const protectedKey = await derivePinKey(p, kat.pin, salt, cost, h(kat.protectorSecret))
    t.equal(bytesToHex(protectedKey.encKey) + bytesToHex(protectedKey.macKey), kat.protectedPinKey)
    const adKey = new TextEncoder().encode('MVM1 store key')
    const hexBox = (b: { iv: Uint8Array; ct: Uint8Array; mac: Uint8Array }) => ({ iv: bytesToHex(b.iv), ct: bytesToHex(b.ct), mac: bytesToHex(b.mac) })
    t.same(hexBox(seal(p, pinKey, adKey, h(kat.key), h(kat.keyIv))), kat.encryptedKey)
    t.same(hexBox(seal(p, protectedKey, adKey, h(kat.key), h(kat.keyIv))), kat.encryptedKeyWithProtector)
    const rk = recordKeys(p, h(kat.key))
    t.same({ encKey: bytesToHex(rk.encKey), macKey: bytesToHex(rk.macKey) }, kat.record)
    t.equal(bytesToHex(p.hmacSha256(rk.macKey, new TextEncoder().encode(kat.recordName))), kat.recordFile)
    const recordAd = new TextEncoder().encode(`MVM1 store record ${kat.recordName}`)
    t.same(hexBox(seal(p, rk, recordAd, new TextEncoder().encode(kat.recordValue), h(kat.recordIv))), kat.recordBox)
    t.same(hexBox(seal(p, rk, new TextEncoder().encode('MVM1 store index'), new TextEncoder().encode(JSON.stringify([kat.recordName])), h(kat.indexIv))), kat.indexBox)
    t.equal(new TextDecoder().decode(open(p, rk, recordAd, { iv: h(kat.recordBox.iv), ct: h(kat.recordBox.ct), mac: h(kat.recordBox.mac) })), kat.recordValue)
  })
}

t.test('native: a store with the default parameters (N = 2^15, r = 8, p = 1) opens', async (t) => {
  const dir = await folder(t)
  const store = await LocalStore.create(dir, '246810', { provider: native })
  await store.put('k', 'v')
  t.same((({ N, r, p }) => ({ N, r, p }))((await storeJson(dir)).kdf), { N: 32768, r: 8, p: 1 })
  t.equal(await (await LocalStore.open(dir, '246810', { provider: native })).get('k'), 'v')
})
