// The audit log and a user's activity for administrators with audit:read (docs/admin-api.md §11):
// pages of entries, the streamed export that `mvctl audit export` writes (and its audit.exported
// entry), verification of an uploaded NDJSON export, and GET /users/:id/activity.
import type { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type TSchema } from 'typebox'
import { ACTOR_TYPES, type ExportSummary } from '#core/audit/audit-log.ts'
import type { ExportFilters } from '#core/audit/export-format.ts'
import { createAuditQueries, MAX_AUDIT_PAGE } from '#core/audit/queries.ts'
import { verifyUpload } from '#core/audit/verify-upload.ts'
import { createActivity } from '#core/admin/activity.ts'
import { actorOf } from '#core/admin/actor.ts'
import { AuditUploadTooLarge, BadRequest, RateLimited } from '#core/errors.ts'
import { PrintableText } from '../../schemas.ts'
import { DeviceView, ErrorBody, IdParams, UserView } from './schemas.ts'

const MAX_UPLOAD_BYTES = 1024 ** 3
const MAX_PARALLEL_VERIFICATIONS = 2
const NDJSON = 'application/x-ndjson'

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
const Timestamp = Type.String({ format: 'date-time' })

export const AuditEntry = Type.Object({
  seq: Type.Integer(),
  at: Timestamp,
  actorType: Type.String(),
  actorId: Nullable(Type.String()),
  action: Type.String(),
  targetType: Nullable(Type.String()),
  targetId: Nullable(Type.String()),
  sourceIp: Nullable(Type.String()),
  details: Type.Object({}, { additionalProperties: true }),
  prevHash: Type.String({ description: 'SHA-256 of the previous entry, hex' }),
  hash: Type.String({ description: 'SHA-256 over prevHash and the canonical entry (docs/audit.md §3), hex' }),
})

const Instant = Type.String({
  maxLength: 35,
  pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2}))?$',
  description: 'a date (UTC midnight) or a date-time with Z or an offset',
})
const Filters = {
  action: Type.Optional(Type.String({ maxLength: 64, pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$' })),
  actorType: Type.Optional(Type.Enum([...ACTOR_TYPES])),
  targetType: Type.Optional(Type.String({ maxLength: 32, pattern: '^[a-z][a-z0-9_-]*$' })),
  targetId: Type.Optional(PrintableText(1, 256)),
}

/** An instant the way mvctl takes it; refuses what Date would roll over (2025-02-30, 24:00). */
function instant(value: string, name: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?/.exec(value)
  const date = new Date(value)
  if (m && !Number.isNaN(date.getTime())) {
    const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1).map((x) => (x === undefined ? undefined : Number(x))) as number[]
    const day = new Date(Date.UTC(y!, mo! - 1, d!))
    if (day.getUTCFullYear() === y && day.getUTCMonth() === mo! - 1 && day.getUTCDate() === d && h < 24 && mi < 60 && s < 60) return date
  }
  throw new BadRequest(`${name} is not a valid date or time`)
}

/** [from, to) from the query; each optional unless `required`. */
function period(q: { from?: string | undefined; to?: string | undefined }, required: boolean): { from?: Date; to?: Date } {
  if (required && (q.from === undefined || q.to === undefined)) throw new BadRequest('from and to are required')
  const from = q.from === undefined ? undefined : instant(q.from, 'from')
  const to = q.to === undefined ? undefined : instant(q.to, 'to')
  if (from && to && from >= to) throw new BadRequest('from must be before to')
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) }
}

function filtersOf(q: ExportFilters): ExportFilters {
  const out: ExportFilters = {}
  for (const k of ['actorType', 'action', 'targetType', 'targetId'] as const) if (q[k] !== undefined) out[k] = q[k]
  return out
}

const fileStamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')

const audit: FastifyPluginAsyncTypebox = async (app) => {
  const log = app.services.audit
  const queries = createAuditQueries({ pool: app.services.db.pool })
  const activity = createActivity({ pool: app.services.db.pool, users: app.services.admin.users, sessions: app.services.sessions, audit: queries })
  let verifying = 0

  // In this plugin only: an NDJSON body reaches the handler as a stream, and any other body is
  // left unread, so that the handler can refuse its type with a 400 of its own.
  app.addContentTypeParser(NDJSON, (_req, payload, done) => { done(null, payload) })
  app.addContentTypeParser('*', (_req, payload, done) => { done(null, payload) })

  app.get('/audit', {
    config: { access: 'audit:read' },
    schema: {
      summary: 'Audit entries, newest first, in pages; the period is [from, to)',
      querystring: Type.Object({
        from: Type.Optional(Instant),
        to: Type.Optional(Instant),
        ...Filters,
        cursor: Type.Optional(Type.String({ maxLength: 16, pattern: '^[1-9][0-9]{0,15}$', description: 'nextCursor of the previous page' })),
        limit: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9][0-9]|[1-4][0-9][0-9]|500)$', description: `1–${MAX_AUDIT_PAGE}, default 100` })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ entries: Type.Array(AuditEntry), nextCursor: Nullable(Type.String()) }), '4xx': ErrorBody },
    },
  }, async (req) => {
    const beforeSeq = req.query.cursor === undefined ? undefined : Number(req.query.cursor)
    if (beforeSeq !== undefined && !Number.isSafeInteger(beforeSeq)) throw new BadRequest('cursor is not one this API returned')
    const { entries, nextSeq } = await queries.page({
      ...period(req.query, false), ...filtersOf(req.query), beforeSeq, limit: req.query.limit ? Number(req.query.limit) : undefined,
    })
    return { entries, nextCursor: nextSeq === null ? null : String(nextSeq) }
  })

  app.get('/audit/export', {
    config: { access: 'audit:read' },
    schema: {
      summary: 'The entries of [from, to) as an NDJSON (to verify) or CSV (to read) file, streamed; recorded as audit.exported',
      produces: [NDJSON, 'text/csv'],
      querystring: Type.Object({
        format: Type.Optional(Type.Enum(['ndjson', 'csv'])),
        from: Instant,
        to: Instant,
        ...Filters,
      }, { additionalProperties: false }),
      response: { 200: Type.Unsafe<Readable>(Type.String({ description: 'the export file (docs/audit.md §5)' })), '4xx': ErrorBody },
    },
  }, async (req, reply) => {
    const { from, to } = period(req.query, true) as { from: Date; to: Date }
    const format = req.query.format ?? 'ndjson'
    const filters = filtersOf(req.query)
    let summary: ExportSummary | undefined
    const stream = log.exportEntries({ from, to, ...filters, format, onEnd: (s) => { summary = s } })
    // Recorded once the answer is over, finished or not: an auditor sees every export that was
    // asked for, and with its last seq and hash the ones that completed.
    reply.raw.once('close', () => {
      log.append({
        ...actorOf(req.admin.actor), action: 'audit.exported',
        details: {
          from: from.toISOString(), to: to.toISOString(), filters: { ...filters }, format, via: 'api', complete: summary !== undefined,
          count: summary?.count ?? null, firstSeq: summary?.firstSeq ?? null, lastSeq: summary?.lastSeq ?? null, lastHash: summary?.lastHash ?? null,
        },
      }).catch((err: Error) => req.log.error({ err }, 'audit.exported could not be recorded'))
    })
    return reply
      .type(format === 'ndjson' ? `${NDJSON}; charset=utf-8` : 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="audit-${fileStamp(from)}-${fileStamp(to)}.${format}"`)
      .send(stream)
  })

  app.post('/audit/verify', {
    config: { access: 'audit:read' },
    schema: {
      summary: `Verifies an NDJSON export (content-type ${NDJSON}, at most 1 GiB, streamed) as mvctl audit verify does`,
      response: {
        200: Type.Object({
          ok: Type.Boolean(),
          entries: Type.Integer({ description: 'entries that verified, before the first broken one' }),
          firstBroken: Nullable(Type.Object({ seq: Nullable(Type.Integer()), line: Type.Integer(), reason: Type.String() })),
          lastSeq: Nullable(Type.Integer({ description: 'the last entry that verified' })),
          lastHash: Nullable(Type.String()),
          links: Type.Enum(['checked', 'unchecked'], { description: 'unchecked: a filtered export, each hash checked but not the chain between them' }),
        }),
        '4xx': ErrorBody,
      },
    },
  }, async (req, reply) => {
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== NDJSON) throw new BadRequest(`send the NDJSON export with content-type ${NDJSON}`)
    if (Number(req.headers['content-length'] ?? 0) > MAX_UPLOAD_BYTES) throw new AuditUploadTooLarge('1 GiB')
    // Verifying a large export takes a core for a while: a few at a time per gateway.
    if (verifying >= MAX_PARALLEL_VERIFICATIONS) throw new RateLimited()
    verifying++
    try {
      const body = req.body as Readable
      let bytes = 0
      const limited = async function* () {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          bytes += chunk.length
          if (bytes > MAX_UPLOAD_BYTES) throw new AuditUploadTooLarge('1 GiB')
          yield chunk
        }
      }
      const report = await verifyUpload(limited())
      // Broken early: the answer is known, the rest of the upload is not wanted. Closing the
      // connection after the answer stops the client from sending it (and waiting) to no end.
      if (!body.readableEnded) reply.header('connection', 'close')
      return report
    } finally {
      verifying--
    }
  })

  app.get('/users/:id/activity', {
    config: { access: 'audit:read' },
    schema: {
      summary: 'A user\'s devices and live sessions, refused device sign-ins, messages per day (counts only) and latest audit entries',
      params: IdParams,
      querystring: Type.Object({
        days: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9][0-9]|[12][0-9][0-9]|3[0-5][0-9]|36[0-6])$', description: '1–366, default 30' })),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          user: UserView,
          devices: Type.Array(Type.Object({ ...DeviceView.properties, sessions: Type.Array(Type.Object({ expiresAt: Timestamp })) })),
          failedAuthentications: Type.Array(Type.Object({ at: Timestamp, deviceId: Nullable(Type.String()), reason: Type.String(), sourceIp: Nullable(Type.String()) })),
          messagesPerDay: Type.Array(Type.Object({ day: Type.String({ format: 'date' }), sent: Type.Integer(), received: Type.Integer() })),
          audit: Type.Array(AuditEntry),
        }),
        '4xx': ErrorBody,
      },
    },
  }, async (req) => activity.of(req.params.id, req.query.days ? Number(req.query.days) : 30))
}
export default audit
