// Runs Wycheproof test-vector files (parsed JSON) through one or more providers. Pure: no I/O,
// so tests and scripts/vectors.ts share it.
import { bytesToHex, hexToBytes, type CryptoProvider } from './provider.ts'

export type Expected = 'valid' | 'invalid' | 'acceptable'

/** What one provider did with one case: produced the expected output, rejected it, or produced something else. */
export type Outcome = { kind: 'match' } | { kind: 'rejected' } | { kind: 'wrong'; output: string }

export interface CaseResult {
  tcId: number
  comment: string
  expected: Expected
  outcomes: Record<string, Outcome>
  passed: boolean
  reason?: string
}

export interface FileResult {
  label: string
  algorithm: string
  passed: number
  failed: number
  failures: CaseResult[]
}

/** The file cannot be run: not Wycheproof JSON, an algorithm this runner does not know, or a malformed case. */
export class VectorFileError extends Error {
  constructor(label: string, problem: string) {
    super(`${label}: ${problem}`)
    this.name = 'VectorFileError'
  }
}

type Case = Record<string, unknown>
type Group = Record<string, unknown> & { tests: Case[] }
/** Runs one case on one provider; a throw of the primitive counts as a rejection. */
type Check = (p: CryptoProvider, c: Case) => Outcome

interface Suite {
  algorithm: string
  check(group: Group, fail: (problem: string) => never): Check
}

const SUITES = new Map<string, Suite>(Object.entries({
  XdhComp: {
    algorithm: 'XDH',
    check(group, fail) {
      if (group.curve !== 'curve25519') fail(`unsupported curve ${String(group.curve)}`)
      return (p, c) => compare(() => p.x25519(hex(c, 'private'), hex(c, 'public')), str(c, 'shared'))
    },
  },
  HkdfTest: {
    algorithm: 'HKDF-SHA-256',
    check() {
      return (p, c) => compare(() => p.hkdfSha256(hex(c, 'ikm'), hex(c, 'salt'), hex(c, 'info'), num(c, 'size')), str(c, 'okm'))
    },
  },
  MacTest: {
    algorithm: 'HMACSHA256',
    check(group, fail) {
      const tagSize = typeof group.tagSize === 'number' ? group.tagSize : fail('no tagSize')
      if (tagSize % 8 !== 0 || tagSize <= 0 || tagSize > 256) fail(`bad tagSize ${tagSize}`)
      return (p, c) => {
        // A MAC is "rejected" when the computed (possibly truncated) tag differs from the claimed one.
        const outcome = compare(() => p.hmacSha256(hex(c, 'key'), hex(c, 'msg')).subarray(0, tagSize / 8), str(c, 'tag'))
        return outcome.kind === 'wrong' ? { kind: 'rejected' } : outcome
      }
    },
  },
  IndCpaTest: {
    algorithm: 'AES-CBC-PKCS5',
    check() {
      return (p, c) => {
        const decrypted = compare(() => p.aesCbcDecrypt(hex(c, 'key'), hex(c, 'iv'), hex(c, 'ct')), str(c, 'msg'))
        if (decrypted.kind !== 'match') return decrypted
        // A ciphertext that decrypts correctly must also be what encryption produces.
        const encrypted = compare(() => p.aesCbcEncrypt(hex(c, 'key'), hex(c, 'iv'), hex(c, 'msg')), str(c, 'ct'))
        return encrypted.kind === 'rejected' ? { kind: 'wrong', output: 'encryption failed' } : encrypted
      }
    },
  },
  EddsaVerify: {
    algorithm: 'EDDSA',
    check(group, fail) {
      const key = group.publicKey ?? group.key
      if (!isObject(key)) return fail('a test group has no public key')
      if (key.curve !== 'edwards25519' && key.curve !== 'ed25519') fail(`unsupported EdDSA curve ${String(key.curve)}`)
      const publicKey = hex(key, 'pk')
      return (p, c) => (p.ed25519Verify(publicKey, hex(c, 'msg'), hex(c, 'sig')) ? { kind: 'match' } : { kind: 'rejected' })
    },
  },
} satisfies Record<string, Suite>))

/** Runs every case of a parsed Wycheproof file on every provider; throws VectorFileError if it cannot. */
export function runWycheproof(json: unknown, providers: readonly CryptoProvider[], label = 'vectors'): FileResult {
  const fail = (problem: string): never => {
    throw new VectorFileError(label, problem)
  }
  if (providers.length === 0) fail('no provider to run')
  if (!isObject(json) || !Array.isArray(json.testGroups)) fail('not a Wycheproof file (no testGroups)')
  const file = json as { algorithm?: unknown; testGroups: unknown[] }
  const algorithm = typeof file.algorithm === 'string' ? file.algorithm : fail('no algorithm')

  const result: FileResult = { label, algorithm, passed: 0, failed: 0, failures: [] }
  for (const group of file.testGroups) {
    if (!isObject(group) || !Array.isArray(group.tests)) fail('a test group has no tests')
    const g = group as Group
    const suite = SUITES.get(String(g.type))
    if (!suite) return fail(`unsupported test group type ${JSON.stringify(g.type)} (algorithm ${algorithm})`)
    if (suite.algorithm !== algorithm) fail(`unsupported algorithm ${algorithm} for test group type ${String(g.type)}`)
    let check: Check
    try {
      check = suite.check(g, fail)
    } catch (err) {
      if (err instanceof MalformedCase) fail(`a test group: ${err.message}`)
      throw err
    }
    for (const c of g.tests) {
      const outcome = runCase(c, providers, check, fail)
      if (outcome.passed) result.passed++
      else {
        result.failed++
        result.failures.push(outcome)
      }
    }
  }
  return result
}

function runCase(c: unknown, providers: readonly CryptoProvider[], check: Check, fail: (p: string) => never): CaseResult {
  if (!isObject(c) || typeof c.tcId !== 'number') fail('a test case has no tcId')
  const tc = c as Case & { tcId: number }
  const expected = tc.result
  if (expected !== 'valid' && expected !== 'invalid' && expected !== 'acceptable') fail(`tcId ${tc.tcId}: bad result ${String(expected)}`)
  const outcomes: Record<string, Outcome> = {}
  for (const p of providers) {
    try {
      outcomes[p.name] = check(p, tc)
    } catch (err) {
      if (err instanceof MalformedCase) fail(`tcId ${tc.tcId}: ${err.message}`)
      throw err
    }
  }
  const all = Object.values(outcomes)
  const first = JSON.stringify(all[0])
  let reason: string | undefined
  if (all.some((o) => JSON.stringify(o) !== first)) reason = 'providers disagree'
  else if (expected === 'valid' && all[0]!.kind !== 'match') reason = all[0]!.kind === 'rejected' ? 'valid case rejected' : 'wrong output'
  else if (expected === 'invalid' && all[0]!.kind !== 'rejected') reason = 'invalid case accepted'
  else if (expected === 'acceptable' && all[0]!.kind === 'wrong') reason = 'wrong output'
  const result: CaseResult = { tcId: tc.tcId, comment: String(tc.comment ?? ''), expected, outcomes, passed: reason === undefined }
  if (reason !== undefined) result.reason = reason
  return result
}

function compare(compute: () => Uint8Array, expectedHex: string): Outcome {
  let output: string
  try {
    output = bytesToHex(compute())
  } catch (err) {
    if (err instanceof MalformedCase) throw err
    return { kind: 'rejected' }
  }
  return output === expectedHex.toLowerCase() ? { kind: 'match' } : { kind: 'wrong', output }
}

class MalformedCase extends Error {}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function str(c: Record<string, unknown>, field: string): string {
  const value = c[field]
  if (typeof value !== 'string') throw new MalformedCase(`field ${field} is missing`)
  return value
}

function hex(c: Record<string, unknown>, field: string): Uint8Array {
  try {
    return hexToBytes(str(c, field))
  } catch {
    throw new MalformedCase(`field ${field} is not hex`)
  }
}

function num(c: Record<string, unknown>, field: string): number {
  const value = c[field]
  if (typeof value !== 'number') throw new MalformedCase(`field ${field} is not a number`)
  return value
}

export function formatFileResult(r: FileResult): string[] {
  const lines = [`${r.label}: ${r.algorithm}: ${r.passed} passed, ${r.failed} failed`]
  for (const f of r.failures) {
    const detail = Object.entries(f.outcomes).map(([name, o]) => `${name}=${o.kind === 'wrong' ? `wrong(${o.output})` : o.kind}`).join(' ')
    lines.push(`  tcId ${f.tcId} (${f.expected}${f.comment ? `, ${f.comment}` : ''}): ${f.reason}; ${detail}`)
  }
  return lines
}
