// Chain verification, for the live table and for exported files alike: every entry's hash is
// recomputed; on a contiguous range the links (prev_hash, seq + 1, at never going back) are checked
// too. The first broken entry is named; nothing after it is trusted.
import { ZERO_HASH, entryHash } from './canonical.ts'
import {
  ExportFormatError, entryProblem, isFiltered, readExport,
  type ExportFilters, type ExportHeader, type ExportedEntry,
} from './export-format.ts'

export interface Anchor { seq: number; hash: string }

export interface VerifyOptions {
  /** 'skip' for a filtered export, which is not a contiguous piece of the chain */
  links?: 'check' | 'skip'
  /** the entries are the whole log: the first must be seq 1 */
  fromGenesis?: boolean
  /** what the export's header promised: its seq range, period and filters */
  expect?: { firstSeq?: number | null; lastSeq?: number | null; from?: string; to?: string; filters?: ExportFilters }
  /** hashes kept from earlier exports or `mvctl audit head`: each must still be there, unchanged */
  anchors?: Iterable<Anchor>
}

export type VerifyResult =
  | {
    ok: true
    count: number
    links: 'checked' | 'unchecked'
    firstSeq: number | null
    lastSeq: number | null
    /** the prev_hash of the first entry: links this range to the one before it */
    firstPrevHash: string | null
    lastHash: string | null
    /** how many anchors were found and matched */
    anchors: number
  }
  | {
    ok: false
    /** entries that verified before the break */
    count: number
    links: 'checked' | 'unchecked'
    /** the first broken (or missing) entry; null when a malformed first line carries no seq */
    brokenSeq: number | null
    /** for a file: the line that could not be read */
    line?: number
    reason: string
  }

const ZERO_HEX = ZERO_HASH.toString('hex')

export async function verifyChain(entries: AsyncIterable<ExportedEntry> | Iterable<ExportedEntry>, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const links = opts.links === 'skip' ? 'unchecked' : 'checked'
  const expect = opts.expect ?? {}
  const fromMs = expect.from === undefined ? null : Date.parse(expect.from)
  const toMs = expect.to === undefined ? null : Date.parse(expect.to)
  const filters = expect.filters ?? {}
  const anchors = new Map<number, string>()
  for (const a of opts.anchors ?? []) anchors.set(a.seq, a.hash.toLowerCase())
  let matchedAnchors = 0
  let count = 0
  let first: ExportedEntry | null = null
  let prev: { seq: number; hash: string; atMs: number } | null = null

  const broken = (brokenSeq: number | null, reason: string, line?: number): VerifyResult =>
    ({ ok: false, count, links, brokenSeq, reason, ...(line === undefined ? {} : { line }) })

  try {
    for await (const e of entries) {
      const problem = entryProblem(e)
      if (problem) return broken(Number.isSafeInteger(e?.seq) ? e.seq : (prev ? prev.seq + 1 : null), problem)
      const atMs = Date.parse(e.at)
      if (links === 'checked') {
        const expected = prev ? prev.seq + 1 : opts.fromGenesis ? 1 : (expect.firstSeq ?? null)
        if (expected !== null && e.seq !== expected) {
          return broken(expected, prev
            ? `entry ${expected} is missing or out of order: seq ${e.seq} follows seq ${prev.seq}`
            : `entry ${expected} is missing: the ${opts.fromGenesis ? 'log' : 'export'} should start at seq ${expected} but starts at seq ${e.seq}`)
        }
        if (expect.lastSeq === null) return broken(e.seq, 'the header says the period is empty, yet there are entries')
        if (expect.lastSeq !== undefined && e.seq > expect.lastSeq) return broken(e.seq, `seq ${e.seq} lies beyond the header's last seq ${expect.lastSeq} (added?)`)
        if (prev && e.prevHash !== prev.hash) return broken(e.seq, `prev_hash does not match the hash of seq ${prev.seq}`)
        if (prev && atMs < prev.atMs) return broken(e.seq, `at ${e.at} is earlier than the previous entry's`)
      } else if (prev && e.seq <= prev.seq) {
        return broken(e.seq, `seq ${e.seq} does not increase (it follows seq ${prev.seq})`)
      }
      if (e.seq === 1 && e.prevHash !== ZERO_HEX) return broken(1, "the first entry's prev_hash must be 32 zero bytes")
      let actual: string
      try {
        actual = entryHash(e, Buffer.from(e.prevHash, 'hex')).toString('hex')
      } catch (err) {
        return broken(e.seq, `cannot be encoded: ${(err as Error).message}`)
      }
      if (actual !== e.hash) return broken(e.seq, 'hash does not match the entry (changed after it was written)')
      if ((fromMs !== null && atMs < fromMs) || (toMs !== null && atMs >= toMs)) {
        return broken(e.seq, `at ${e.at} is outside the export's period [${expect.from}, ${expect.to})`)
      }
      const mismatch = filterMismatch(e, filters)
      if (mismatch) return broken(e.seq, `does not match the export's filter (${mismatch})`)
      const anchored = anchors.get(e.seq)
      if (anchored !== undefined) {
        if (anchored !== e.hash) return broken(e.seq, `hash differs from the anchored hash ${anchored}`)
        matchedAnchors++
      }
      first ??= e
      prev = { seq: e.seq, hash: e.hash, atMs }
      count++
    }
  } catch (err) {
    if (err instanceof ExportFormatError) return broken(err.seq ?? (prev ? prev.seq + 1 : null), err.message, err.line)
    throw err
  }

  if (links === 'checked') {
    const lastSeq = prev?.seq ?? null
    if (expect.lastSeq != null && lastSeq !== expect.lastSeq) {
      const missing = (lastSeq ?? (expect.firstSeq ?? 1) - 1) + 1
      return broken(missing, lastSeq === null
        ? `entry ${missing} is missing: the export is empty but its header says it covers seq ${expect.firstSeq}..${expect.lastSeq}`
        : `entry ${missing} is missing: the export ends at seq ${lastSeq} but its header says it runs to seq ${expect.lastSeq}`)
    }
    // An anchor beyond the end means entries were removed from the end of the log.
    const firstSeq = opts.fromGenesis ? 1 : first?.seq ?? null
    for (const [seq] of [...anchors].sort((a, b) => a[0] - b[0])) {
      if (firstSeq !== null && seq >= firstSeq && (lastSeq === null || seq > lastSeq)) {
        return broken(seq, `anchored entry ${seq} is missing: the chain ends at ${lastSeq === null ? 'nothing' : `seq ${lastSeq}`} (entries removed from the end?)`)
      }
    }
  }
  return {
    ok: true, count, links, firstSeq: first?.seq ?? null, lastSeq: prev?.seq ?? null,
    firstPrevHash: first?.prevHash ?? null, lastHash: prev?.hash ?? null, anchors: matchedAnchors,
  }
}

function filterMismatch(e: ExportedEntry, f: ExportFilters): string | null {
  if (f.actorType !== undefined && e.actorType !== f.actorType) return `actorType ${f.actorType}`
  if (f.action !== undefined && e.action !== f.action) return `action ${f.action}`
  if (f.targetType !== undefined && e.targetType !== f.targetType) return `targetType ${f.targetType}`
  if (f.targetId !== undefined && e.targetId !== f.targetId) return `targetId ${f.targetId}`
  return null
}

export interface VerifyExportOptions {
  /** treat the file as filtered (links unchecked) even without a header saying so, e.g. a filtered CSV */
  filtered?: boolean
  anchors?: Iterable<Anchor>
}

/**
 * Verifies an export file (NDJSON or CSV). An NDJSON header line tells whether the export was
 * filtered and which seq range it must cover; CSV has no header line, so a filtered CSV needs
 * `filtered: true` (and proves less: use NDJSON for verification).
 */
export async function verifyExport(input: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, opts: VerifyExportOptions = {}):
  Promise<VerifyResult & { format: 'ndjson' | 'csv'; header: ExportHeader | null }> {
  let parsed
  try {
    parsed = await readExport(input)
  } catch (err) {
    if (err instanceof ExportFormatError) {
      return { ok: false, count: 0, links: 'checked', brokenSeq: err.seq, line: err.line, reason: err.message, format: 'ndjson', header: null }
    }
    throw err
  }
  const { header, format } = parsed
  const filtered = opts.filtered === true || (header !== null && isFiltered(header.filters))
  const result = await verifyChain(parsed.entries, {
    links: filtered ? 'skip' : 'check',
    ...(header ? { expect: { firstSeq: header.firstSeq, lastSeq: header.lastSeq, from: header.from, to: header.to, filters: header.filters } } : {}),
    ...(opts.anchors ? { anchors: opts.anchors } : {}),
  })
  return { ...result, format, header }
}
