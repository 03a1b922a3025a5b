// Export files: NDJSON (for verification; a header line, then one entry per line) and CSV (for
// reading in a spreadsheet; formula-looking cells neutralised). Both are written and read here so
// that the writer and the verifier cannot drift apart. docs/audit.md §5 describes the files.
import { TextDecoder } from 'node:util'
import { AT_PATTERN, canonicalJson, type HashedFields, type JsonObject } from './canonical.ts'

/** One entry as exported: the hashed fields plus both hashes as lowercase hex. */
export interface ExportedEntry extends HashedFields {
  prevHash: string
  hash: string
}

export interface ExportFilters {
  actorType?: string
  action?: string
  targetType?: string
  targetId?: string
}

/** Line 1 of an NDJSON export: what was asked for and which seq range the period covered. */
export interface ExportHeader {
  mvmAuditExport: 1
  from: string
  to: string
  filters: ExportFilters
  /** the first and last seq inside [from, to) when the export started (null: none) */
  firstSeq: number | null
  lastSeq: number | null
}

export type ExportFormat = 'ndjson' | 'csv'

export class ExportFormatError extends Error {
  constructor(readonly line: number, readonly seq: number | null, problem: string) {
    super(`line ${line}: ${problem}`)
  }
}

/**
 * The longest line (NDJSON) or record (CSV) read: an entry's details are at most 64 KiB, a few
 * hundred KiB once quoted for CSV. Anything longer is not an export, and refusing it early keeps a
 * reader from holding (and re-scanning) an unbounded buffer.
 */
export const MAX_RECORD_CHARS = 1024 * 1024

const HEX_HASH = /^[0-9a-f]{64}$/
const FILTER_KEYS = ['actorType', 'action', 'targetType', 'targetId'] as const
const ENTRY_KEYS = ['seq', 'at', 'actorType', 'actorId', 'action', 'targetType', 'targetId', 'sourceIp', 'details', 'prevHash', 'hash'] as const
export const CSV_COLUMNS = ['seq', 'at', 'actor_type', 'actor_id', 'action', 'target_type', 'target_id', 'source_ip', 'details', 'prev_hash', 'hash'] as const

export function isFiltered(filters: ExportFilters): boolean {
  return FILTER_KEYS.some((k) => filters[k] !== undefined)
}

export function cleanFilters(filters: ExportFilters): ExportFilters {
  const out: ExportFilters = {}
  for (const k of FILTER_KEYS) if (filters[k] !== undefined) out[k] = filters[k]
  return out
}

// ---- writing ------------------------------------------------------------------------------

export function ndjsonHeader(h: ExportHeader): string {
  return `{"mvmAuditExport":1,"from":${JSON.stringify(h.from)},"to":${JSON.stringify(h.to)},"filters":${canonicalJson(h.filters)},` +
    `"firstSeq":${JSON.stringify(h.firstSeq)},"lastSeq":${JSON.stringify(h.lastSeq)}}\n`
}

export function ndjsonLine(e: ExportedEntry): string {
  // Field order fixed for readability; details canonical, so the same entry is always the same line.
  return `{"seq":${e.seq},"at":${JSON.stringify(e.at)},"actorType":${JSON.stringify(e.actorType)},` +
    `"actorId":${JSON.stringify(e.actorId)},"action":${JSON.stringify(e.action)},` +
    `"targetType":${JSON.stringify(e.targetType)},"targetId":${JSON.stringify(e.targetId)},` +
    `"sourceIp":${JSON.stringify(e.sourceIp)},"details":${canonicalJson(e.details, { lenient: true })},` +
    `"prevHash":"${e.prevHash}","hash":"${e.hash}"}\n`
}

// Spreadsheets run a cell that starts with = + - @ (and, via some importers, TAB or CR) as a
// formula (OWASP "CSV injection"); a leading ' makes it text. A cell that already starts with '
// gets one too, so that a reader can always undo exactly one: the mapping stays reversible.
const FORMULA_START = /^[=+\-@\t\r']/

export function neutraliseCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value
}

function csvCell(value: string | number | null): string {
  if (value === null) return ''
  const text = neutraliseCell(String(value))
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

export const csvHeader = `${CSV_COLUMNS.join(',')}\r\n`

export function csvRow(e: ExportedEntry): string {
  return [e.seq, e.at, e.actorType, e.actorId, e.action, e.targetType, e.targetId, e.sourceIp,
    canonicalJson(e.details, { lenient: true }), e.prevHash, e.hash].map(csvCell).join(',') + '\r\n'
}

// ---- reading ------------------------------------------------------------------------------

export interface ParsedExport {
  format: ExportFormat
  /** the NDJSON header line; null for CSV and for NDJSON files without one */
  header: ExportHeader | null
  entries: AsyncIterable<ExportedEntry>
}

/** Reads an export (NDJSON or CSV, told apart by the first character) as a stream of entries. */
export async function readExport(input: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>): Promise<ParsedExport> {
  const text = decode(input)[Symbol.asyncIterator]()
  let first = ''
  for (;;) {
    const next = await text.next()
    if (next.done) break
    first += next.value
    if (first.replace(/^\uFEFF/, '').trimStart().length > 0) break
    if (first.length > MAX_RECORD_CHARS) throw new ExportFormatError(1, null, 'nothing but blank space: not an audit export')
  }
  first = first.replace(/^\uFEFF/, '')
  const rest: AsyncIterable<string> = {
    async *[Symbol.asyncIterator]() {
      if (first) yield first
      for (;;) {
        const next = await text.next()
        if (next.done) return
        yield next.value
      }
    },
  }
  if (first.trimStart().startsWith('{')) return readNdjson(rest)
  return { format: 'csv', header: null, entries: csvEntries(rest) }
}

async function* decode(input: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  for await (const chunk of input) {
    const text = typeof chunk === 'string' ? chunk : decodeOrFail(decoder, chunk, true)
    if (text) yield text
  }
  const tail = decodeOrFail(decoder, new Uint8Array(0), false)
  if (tail) yield tail
}

function decodeOrFail(decoder: TextDecoder, bytes: Uint8Array, stream: boolean): string {
  try {
    return decoder.decode(bytes, { stream })
  } catch {
    throw new ExportFormatError(0, null, 'the file is not valid UTF-8')
  }
}

async function* lines(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let buffered = ''
  let line = 0
  for await (const chunk of chunks) {
    // Only the new text can hold the next line break: the buffered part had none.
    let nl = buffered.length + chunk.indexOf('\n')
    if (nl < buffered.length) nl = -1
    buffered += chunk
    let start = 0
    while (nl >= 0) {
      line++
      yield buffered.slice(start, nl).replace(/\r$/, '')
      start = nl + 1
      nl = buffered.indexOf('\n', start)
    }
    buffered = buffered.slice(start)
    if (buffered.length > MAX_RECORD_CHARS) throw new ExportFormatError(line + 1, null, `a line longer than ${MAX_RECORD_CHARS} characters: not an audit export`)
  }
  if (buffered.length > 0) yield buffered.replace(/\r$/, '')
}

async function readNdjson(chunks: AsyncIterable<string>): Promise<ParsedExport> {
  const it = lines(chunks)[Symbol.asyncIterator]()
  const firstLine = await it.next()
  let header: ExportHeader | null = null
  let pending: string | null = null
  if (!firstLine.done) {
    const parsed = tryJson(firstLine.value)
    if (parsed !== undefined && isRecord(parsed) && 'mvmAuditExport' in parsed) header = parseHeader(parsed)
    else pending = firstLine.value
  }
  async function* entries(): AsyncGenerator<ExportedEntry> {
    let lineNo = header ? 1 : 0
    const handle = (line: string) => {
      lineNo++
      const seqHint = /"seq"\s*:\s*(\d+)/.exec(line)
      const seq = seqHint ? Number(seqHint[1]) : null
      if (line.trim() === '') throw new ExportFormatError(lineNo, null, 'blank line')
      const value = tryJson(line)
      if (value === undefined) throw new ExportFormatError(lineNo, seq, 'not valid JSON')
      return parseEntryObject(value, lineNo, seq)
    }
    if (pending !== null) yield handle(pending)
    for (;;) {
      const next = await it.next()
      if (next.done) return
      yield handle(next.value)
    }
  }
  return { format: 'ndjson', header, entries: entries() }
}

function parseHeader(v: Record<string, unknown>): ExportHeader {
  const bad = (what: string) => new ExportFormatError(1, null, `header line: ${what}`)
  if (v.mvmAuditExport !== 1) throw bad('unknown export version')
  if (typeof v.from !== 'string' || Number.isNaN(Date.parse(v.from))) throw bad('from is not a date')
  if (typeof v.to !== 'string' || Number.isNaN(Date.parse(v.to))) throw bad('to is not a date')
  if (!isRecord(v.filters)) throw bad('filters is not an object')
  const filters: ExportFilters = {}
  for (const [k, value] of Object.entries(v.filters)) {
    if (!(FILTER_KEYS as readonly string[]).includes(k) || typeof value !== 'string') throw bad(`unknown filter ${k}`)
    filters[k as (typeof FILTER_KEYS)[number]] = value
  }
  const seqOrNull = (x: unknown) => x === null || (Number.isSafeInteger(x) && (x as number) >= 1)
  if (!seqOrNull(v.firstSeq) || !seqOrNull(v.lastSeq)) throw bad('firstSeq/lastSeq must be positive integers or null')
  return { mvmAuditExport: 1, from: v.from, to: v.to, filters, firstSeq: v.firstSeq as number | null, lastSeq: v.lastSeq as number | null }
}

/** Checks that a parsed NDJSON value has exactly the entry's fields with the right types. */
export function parseEntryObject(value: unknown, line: number, seqHint: number | null): ExportedEntry {
  const fail = (problem: string) => new ExportFormatError(line, seqHint, problem)
  if (!isRecord(value)) throw fail('not a JSON object')
  const keys = Object.keys(value)
  const missing = ENTRY_KEYS.filter((k) => !(k in value))
  if (missing.length > 0) throw fail(`missing field(s) ${missing.join(', ')}`)
  const extra = keys.filter((k) => !(ENTRY_KEYS as readonly string[]).includes(k))
  if (extra.length > 0) throw fail(`unknown field(s) ${extra.join(', ')}`)
  const problem = entryProblem(value as unknown as ExportedEntry)
  if (problem) throw fail(problem)
  return value as unknown as ExportedEntry
}

/** Type and format problems of an entry, or null; shared by both readers and verifyChain. */
export function entryProblem(e: ExportedEntry): string | null {
  if (!Number.isSafeInteger(e.seq) || e.seq < 1) return 'seq is not a positive integer'
  if (typeof e.at !== 'string' || !AT_PATTERN.test(e.at) || Number.isNaN(Date.parse(e.at))) return 'at is not an ISO-8601 UTC time with milliseconds'
  if (typeof e.actorType !== 'string' || e.actorType === '') return 'actorType is not a string'
  if (typeof e.action !== 'string' || e.action === '') return 'action is not a string'
  for (const k of ['actorId', 'targetType', 'targetId', 'sourceIp'] as const) {
    if (e[k] !== null && (typeof e[k] !== 'string' || e[k] === '')) return `${k} is neither a non-empty string nor null`
  }
  if (!isRecord(e.details)) return 'details is not a JSON object'
  if (typeof e.prevHash !== 'string' || !HEX_HASH.test(e.prevHash)) return 'prevHash is not 64 lowercase hex digits'
  if (typeof e.hash !== 'string' || !HEX_HASH.test(e.hash)) return 'hash is not 64 lowercase hex digits'
  return null
}

/** RFC 4180 records, streamed; quoted cells may hold commas, quotes and line breaks. */
export async function* csvRecords(chunks: AsyncIterable<string>): AsyncGenerator<{ cells: string[]; line: number }> {
  let buf = ''
  let line = 1
  const special = /[,\r\n"]/g
  // Parses one record at `pos`; null when the buffer ends before the record does (and more may come).
  const parse = (pos: number, final: boolean): { cells: string[]; end: number } | null => {
    const cells: string[] = []
    const fail = (problem: string) => new ExportFormatError(line, /^\d+$/.test(cells[0] ?? '') ? Number(cells[0]) : null, problem)
    let p = pos
    for (;;) {
      if (buf.charCodeAt(p) === 0x22) { // a quoted cell
        let q = p + 1
        let close: number
        for (;;) {
          close = buf.indexOf('"', q)
          if (close < 0) { if (final) throw fail('the file ends inside a quoted cell'); return null }
          if (close + 1 === buf.length && !final) return null
          if (buf.charCodeAt(close + 1) !== 0x22) break
          q = close + 2
        }
        cells.push(buf.slice(p + 1, close).replaceAll('""', '"'))
        p = close + 1
        if (p < buf.length && !/[,\r\n]/.test(buf[p]!)) throw fail('text after a closing quote')
      } else {
        special.lastIndex = p
        const m = special.exec(buf)
        const stop = m ? m.index : buf.length
        if (!m && !final) return null
        if (m && m[0] === '"') throw fail('a quote inside an unquoted cell')
        cells.push(buf.slice(p, stop))
        p = stop
      }
      if (p >= buf.length) return final ? { cells, end: p } : null
      const c = buf[p]
      if (c === ',') { p++; continue }
      if (c === '\n') return { cells, end: p + 1 }
      // c is CR: it must start a CRLF
      if (p + 1 >= buf.length) return final ? { cells, end: p + 1 } : null
      if (buf[p + 1] !== '\n') throw fail('a bare CR outside quotes')
      return { cells, end: p + 2 }
    }
  }
  const drain = function* (final: boolean) {
    let pos = 0
    while (pos < buf.length) {
      const record = parse(pos, final)
      if (!record) break
      const recordLine = line
      for (let i = buf.indexOf('\n', pos); i >= 0 && i < record.end; i = buf.indexOf('\n', i + 1)) line++
      pos = record.end
      if (!(record.cells.length === 1 && record.cells[0] === '')) yield { cells: record.cells, line: recordLine }
    }
    buf = buf.slice(pos)
  }
  for await (const chunk of chunks) {
    buf += chunk
    yield* drain(false)
    if (buf.length > MAX_RECORD_CHARS) throw new ExportFormatError(line, null, `a record longer than ${MAX_RECORD_CHARS} characters: not an audit export`)
  }
  yield* drain(true)
}

async function* csvEntries(chunks: AsyncIterable<string>): AsyncGenerator<ExportedEntry> {
  let headerSeen = false
  for await (const { cells, line } of csvRecords(chunks)) {
    if (!headerSeen) {
      if (cells.join(',') !== CSV_COLUMNS.join(',')) {
        throw new ExportFormatError(line, null, `not an audit export: the first line must be ${CSV_COLUMNS.join(',')}`)
      }
      headerSeen = true
      continue
    }
    const seqHint = /^\d+$/.test(cells[0] ?? '') ? Number(cells[0]) : null
    if (cells.length !== CSV_COLUMNS.length) throw new ExportFormatError(line, seqHint, `${cells.length} cells, expected ${CSV_COLUMNS.length}`)
    // Undo the neutralisation: exactly one leading ' was added to every cell that starts with one.
    const [seq, at, actorType, actorId, action, targetType, targetId, sourceIp, details, prevHash, hash] =
      cells.map((c) => (c.startsWith("'") ? c.slice(1) : c)) as [string, string, string, string, string, string, string, string, string, string, string]
    if (!/^[1-9]\d*$/.test(seq)) throw new ExportFormatError(line, seqHint, 'seq is not a positive integer')
    const parsedDetails = tryJson(details)
    if (parsedDetails === undefined) throw new ExportFormatError(line, seqHint, 'details is not valid JSON')
    const orNull = (s: string) => (s === '' ? null : s)
    const entry: ExportedEntry = {
      seq: Number(seq), at, actorType, actorId: orNull(actorId), action, targetType: orNull(targetType),
      targetId: orNull(targetId), sourceIp: orNull(sourceIp), details: parsedDetails as JsonObject, prevHash, hash,
    }
    const problem = entryProblem(entry)
    if (problem) throw new ExportFormatError(line, seqHint, problem)
    yield entry
  }
  if (!headerSeen) throw new ExportFormatError(1, null, 'empty file')
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
