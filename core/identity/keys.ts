// Public keys offered at enrollment. An X25519 key of small order would give every peer an
// all-zero shared secret (DESIGN §5 forbids it): OpenSSL refuses such a result, so one trial
// agreement with a throwaway key tells a usable key from a low-order one.
import { createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto'

const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
const probe = generateKeyPairSync('x25519').privateKey

export function isUsableX25519PublicKey(key: Uint8Array): boolean {
  if (key.length !== 32) return false
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, key]), format: 'der', type: 'spki' })
    diffieHellman({ privateKey: probe, publicKey })
    return true
  } catch {
    return false
  }
}

