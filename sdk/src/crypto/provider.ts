// The primitives of DESIGN §5 behind one interface, so that the native (node:crypto) and the
// pure-JS (React Native) implementations are interchangeable and can be checked against each other.

export interface CryptoProvider {
  readonly name: 'native' | 'pure'
  randomBytes(n: number): Uint8Array
  /** 32-byte raw keys; `seed` is the private key itself. */
  x25519KeyPair(seed?: Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array }
  /** Throws CryptoError for an all-zero result (low-order peer key). Any 32-byte public key is accepted (RFC 7748: high bit masked). */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array
  /** `privateKey` is the 32-byte seed. */
  ed25519KeyPair(seed?: Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array }
  ed25519Sign(privateKeySeed: Uint8Array, message: Uint8Array): Uint8Array
  /** false, never a throw, for any malformed input; rejects S >= L. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
  /** Throws CryptoError for length > 255 * 32. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array
  /** PKCS#7; key of 16, 24 or 32 bytes selects AES-128/192/256. */
  aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array
  /** Throws CryptoError on a bad length or bad padding. */
  aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array
  scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams): Promise<Uint8Array>
}

export interface ScryptParams {
  N: number
  r: number
  p: number
  length: number
}

/**
 * The single error every cryptographic failure becomes. It never carries details: a caller
 * (or an attacker watching error messages or codes) must not learn which check failed.
 */
export class CryptoError extends Error {
  readonly code = 'MVM_CRYPTO_REJECTED'
  constructor() {
    super('message rejected')
    this.name = 'CryptoError'
  }
}

/** Compares without an early exit, so the time taken does not reveal where two MACs differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!
  return acc === 0
}

export function isBytes(value: unknown, length?: number): value is Uint8Array {
  return value instanceof Uint8Array && (length === undefined || value.length === length)
}

export function requireBytes(value: unknown, ...lengths: number[]): Uint8Array {
  if (!isBytes(value)) throw new CryptoError()
  if (lengths.length > 0 && !lengths.includes(value.length)) throw new CryptoError()
  return value
}

export const HKDF_SHA256_MAX_LENGTH = 255 * 32

export function requireHkdfLength(length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > HKDF_SHA256_MAX_LENGTH) throw new CryptoError()
}

/** RFC 7914 limits, checked identically on both paths so that they reject the same inputs. */
export function requireScryptParams(params: ScryptParams): void {
  const { N, r, p, length } = params
  const ok =
    Number.isInteger(N) && N > 1 && (N & (N - 1)) === 0 && N <= 2 ** 24 &&
    Number.isInteger(r) && r >= 1 && r <= 64 &&
    Number.isInteger(p) && p >= 1 && p <= 16 &&
    Number.isInteger(length) && length >= 1 && length <= 1024
  if (!ok) throw new CryptoError()
}

// L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const ED25519_ORDER = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
])

/** S (the second half of an Ed25519 signature) must be < L, else signatures are malleable (RFC 8032 §5.1.7). */
export function isCanonicalEd25519S(signature: Uint8Array): boolean {
  if (signature.length !== 64) return false
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!
    const l = ED25519_ORDER[i]!
    if (s < l) return true
    if (s > l) return false
  }
  return false // S == L
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0
  for (const part of parts) total += part.length
  const out = new Uint8Array(total)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

const HEX = '0123456789abcdef'

export function bytesToHex(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]! >> 4]! + HEX[bytes[i]! & 15]!
  return out
}

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('not a hex string')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}
