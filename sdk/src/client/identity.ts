// A device's identity: its server-assigned ids and its two key pairs (X25519 for messages,
// Ed25519 for authenticating to the gateway). Kept as base64 so it can be stored as JSON.
import { base64Decode, base64Encode, type CryptoProvider } from '../crypto/index.ts'

export interface DeviceIdentity {
  server: string
  deviceId: string
  userId: string
  username: string
  x25519: { publicKey: string; privateKey: string }
  ed25519: { publicKey: string; privateKey: string }
}

export interface DeviceKeys {
  x25519: { publicKey: Uint8Array; privateKey: Uint8Array }
  ed25519: { publicKey: Uint8Array; privateKey: Uint8Array }
}

export function generateDeviceKeys(p: CryptoProvider): DeviceKeys {
  return { x25519: p.x25519KeyPair(), ed25519: p.ed25519KeyPair() }
}

const encodePair = (k: { publicKey: Uint8Array; privateKey: Uint8Array }) => ({ publicKey: base64Encode(k.publicKey), privateKey: base64Encode(k.privateKey) })

export function toIdentity(ids: Omit<DeviceIdentity, 'x25519' | 'ed25519'>, keys: DeviceKeys): DeviceIdentity {
  return { ...ids, x25519: encodePair(keys.x25519), ed25519: encodePair(keys.ed25519) }
}

export function keysOf(identity: DeviceIdentity): DeviceKeys {
  const decode = (k: { publicKey: string; privateKey: string }) => ({ publicKey: base64Decode(k.publicKey), privateKey: base64Decode(k.privateKey) })
  return { x25519: decode(identity.x25519), ed25519: decode(identity.ed25519) }
}
