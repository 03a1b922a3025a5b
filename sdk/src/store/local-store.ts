// The PIN-protected local store of DESIGN §5, as a folder of files (format in docs/crypto.md).
// Only ciphertext and the KDF parameters touch the disk; record names are hidden behind an HMAC.
import { mkdir, open as openFile, readFile, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import {
  base64Decode, base64Encode, boxFromBytes, boxFromWire, boxToBytes, boxToWire, open, seal, type BoxKeys,
} from '../crypto/construction.ts'
import { CryptoError, bytesToHex, requireScryptParams, type CryptoProvider } from '../crypto/provider.ts'

/** Stands for a platform keystore (Android Keystore, iOS Keychain): returns the same 32 secret bytes every time. */
export interface KeyProtector {
  secret(): Promise<Uint8Array>
}

export interface ScryptCost {
  N: number
  r: number
  p: number
}

export interface LocalStoreOptions {
  provider: CryptoProvider
  protector?: KeyProtector
  /** Wrong PINs in a row before the store wipes itself. */
  maxAttempts?: number
  /** Used by create() only (open() reads them from store.json); lower than the default only in tests. */
  scrypt?: ScryptCost
}

export const DEFAULT_SCRYPT: Readonly<ScryptCost> = Object.freeze({ N: 2 ** 15, r: 8, p: 1 })
const DEFAULT_MAX_ATTEMPTS = 10
const SALT_LENGTH = 16

const STORE_FILE = 'store.json'
const INDEX_FILE = 'index'
const RECORD_FILE = /^[0-9a-f]{64}$/
const TEMP_FILE = /\.tmp-[0-9a-f]{16}$/

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })
const ZERO_SALT = new Uint8Array(32)
const INFO_PROTECTOR = utf8.encode('mobivisor-messenger/v1 store-protector')
const INFO_STORE = utf8.encode('mobivisor-messenger/v1 store')
const AD_KEY = utf8.encode('MVM1 store key')
const AD_INDEX = utf8.encode('MVM1 store index')
const recordAd = (name: string) => utf8.encode(`MVM1 store record ${name}`)

export class StoreError extends Error {
  constructor(readonly code: string, message: string) {
    super(message)
    this.name = 'StoreError'
  }
}

export class WrongPinError extends StoreError {
  constructor(readonly attemptsLeft: number) {
    super('MVM_STORE_WRONG_PIN', `wrong PIN, ${attemptsLeft} attempt(s) left`)
    this.name = 'WrongPinError'
  }
}

export class StoreWipedError extends StoreError {
  constructor() {
    super('MVM_STORE_WIPED', 'the store was wiped after too many wrong PINs')
    this.name = 'StoreWipedError'
  }
}

interface StoreFile {
  version: 1
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string }
  protector: boolean
  encryptedKey: { iv: string; ct: string; mac: string }
  failedAttempts: number
}

/** pin_key of DESIGN §5: scrypt over NFKC(PIN), then HKDF with the keystore secret when there is a protector. */
export async function derivePinKey(
  p: CryptoProvider, pin: string, salt: Uint8Array, cost: ScryptCost, protectorSecret?: Uint8Array,
): Promise<BoxKeys> {
  let okm = await p.scrypt(utf8.encode(pin.normalize('NFKC')), salt, { ...cost, length: 64 })
  if (protectorSecret !== undefined) okm = p.hkdfSha256(okm, protectorSecret, INFO_PROTECTOR, 64)
  return { encKey: okm.slice(0, 32), macKey: okm.slice(32, 64) }
}

export function recordKeys(p: CryptoProvider, key: Uint8Array): BoxKeys {
  const okm = p.hkdfSha256(key, ZERO_SALT, INFO_STORE, 64)
  return { encKey: okm.slice(0, 32), macKey: okm.slice(32, 64) }
}

export class LocalStore {
  private queue: Promise<unknown> = Promise.resolve()
  private wiped = false

  private constructor(
    private readonly dir: string,
    private readonly p: CryptoProvider,
    private readonly keys: BoxKeys,
    private names: string[],
  ) {}

  static async create(dir: string, pin: string, opts: LocalStoreOptions): Promise<LocalStore> {
    if (typeof pin !== 'string' || pin.length === 0) throw new StoreError('MVM_STORE_BAD_PIN', 'the PIN must not be empty')
    const p = opts.provider
    const cost = opts.scrypt ?? DEFAULT_SCRYPT
    checkCost(cost)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    if (await exists(join(dir, STORE_FILE))) throw new StoreError('MVM_STORE_EXISTS', 'a store already exists in this folder')

    const salt = p.randomBytes(SALT_LENGTH)
    const key = p.randomBytes(32)
    const pinKey = await derivePinKey(p, pin, salt, cost, await protectorSecret(opts.protector))
    const file: StoreFile = {
      version: 1,
      kdf: { name: 'scrypt', ...pickCost(cost), salt: base64Encode(salt) },
      protector: opts.protector !== undefined,
      encryptedKey: boxToWire(seal(p, pinKey, AD_KEY, key)),
      failedAttempts: 0,
    }
    const store = new LocalStore(dir, p, recordKeys(p, key), [])
    key.fill(0)
    await store.writeIndex()
    await writeAtomic(join(dir, STORE_FILE), utf8.encode(JSON.stringify(file, null, 2)))
    return store
  }

  static async open(dir: string, pin: string, opts: LocalStoreOptions): Promise<LocalStore> {
    const p = opts.provider
    const maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
    const file = await readStoreFile(dir)
    if (file.protector !== (opts.protector !== undefined)) {
      throw new StoreError('MVM_STORE_PROTECTOR_MISMATCH', file.protector ? 'this store needs its key protector' : 'this store has no key protector')
    }
    if (file.failedAttempts >= maxAttempts) {
      await wipeFolder(dir)
      throw new StoreWipedError()
    }
    // Count the attempt before checking it, so that killing the app mid-check does not get a free guess.
    const attempts = file.failedAttempts + 1
    await writeStoreFile(dir, { ...file, failedAttempts: attempts })

    const pinKey = await derivePinKey(p, String(pin), base64Decode(file.kdf.salt), file.kdf, await protectorSecret(opts.protector))
    let key: Uint8Array
    try {
      key = open(p, pinKey, AD_KEY, boxFromWire(file.encryptedKey))
      if (key.length !== 32) throw new CryptoError()
    } catch {
      if (attempts >= maxAttempts) {
        await wipeFolder(dir)
        throw new StoreWipedError()
      }
      throw new WrongPinError(maxAttempts - attempts)
    }
    await writeStoreFile(dir, { ...file, failedAttempts: 0 })
    const keys = recordKeys(p, key)
    key.fill(0)
    const store = new LocalStore(dir, p, keys, [])
    store.names = await store.readIndex()
    return store
  }

  get<T = unknown>(name: string): Promise<T | undefined> {
    return this.run(async () => {
      const bytes = await readOptional(this.recordPath(name))
      if (bytes === undefined) return undefined
      return JSON.parse(utf8Decoder.decode(open(this.p, this.keys, recordAd(name), boxFromBytes(bytes)))) as T
    })
  }

  put(name: string, value: unknown): Promise<void> {
    return this.run(async () => {
      const json = JSON.stringify(value)
      if (json === undefined) throw new TypeError('the value is not JSON-serialisable')
      const box = seal(this.p, this.keys, recordAd(name), utf8.encode(json))
      await writeAtomic(this.recordPath(name), boxToBytes(box))
      if (!this.names.includes(name)) {
        this.names = [...this.names, name].sort()
        await this.writeIndex()
      }
    })
  }

  /** Resolves true if there was such a record. */
  delete(name: string): Promise<boolean> {
    return this.run(async () => {
      const path = this.recordPath(name)
      if (this.names.includes(name)) {
        this.names = this.names.filter((n) => n !== name)
        await this.writeIndex()
      }
      try {
        await unlink(path)
        return true
      } catch (err) {
        if (isNotFound(err)) return false
        throw err
      }
    })
  }

  list(): Promise<string[]> {
    return this.run(async () => [...this.names])
  }

  /** Deletes every file of the store; the instance is unusable afterwards. */
  wipe(): Promise<void> {
    return this.run(async () => {
      this.wiped = true
      this.keys.encKey.fill(0)
      this.keys.macKey.fill(0)
      this.names = []
      await wipeFolder(this.dir)
    })
  }

  // One operation at a time, so that concurrent puts cannot lose each other's index update.
  private run<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => {
      if (this.wiped) throw new StoreWipedError()
      return op()
    })
    this.queue = next.catch(() => undefined)
    return next
  }

  private recordPath(name: string): string {
    if (typeof name !== 'string' || name.length === 0 || /\p{Cs}/u.test(name)) {
      throw new StoreError('MVM_STORE_BAD_NAME', 'a record name must be a non-empty, well-formed string')
    }
    return join(this.dir, bytesToHex(this.p.hmacSha256(this.keys.macKey, utf8.encode(name))))
  }

  private async readIndex(): Promise<string[]> {
    const bytes = await readOptional(join(this.dir, INDEX_FILE))
    if (bytes === undefined) return []
    const names: unknown = JSON.parse(utf8Decoder.decode(open(this.p, this.keys, AD_INDEX, boxFromBytes(bytes))))
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw new CryptoError()
    return names
  }

  private async writeIndex(): Promise<void> {
    const box = seal(this.p, this.keys, AD_INDEX, utf8.encode(JSON.stringify(this.names)))
    await writeAtomic(join(this.dir, INDEX_FILE), boxToBytes(box))
  }
}

async function protectorSecret(protector: KeyProtector | undefined): Promise<Uint8Array | undefined> {
  if (protector === undefined) return undefined
  const secret = await protector.secret()
  if (!(secret instanceof Uint8Array) || secret.length !== 32) {
    throw new StoreError('MVM_STORE_BAD_PROTECTOR', 'the key protector must return 32 bytes')
  }
  return secret
}

function pickCost({ N, r, p }: ScryptCost): ScryptCost {
  return { N, r, p }
}

// Bounds what a (tampered) store.json can make open() spend: at most 256 MiB of scrypt memory.
function checkCost(cost: ScryptCost): void {
  try {
    requireScryptParams({ ...cost, length: 64 })
    if (128 * cost.N * cost.r > 256 * 1024 * 1024 || cost.p > 4) throw new CryptoError()
  } catch {
    throw new StoreError('MVM_STORE_BAD_KDF', 'unsupported scrypt parameters')
  }
}

async function readStoreFile(dir: string): Promise<StoreFile> {
  const bytes = await readOptional(join(dir, STORE_FILE))
  if (bytes === undefined) throw new StoreError('MVM_STORE_NOT_FOUND', 'no store in this folder')
  let file: StoreFile
  try {
    file = JSON.parse(utf8Decoder.decode(bytes)) as StoreFile
    const ok =
      file.version === 1 && file.kdf?.name === 'scrypt' && typeof file.kdf.salt === 'string' &&
      typeof file.protector === 'boolean' && typeof file.encryptedKey === 'object' && file.encryptedKey !== null &&
      Number.isInteger(file.failedAttempts) && file.failedAttempts >= 0
    if (!ok) throw new Error('bad shape')
  } catch {
    throw new StoreError('MVM_STORE_CORRUPT', 'store.json is not a valid store file')
  }
  checkCost(file.kdf)
  return file
}

function writeStoreFile(dir: string, file: StoreFile): Promise<void> {
  return writeAtomic(join(dir, STORE_FILE), utf8.encode(JSON.stringify(file, null, 2)))
}

/** Write to a temporary file, flush, then rename over the target: readers see the old or the new file, never half of one. */
async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const temp = `${path}.tmp-${bytesToHex(crypto.getRandomValues(new Uint8Array(8)))}`
  const handle = await openFile(temp, 'w', 0o600)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
}

/** store.json goes first: without the encrypted key the records can never be decrypted again. */
async function wipeFolder(dir: string): Promise<void> {
  await rm(join(dir, STORE_FILE), { force: true })
  let entries: string[] = []
  try {
    entries = await readdir(dir)
  } catch (err) {
    if (isNotFound(err)) return
    throw err
  }
  const ours = entries.filter((f) => f === INDEX_FILE || RECORD_FILE.test(f) || TEMP_FILE.test(f))
  await Promise.all(ours.map((f) => rm(join(dir, f), { force: true })))
  // Leave a folder that holds anything else; remove it if it is now empty.
  await rmdir(dir).catch(() => undefined)
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

async function exists(path: string): Promise<boolean> {
  return (await readOptional(path)) !== undefined
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'ENOENT'
}
