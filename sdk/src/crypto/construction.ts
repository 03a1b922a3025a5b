// The message construction of DESIGN §5 (specified byte for byte in docs/crypto.md):
// encrypt-then-MAC boxes, pairwise and content keys, associated data, and the box encodings.
import { CryptoError, concatBytes, constantTimeEqual, requireBytes, type CryptoProvider } from './provider.ts'

export interface BoxKeys {
  encKey: Uint8Array
  macKey: Uint8Array
}

export interface SealedBox {
  iv: Uint8Array
  ct: Uint8Array
  mac: Uint8Array
}

export interface WireBox {
  iv: string
  ct: string
  mac: string
}

export const IV_LENGTH = 16
export const MAC_LENGTH = 32
export const KEY_LENGTH = 32

const utf8 = new TextEncoder()
const ZERO_SALT = new Uint8Array(32)

export const INFO = Object.freeze({
  pairwise: 'mobivisor-messenger/v1 pairwise',
  content: 'mobivisor-messenger/v1 content',
})

function splitKeys(p: CryptoProvider, ikm: Uint8Array, info: string): BoxKeys {
  const okm = p.hkdfSha256(ikm, ZERO_SALT, utf8.encode(info), 64)
  return { encKey: okm.slice(0, 32), macKey: okm.slice(32, 64) }
}

export function pairwiseKeys(p: CryptoProvider, myPrivateKey: Uint8Array, theirPublicKey: Uint8Array): BoxKeys {
  return splitKeys(p, p.x25519(myPrivateKey, theirPublicKey), INFO.pairwise)
}

export function contentKeys(p: CryptoProvider, contentKey: Uint8Array): BoxKeys {
  return splitKeys(p, requireBytes(contentKey, KEY_LENGTH), INFO.content)
}

export type Purpose = 'body' | 'key'
const PURPOSE_BYTE: Record<Purpose, number> = { body: 0x01, key: 0x02 }
const AD_MAGIC = utf8.encode('MVM1')

/** uint16 big-endian byte length, then the UTF-8 bytes. Ids are used as given: no normalisation. */
function lengthPrefixed(value: string): Uint8Array {
  // A lone surrogate would be encoded as U+FFFD here but differently on other platforms.
  if (typeof value !== 'string' || /\p{Cs}/u.test(value)) throw new CryptoError()
  const bytes = utf8.encode(value)
  if (bytes.length > 0xffff) throw new CryptoError()
  return concatBytes(Uint8Array.of(bytes.length >> 8, bytes.length & 0xff), bytes)
}

export function associatedData(fields: { purpose: Purpose; senderDeviceId: string; recipient: string; messageId: string }): Uint8Array {
  const purpose = PURPOSE_BYTE[fields.purpose]
  if (purpose === undefined) throw new CryptoError()
  return concatBytes(
    AD_MAGIC,
    Uint8Array.of(purpose),
    lengthPrefixed(fields.senderDeviceId),
    lengthPrefixed(fields.recipient),
    lengthPrefixed(fields.messageId),
  )
}

function checkKeys(keys: BoxKeys): void {
  requireBytes(keys?.encKey, KEY_LENGTH)
  requireBytes(keys?.macKey, KEY_LENGTH)
}

function checkBoxShape(box: SealedBox): void {
  requireBytes(box?.iv, IV_LENGTH)
  requireBytes(box?.mac, MAC_LENGTH)
  const ct = requireBytes(box?.ct)
  if (ct.length === 0 || ct.length % 16 !== 0) throw new CryptoError()
}

/** `iv` is for known-answer tests only; normally a fresh random one is drawn. */
export function seal(p: CryptoProvider, keys: BoxKeys, ad: Uint8Array, plaintext: Uint8Array, iv?: Uint8Array): SealedBox {
  checkKeys(keys)
  requireBytes(ad)
  const boxIv = iv === undefined ? p.randomBytes(IV_LENGTH) : Uint8Array.from(requireBytes(iv, IV_LENGTH))
  const ct = p.aesCbcEncrypt(keys.encKey, boxIv, requireBytes(plaintext))
  const mac = p.hmacSha256(keys.macKey, concatBytes(ad, boxIv, ct))
  return { iv: boxIv, ct, mac }
}

/** Every failure, whatever its cause, is the same CryptoError: the MAC is checked before any decryption. */
export function open(p: CryptoProvider, keys: BoxKeys, ad: Uint8Array, box: SealedBox): Uint8Array {
  try {
    checkKeys(keys)
    requireBytes(ad)
    checkBoxShape(box)
    const expected = p.hmacSha256(keys.macKey, concatBytes(ad, box.iv, box.ct))
    if (!constantTimeEqual(expected, box.mac)) throw new CryptoError()
    return p.aesCbcDecrypt(keys.encKey, box.iv, box.ct)
  } catch {
    throw new CryptoError()
  }
}

export interface SealMessageInput {
  senderDeviceId: string
  senderPrivateKey: Uint8Array
  messageId: string
  recipientUserId: string
  plaintext: Uint8Array
  recipients: ReadonlyArray<{ deviceId: string; x25519PublicKey: Uint8Array }>
}

export interface SealedMessage {
  body: SealedBox
  keys: Array<{ deviceId: string; key: SealedBox }>
}

export function sealMessage(p: CryptoProvider, input: SealMessageInput): SealedMessage {
  const { senderDeviceId, senderPrivateKey, messageId, recipientUserId } = input
  const contentKey = p.randomBytes(KEY_LENGTH)
  const body = seal(
    p,
    contentKeys(p, contentKey),
    associatedData({ purpose: 'body', senderDeviceId, recipient: recipientUserId, messageId }),
    input.plaintext,
  )
  const keys = input.recipients.map(({ deviceId, x25519PublicKey }) => ({
    deviceId,
    key: seal(
      p,
      pairwiseKeys(p, senderPrivateKey, x25519PublicKey),
      associatedData({ purpose: 'key', senderDeviceId, recipient: deviceId, messageId }),
      contentKey,
    ),
  }))
  return { body, keys }
}

export interface OpenMessageInput {
  myDeviceId: string
  myPrivateKey: Uint8Array
  senderDeviceId: string
  senderX25519PublicKey: Uint8Array
  messageId: string
  recipientUserId: string
  body: SealedBox
  key: SealedBox
}

/** Replay detection ((senderDeviceId, messageId) seen before) is the caller's job; see docs/crypto.md. */
export function openMessage(p: CryptoProvider, input: OpenMessageInput): Uint8Array {
  const { myDeviceId, senderDeviceId, messageId } = input
  try {
    // A message "from" this very device can only be a reflection of one it sent.
    if (senderDeviceId === myDeviceId) throw new CryptoError()
    const contentKey = open(
      p,
      pairwiseKeys(p, input.myPrivateKey, input.senderX25519PublicKey),
      associatedData({ purpose: 'key', senderDeviceId, recipient: myDeviceId, messageId }),
      input.key,
    )
    return open(
      p,
      contentKeys(p, contentKey),
      associatedData({ purpose: 'body', senderDeviceId, recipient: input.recipientUserId, messageId }),
      input.body,
    )
  } catch {
    throw new CryptoError()
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const B64_INDEX = new Map([...B64].map((ch, i) => [ch, i]))

/** RFC 4648 §4 with padding; written out because React Native has no Buffer. */
export function base64Encode(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    out += B64[n >> 18]! + B64[(n >> 12) & 63]!
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63]! : '='
    out += i + 2 < bytes.length ? B64[n & 63]! : '='
  }
  return out
}

/** Strict: only the canonical encoding of some bytes is accepted (no whitespace, no URL alphabet, zero pad bits). */
export function base64Decode(text: string): Uint8Array {
  if (typeof text !== 'string' || text.length % 4 !== 0) throw new CryptoError()
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0
  const out = new Uint8Array((text.length / 4) * 3 - padding)
  let o = 0
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length
    let n = 0
    for (let j = 0; j < 4; j++) {
      const ch = text[i + j]!
      const isPad = last && ch === '=' && j >= 4 - padding
      const v = isPad ? 0 : B64_INDEX.get(ch)
      if (v === undefined) throw new CryptoError()
      n = (n << 6) | v
    }
    const bytes = [(n >> 16) & 255, (n >> 8) & 255, n & 255]
    const keep = last ? 3 - padding : 3
    // Non-zero bits hidden under the padding would give one byte string several encodings.
    if (bytes.slice(keep).some((b) => b !== 0)) throw new CryptoError()
    for (let k = 0; k < keep; k++) out[o++] = bytes[k]!
  }
  return out
}

export function boxToWire(box: SealedBox): WireBox {
  return { iv: base64Encode(box.iv), ct: base64Encode(box.ct), mac: base64Encode(box.mac) }
}

export function boxFromWire(wire: unknown): SealedBox {
  if (typeof wire !== 'object' || wire === null) throw new CryptoError()
  const { iv, ct, mac } = wire as Record<string, unknown>
  if (typeof iv !== 'string' || typeof ct !== 'string' || typeof mac !== 'string') throw new CryptoError()
  const box = { iv: base64Decode(iv), ct: base64Decode(ct), mac: base64Decode(mac) }
  checkBoxShape(box)
  return box
}

export function boxToBytes(box: SealedBox): Uint8Array {
  return concatBytes(box.iv, box.ct, box.mac)
}

export function boxFromBytes(bytes: Uint8Array): SealedBox {
  requireBytes(bytes)
  const ctLength = bytes.length - IV_LENGTH - MAC_LENGTH
  if (ctLength <= 0 || ctLength % 16 !== 0) throw new CryptoError()
  return {
    iv: bytes.slice(0, IV_LENGTH),
    ct: bytes.slice(IV_LENGTH, IV_LENGTH + ctLength),
    mac: bytes.slice(IV_LENGTH + ctLength),
  }
}
