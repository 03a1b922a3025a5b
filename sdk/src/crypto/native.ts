// CryptoProvider on node:crypto (OpenSSL). node:crypto is fetched with process.getBuiltinModule
// rather than a static import, so that React Native bundlers never have to resolve it.
import type * as NodeCrypto from 'node:crypto'
import {
  CryptoError, concatBytes, isAllZero, isBytes, isCanonicalEd25519S, requireBytes, requireHkdfLength,
  requireScryptParams, type CryptoProvider, type ScryptParams,
} from './provider.ts'

type Crypto = typeof NodeCrypto

// DER headers that turn 32 raw key bytes into PKCS#8 / SPKI (RFC 8410).
const X25519_PKCS8 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const X25519_SPKI = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])
const ED25519_PKCS8 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const ED25519_SPKI = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

export function loadNodeCrypto(): Crypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
  if (typeof proc?.getBuiltinModule !== 'function') return undefined
  const mod = proc.getBuiltinModule('node:crypto') as Crypto | undefined
  return typeof mod?.diffieHellman === 'function' ? mod : undefined
}

/** Copies into a plain Uint8Array so both providers return the same type (not Buffer). */
function plain(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes)
}

export function createNativeProvider(crypto: Crypto | undefined = loadNodeCrypto()): CryptoProvider {
  if (!crypto) throw new Error('node:crypto is not available')
  const c = crypto

  const privateKey = (prefix: Uint8Array, raw: Uint8Array) =>
    c.createPrivateKey({ key: Buffer.from(concatBytes(prefix, raw)), format: 'der', type: 'pkcs8' })
  const publicKey = (prefix: Uint8Array, raw: Uint8Array) =>
    c.createPublicKey({ key: Buffer.from(concatBytes(prefix, raw)), format: 'der', type: 'spki' })
  const rawPublicKey = (key: NodeCrypto.KeyObject) =>
    plain(c.createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32))

  const keyPair = (pkcs8: Uint8Array, seed: Uint8Array | undefined) => {
    const raw = seed === undefined ? plain(c.randomBytes(32)) : plain(requireBytes(seed, 32))
    return { publicKey: rawPublicKey(privateKey(pkcs8, raw)), privateKey: raw }
  }

  const cipherName = (key: Uint8Array) => `aes-${requireBytes(key, 16, 24, 32).length * 8}-cbc`

  return Object.freeze({
    name: 'native' as const,

    randomBytes(n: number) {
      return plain(c.randomBytes(n))
    },

    x25519KeyPair(seed?: Uint8Array) {
      return keyPair(X25519_PKCS8, seed)
    },

    x25519(priv: Uint8Array, pub: Uint8Array) {
      requireBytes(priv, 32)
      requireBytes(pub, 32)
      let shared: Uint8Array
      try {
        shared = plain(c.diffieHellman({ privateKey: privateKey(X25519_PKCS8, priv), publicKey: publicKey(X25519_SPKI, pub) }))
      } catch {
        throw new CryptoError() // OpenSSL itself refuses an all-zero shared secret
      }
      if (isAllZero(shared)) throw new CryptoError()
      return shared
    },

    ed25519KeyPair(seed?: Uint8Array) {
      return keyPair(ED25519_PKCS8, seed)
    },

    ed25519Sign(seed: Uint8Array, message: Uint8Array) {
      requireBytes(seed, 32)
      requireBytes(message)
      return plain(c.sign(null, message, privateKey(ED25519_PKCS8, seed)))
    },

    ed25519Verify(pub: Uint8Array, message: Uint8Array, signature: Uint8Array) {
      if (!isBytes(pub, 32) || !isBytes(message) || !isBytes(signature, 64)) return false
      if (!isCanonicalEd25519S(signature)) return false
      try {
        return c.verify(null, message, publicKey(ED25519_SPKI, pub), signature)
      } catch {
        return false
      }
    },

    hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number) {
      requireBytes(ikm)
      requireBytes(salt)
      requireBytes(info)
      requireHkdfLength(length)
      // RFC 5869 on HMAC rather than hkdfSync, which caps info at 1024 bytes.
      const prk = c.createHmac('sha256', salt).update(ikm).digest()
      const out = new Uint8Array(length)
      let block: Uint8Array = new Uint8Array(0)
      for (let offset = 0, counter = 1; offset < length; offset += 32, counter++) {
        block = c.createHmac('sha256', prk).update(block).update(info).update(Uint8Array.of(counter)).digest()
        out.set(block.subarray(0, Math.min(32, length - offset)), offset)
      }
      return out
    },

    hmacSha256(key: Uint8Array, data: Uint8Array) {
      requireBytes(key)
      requireBytes(data)
      return plain(c.createHmac('sha256', key).update(data).digest())
    },

    aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array) {
      requireBytes(iv, 16)
      requireBytes(plaintext)
      const cipher = c.createCipheriv(cipherName(key), key, iv)
      return plain(Buffer.concat([cipher.update(plaintext), cipher.final()]))
    },

    aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array) {
      requireBytes(iv, 16)
      requireBytes(ciphertext)
      if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw new CryptoError()
      try {
        const decipher = c.createDecipheriv(cipherName(key), key, iv)
        return plain(Buffer.concat([decipher.update(ciphertext), decipher.final()]))
      } catch {
        throw new CryptoError()
      }
    },

    scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams) {
      requireBytes(password)
      requireBytes(salt)
      requireScryptParams(params)
      const { N, r, p, length } = params
      // The default maxmem (32 MiB) is just below what N=2^15, r=8 needs (128·N·r plus buffers).
      const maxmem = 128 * r * (N + p + 2) + 16 * 1024 * 1024
      return new Promise<Uint8Array>((resolve, reject) => {
        c.scrypt(password, salt, length, { N, r, p, maxmem }, (err, key) => (err ? reject(new CryptoError()) : resolve(plain(key))))
      })
    },
  })
}
