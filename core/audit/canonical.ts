// The byte-exact encoding every audit hash is computed over (docs/audit.md §3). An auditor must be
// able to re-implement it from the doc alone, so it is deliberately small: canonical JSON (sorted
// keys, no whitespace, integers only) of a fixed array, prefixed by the previous entry's hash.
import { createHash } from 'node:crypto'

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject
export interface JsonObject { [key: string]: JsonValue }

/** The fields of an entry that its hash covers, as they appear in an export. */
export interface HashedFields {
  seq: number
  /** ISO-8601 UTC with milliseconds and Z, e.g. 2025-03-01T09:30:00.123Z */
  at: string
  actorType: string
  actorId: string | null
  action: string
  targetType: string | null
  targetId: string | null
  sourceIp: string | null
  details: JsonObject
}

export const HASH_BYTES = 32
export const ZERO_HASH: Buffer = Buffer.alloc(HASH_BYTES)
export const AT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const MAX_DEPTH = 32

export class CanonicalJsonError extends TypeError {
  constructor(readonly path: string, readonly problem: string) {
    super(`${path}: ${problem}`)
  }
}

// A lone surrogate would be written as U+FFFD by UTF-8 encoding, so two different strings would
// hash alike; PostgreSQL also refuses U+0000 in jsonb and text. Both are refused up front.
const SUSPECT = /[\u0000\uD800-\uDFFF]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
export function checkText(value: string, path: string): void {
  try {
    textProblem(value)
  } catch (err) {
    throw new CanonicalJsonError(path, (err as Error).message)
  }
}

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, strings escaped as
 * JSON.stringify does (RFC 8785), numbers only as safe integers (|n| <= 2^53-1) so that every
 * language prints them alike. Object properties whose value is `undefined` are left out, as
 * JSON.stringify does; anything else that is not plain JSON (Date, Map, BigInt, NaN, a class
 * instance) is refused with the path to it.
 * `lenient` accepts any finite number and any string: the exporter uses it so that a row that
 * was changed behind the log's back still exports (and then fails verification).
 */
export function canonicalJson(value: unknown, opts: { lenient?: boolean } = {}): string {
  try {
    return canonical(value, 0, opts.lenient === true)
  } catch (err) {
    if (err instanceof Unencodable) throw new CanonicalJsonError(`$${err.where.reverse().join('')}`, err.message)
    throw err
  }
}

// Thrown deep down without a path (building one per value would cost more than the encoding);
// each level adds its key while the error unwinds.
class Unencodable extends Error {
  where: string[] = []
}

function canonical(v: unknown, depth: number, lenient: boolean): string {
  if (depth > MAX_DEPTH) throw new Unencodable(`nested deeper than ${MAX_DEPTH} levels`)
  if (v === null) return 'null'
  switch (typeof v) {
    case 'boolean': return v ? 'true' : 'false'
    case 'number':
      if (lenient ? !Number.isFinite(v) : !Number.isSafeInteger(v)) {
        throw new Unencodable(`number ${String(v)} is not an integer within ±(2^53-1); put it in a string`)
      }
      return JSON.stringify(v)
    case 'string':
      if (!lenient) textProblem(v)
      return JSON.stringify(v)
    case 'object': {
      if (Array.isArray(v)) {
        let out = '['
        for (let i = 0; i < v.length; i++) {
          try {
            if (v[i] === undefined) throw new Unencodable('is undefined')
            out += (i > 0 ? ',' : '') + canonical(v[i], depth + 1, lenient)
          } catch (err) {
            if (err instanceof Unencodable) err.where.push(`[${i}]`)
            throw err
          }
        }
        return out + ']'
      }
      const proto = Object.getPrototypeOf(v) as unknown
      if (proto !== Object.prototype && proto !== null) {
        throw new Unencodable(`${(v as object).constructor?.name ?? 'object'} is not plain JSON; convert it (e.g. a Date to an ISO string)`)
      }
      const record = v as Record<string, unknown>
      const keys = Object.keys(record).sort()
      let out = '{'
      let first = true
      for (const key of keys) {
        const item = record[key]
        if (item === undefined) continue
        try {
          if (!lenient) textProblem(key)
          out += (first ? '' : ',') + JSON.stringify(key) + ':' + canonical(item, depth + 1, lenient)
        } catch (err) {
          if (err instanceof Unencodable) err.where.push(`.${key}`)
          throw err
        }
        first = false
      }
      return out + '}'
    }
    default:
      throw new Unencodable(`${typeof v} is not JSON`)
  }
}

function textProblem(value: string): void {
  if (!SUSPECT.test(value)) return
  if (value.includes('\u0000')) throw new Unencodable('contains U+0000')
  if (LONE_SURROGATE.test(value)) throw new Unencodable('contains a lone UTF-16 surrogate')
}

/** The UTF-8 bytes after the 32-byte prev_hash in the hash input (docs/audit.md §3). */
export function hashBody(e: HashedFields, opts: { lenient?: boolean } = {}): string {
  return canonicalJson(
    [String(e.seq), e.at, e.actorType, e.actorId, e.action, e.targetType, e.targetId, e.sourceIp, e.details],
    opts,
  )
}

/** hash = SHA-256(prev_hash || UTF-8(canonical JSON array of the fields)). */
export function entryHash(e: HashedFields, prevHash: Uint8Array, opts: { lenient?: boolean } = {}): Buffer {
  if (prevHash.length !== HASH_BYTES) throw new TypeError(`prev_hash must be ${HASH_BYTES} bytes`)
  return createHash('sha256').update(prevHash).update(hashBody(e, opts), 'utf8').digest()
}
