// An NDJSON export sent to the admin API (POST /admin/v1/audit/verify), checked by the same code as
// `mvctl audit verify` (verify.ts), and answered in the API's shape: the first broken entry with its
// seq and line, and the last entry that verified.
import { ExportFormatError, isFiltered, readExport, type ExportedEntry, type ParsedExport } from './export-format.ts'
import { verifyChain } from './verify.ts'

export interface VerifyReport {
  ok: boolean
  /** entries that verified (before the first broken one) */
  entries: number
  firstBroken: { seq: number | null; line: number; reason: string } | null
  /** the last entry that verified, or null when none did */
  lastSeq: number | null
  lastHash: string | null
  /** 'unchecked' for a filtered export: each entry's hash is checked, the links between them are not */
  links: 'checked' | 'unchecked'
}

export async function verifyUpload(input: AsyncIterable<string | Uint8Array>): Promise<VerifyReport> {
  let parsed: ParsedExport
  try {
    parsed = await readExport(input)
  } catch (err) {
    if (err instanceof ExportFormatError) return { ok: false, entries: 0, firstBroken: { seq: err.seq, line: Math.max(err.line, 1), reason: err.message }, lastSeq: null, lastHash: null, links: 'checked' }
    throw err
  }
  const { header } = parsed
  const filtered = header !== null && isFiltered(header.filters)
  // The verifier counts the entries that passed; the last two handed to it name the last good one.
  const seen: ExportedEntry[] = []
  let handed = 0
  async function* tapped(): AsyncGenerator<ExportedEntry> {
    for await (const e of parsed.entries) {
      seen.push(e)
      if (seen.length > 2) seen.shift()
      handed++
      yield e
    }
  }
  const r = await verifyChain(tapped(), {
    links: filtered ? 'skip' : 'check',
    ...(header ? { expect: { firstSeq: header.firstSeq, lastSeq: header.lastSeq, from: header.from, to: header.to, filters: header.filters } } : {}),
  })
  if (r.ok) return { ok: true, entries: r.count, firstBroken: null, lastSeq: r.lastSeq, lastHash: r.lastHash, links: r.links }
  // Broken at an entry (handed = count + 1), or after the last one (a missing end: handed = count).
  const lastGood = r.count === 0 ? undefined : seen[seen.length - 1 - (handed - r.count)]
  const headerLines = header ? 1 : 0
  return {
    ok: false,
    entries: r.count,
    firstBroken: { seq: r.brokenSeq, line: r.line ?? headerLines + r.count + 1, reason: r.reason },
    lastSeq: lastGood?.seq ?? null,
    lastHash: lastGood?.hash ?? null,
    links: r.links,
  }
}
