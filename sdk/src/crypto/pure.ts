// CryptoProvider in pure JavaScript for React Native, where node:crypto is missing. It must give
// the same bytes as native.ts for the same inputs, and reject the same inputs.
import nacl from 'tweetnacl'
import forge from 'node-forge'
import { HKDF } from '@stablelib/hkdf'
import { SHA256 } from '@stablelib/sha256'
import { hmac } from '@stablelib/hmac'
import { deriveKeyNonBlocking } from '@stablelib/scrypt'
import {
  CryptoError, isAllZero, isBytes, isCanonicalEd25519S, requireBytes, requireHkdfLength,
  requireScryptParams, type CryptoProvider, type ScryptParams,
} from './provider.ts'

function randomBytes(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError('invalid length')
  const out = new Uint8Array(n)
  const webCrypto = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto
  if (typeof webCrypto?.getRandomValues !== 'function') return nacl.randomBytes(n)
  // getRandomValues fills at most 65536 bytes per call.
  for (let offset = 0; offset < n; offset += 65536) webCrypto.getRandomValues(out.subarray(offset, Math.min(n, offset + 65536)))
  return out
}

const toBinary = (bytes: Uint8Array) => forge.util.binary.raw.encode(bytes)
const fromBinary = (binary: string) => Uint8Array.from(forge.util.binary.raw.decode(binary))

function aesCipher(key: Uint8Array, iv: Uint8Array, decrypt: boolean) {
  requireBytes(key, 16, 24, 32)
  requireBytes(iv, 16)
  const cipher = decrypt
    ? forge.cipher.createDecipher('AES-CBC', forge.util.createBuffer(toBinary(key)))
    : forge.cipher.createCipher('AES-CBC', forge.util.createBuffer(toBinary(key)))
  cipher.start({ iv: forge.util.createBuffer(toBinary(iv)) })
  return cipher
}

export const pureProvider: CryptoProvider = Object.freeze({
  name: 'pure' as const,

  randomBytes,

  x25519KeyPair(seed?: Uint8Array) {
    const privateKey = seed === undefined ? randomBytes(32) : Uint8Array.from(requireBytes(seed, 32))
    return { publicKey: nacl.scalarMult.base(privateKey), privateKey }
  },

  x25519(privateKey: Uint8Array, publicKey: Uint8Array) {
    requireBytes(privateKey, 32)
    requireBytes(publicKey, 32)
    // tweetnacl returns zeros for a low-order point instead of failing.
    const shared = nacl.scalarMult(privateKey, publicKey)
    if (isAllZero(shared)) throw new CryptoError()
    return shared
  },

  ed25519KeyPair(seed?: Uint8Array) {
    const privateKey = seed === undefined ? randomBytes(32) : Uint8Array.from(requireBytes(seed, 32))
    return { publicKey: nacl.sign.keyPair.fromSeed(privateKey).publicKey, privateKey }
  },

  ed25519Sign(seed: Uint8Array, message: Uint8Array) {
    requireBytes(seed, 32)
    requireBytes(message)
    return nacl.sign.detached(message, nacl.sign.keyPair.fromSeed(seed).secretKey)
  },

  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) {
    if (!isBytes(publicKey, 32) || !isBytes(message) || !isBytes(signature, 64)) return false
    // tweetnacl does not check S < L, which would let anyone derive a second valid signature.
    if (!isCanonicalEd25519S(signature)) return false
    try {
      return nacl.sign.detached.verify(message, signature, publicKey)
    } catch {
      return false
    }
  },

  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number) {
    requireBytes(ikm)
    requireBytes(salt)
    requireBytes(info)
    requireHkdfLength(length)
    return new HKDF(SHA256, ikm, salt, info).expand(length)
  },

  hmacSha256(key: Uint8Array, data: Uint8Array) {
    return hmac(SHA256, requireBytes(key), requireBytes(data))
  },

  aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array) {
    requireBytes(plaintext)
    const cipher = aesCipher(key, iv, false)
    cipher.update(forge.util.createBuffer(toBinary(plaintext)))
    if (!cipher.finish()) throw new CryptoError()
    return fromBinary(cipher.output.getBytes())
  },

  aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array) {
    requireBytes(ciphertext)
    // forge accepts an empty ciphertext as an empty plaintext; PKCS#7 never produces one.
    if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw new CryptoError()
    const decipher = aesCipher(key, iv, true)
    decipher.update(forge.util.createBuffer(toBinary(ciphertext)))
    if (!decipher.finish()) throw new CryptoError()
    return fromBinary(decipher.output.getBytes())
  },

  async scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams) {
    requireBytes(password)
    requireBytes(salt)
    requireScryptParams(params)
    return deriveKeyNonBlocking(password, salt, params.N, params.r, params.p, params.length)
  },
})

