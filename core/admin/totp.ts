// TOTP second factor (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1, 6 digits, 30 s steps, and one
// step of clock drift either way. Secrets are 20 random bytes, exchanged as RFC 4648 base32.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const TOTP_STEP_SECONDS = 30
export const TOTP_DIGITS = 6
export const TOTP_WINDOW = 1
export const TOTP_ISSUER = 'MobiVisor Messenger'
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

export function base32Encode(bytes: Uint8Array): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]
  return out
}

/** Decodes base32 (case-insensitive, padding and spaces ignored); throws on other characters. */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase()
  const out: number[] = []
  let bits = 0
  let value = 0
  for (const c of clean) {
    const index = ALPHABET.indexOf(c)
    if (index < 0) throw new Error('not base32')
    value = ((value << 5) | index) & 0xffff
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return Buffer.from(out)
}

/** RFC 4226 HOTP with dynamic truncation. `algorithm` other than sha1 is for RFC 6238's vectors. */
export function hotp(secret: Uint8Array, counter: bigint, digits = TOTP_DIGITS, algorithm: 'sha1' | 'sha256' | 'sha512' = 'sha1'): string {
  const message = Buffer.alloc(8)
  message.writeBigUInt64BE(counter)
  const mac = createHmac(algorithm, secret).update(message).digest()
  const offset = mac[mac.length - 1]! & 0x0f
  const binary = mac.readUInt32BE(offset) & 0x7fffffff
  return String(binary % 10 ** digits).padStart(digits, '0')
}

export function totpStep(unixSeconds: number): bigint {
  return BigInt(Math.floor(unixSeconds / TOTP_STEP_SECONDS))
}

export function totp(secret: Uint8Array, unixSeconds: number, digits = TOTP_DIGITS, algorithm: 'sha1' | 'sha256' | 'sha512' = 'sha1'): string {
  return hotp(secret, totpStep(unixSeconds), digits, algorithm)
}

/** The step whose code `code` is (current ±TOTP_WINDOW), or undefined. Every candidate is compared. */
export function matchTotp(secretBase32: string, code: string, unixSeconds = Date.now() / 1000): bigint | undefined {
  if (!/^[0-9]{6}$/.test(code)) return undefined
  const secret = base32Decode(secretBase32)
  const now = totpStep(unixSeconds)
  let match: bigint | undefined
  for (let d = -TOTP_WINDOW; d <= TOTP_WINDOW; d++) {
    const step = now + BigInt(d)
    if (timingSafeEqual(Buffer.from(hotp(secret, step)), Buffer.from(code)) && match === undefined) match = step
  }
  return match
}

export function generateTotpSecret(): string {
  return base32Encode(randomBytes(20))
}

/** The otpauth:// URI that authenticator apps read (Key Uri Format). */
export function otpauthUri(secretBase32: string, account: string): string {
  const label = `${encodeURIComponent(TOTP_ISSUER)}:${encodeURIComponent(account)}`
  const params = new URLSearchParams({ secret: secretBase32, issuer: TOTP_ISSUER, algorithm: 'SHA1', digits: String(TOTP_DIGITS), period: String(TOTP_STEP_SECONDS) })
  return `otpauth://totp/${label}?${params.toString().replace(/\+/g, '%20')}`
}
