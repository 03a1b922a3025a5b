// Wire and storage forms of a sealed box. The server never opens one; it only checks the shape
// DESIGN §5 fixes (16-byte IV, non-empty CBC ciphertext in whole blocks, 32-byte MAC) so that
// garbage is refused at the door rather than delivered.
import { BadRequest } from '../errors.ts'

export interface WireBox { iv: string; ct: string; mac: string }

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function decode(field: string, value: string): Buffer {
  if (!BASE64.test(value)) throw new BadRequest(`${field} is not base64`)
  return Buffer.from(value, 'base64')
}

export function boxToBytes(box: WireBox, field: string): Buffer {
  const iv = decode(`${field}.iv`, box.iv)
  const ct = decode(`${field}.ct`, box.ct)
  const mac = decode(`${field}.mac`, box.mac)
  if (iv.length !== 16) throw new BadRequest(`${field}.iv must be 16 bytes`)
  if (mac.length !== 32) throw new BadRequest(`${field}.mac must be 32 bytes`)
  if (ct.length === 0 || ct.length % 16 !== 0) throw new BadRequest(`${field}.ct must be a non-empty multiple of 16 bytes`)
  return Buffer.concat([iv, ct, mac])
}

export function boxFromBytes(bytes: Uint8Array): WireBox {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    iv: b.subarray(0, 16).toString('base64'),
    ct: b.subarray(16, b.length - 32).toString('base64'),
    mac: b.subarray(b.length - 32).toString('base64'),
  }
}
