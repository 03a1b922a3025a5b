// Administrator passwords: scrypt (N=2^15, r=8, p=1, the parameters DESIGN §5 uses for PINs)
// stored as `$scrypt$n=32768,r=8,p=1$<salt>$<hash>` (base64 without padding), so the cost can
// be raised later without invalidating existing hashes. Compared in constant time.
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { PasswordTooWeak } from '../errors.ts'

export const MIN_PASSWORD_LENGTH = 12
export const MAX_PASSWORD_LENGTH = 256
const PARAMS = { N: 2 ** 15, r: 8, p: 1 }
const KEY_BYTES = 32
const SALT_BYTES = 16
// scrypt needs 128·N·r bytes; Node's default cap is exactly that, so leave room.
const MAXMEM = 256 * PARAMS.N * PARAMS.r
const ENCODED = /^\$scrypt\$n=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/

function scrypt(password: string, salt: Buffer, length: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password.normalize('NFC'), salt, length, opts, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

const b64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '')

/** Throws MVM_ADMIN_PASSWORD_WEAK unless the password is long enough (length is what counts). */
export function checkPasswordStrength(password: string): void {
  const length = [...password].length
  if (length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) throw new PasswordTooWeak()
}

export async function hashPassword(password: string): Promise<string> {
  checkPasswordStrength(password)
  const salt = randomBytes(SALT_BYTES)
  const key = await scrypt(password, salt, KEY_BYTES, { ...PARAMS, maxmem: MAXMEM })
  return `$scrypt$n=${PARAMS.N},r=${PARAMS.r},p=${PARAMS.p}$${b64(salt)}$${b64(key)}`
}

/** Whether `password` matches `encoded`; false (never a throw) for anything malformed. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const m = ENCODED.exec(encoded)
  if (!m) return false
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])]
  // Bounds keep a tampered row from making one login take minutes or gigabytes.
  if (!(N >= 2 && N <= 2 ** 20 && (N & (N - 1)) === 0 && r >= 1 && r <= 32 && p >= 1 && p <= 16)) return false
  const salt = Buffer.from(m[4]!, 'base64')
  const expected = Buffer.from(m[5]!, 'base64')
  if (expected.length < 16 || password.length > MAX_PASSWORD_LENGTH) return false
  const actual = await scrypt(password, salt, expected.length, { N, r, p, maxmem: 256 * N * r })
  return timingSafeEqual(actual, expected)
}

let dummy: Promise<string> | undefined
/** A hash of a random password: checked against when the username is unknown, so timing tells nothing. */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(generatePassword())
  return dummy
}

/** A password for a new account or a reset: 24 characters of base64url (144 bits), shown once. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url')
}
