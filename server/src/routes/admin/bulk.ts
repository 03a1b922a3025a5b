// Bulk operations (docs/admin-api.md §11): lock, unlock, offboard, invite, pool and whitelist
// changes for many users at once, run by the worker with progress and an outcome per user. The
// routes need users:read; creating an operation also needs the right of its action.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type TSchema } from 'typebox'
import { ACTION_RIGHTS, BULK_ACTIONS, MAX_BULK_NEW_USERS, MAX_BULK_USER_IDS, MAX_RESULTS_PAGE } from '#core/admin/bulk.ts'
import { enrollmentLink } from '#core/admin/enrollment-link.ts'
import { AdminForbidden } from '#core/errors.ts'
import { Uuid } from '../../schemas.ts'
import { ErrorBody, IdParams } from './schemas.ts'
import { UserFilterBody } from './user-filter-schemas.ts'
import { NewUserBody } from './users.ts'

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
const Timestamp = Type.String({ format: 'date-time' })

const BulkOperation = Type.Object({
  id: Type.String(),
  action: Type.Enum([...BULK_ACTIONS]),
  state: Type.Enum(['queued', 'running', 'done', 'failed']),
  total: Type.Integer({ description: 'target users, fixed when the operation is created' }),
  done: Type.Integer({ description: 'succeeded + failed; progress is done / total' }),
  succeeded: Type.Integer(),
  failed: Type.Integer(),
  poolId: Nullable(Type.String()),
  createdBy: Type.Object({ type: Type.String(), id: Type.String() }),
  createdAt: Timestamp,
  startedAt: Nullable(Timestamp),
  finishedAt: Nullable(Timestamp),
  error: Nullable(Type.String()),
})
const OperationAnswer = { 200: Type.Object({ operation: BulkOperation }), '4xx': ErrorBody }
const Result = Type.Object({
  userId: Nullable(Type.String()),
  username: Nullable(Type.String({ description: 'null for an id that names no user' })),
  ok: Type.Boolean(),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  enrollment: Type.Optional(Type.Object({
    link: Type.String({ description: 'mobivisor://enroll?server=…&token=… (one-time, a secret)' }),
    expiresAt: Timestamp,
  })),
})

const bulk: FastifyPluginAsyncTypebox = async (app) => {
  const ops = app.services.admin.bulk
  const publicUrl = app.config.MVM_PUBLIC_URL

  app.post('/bulk-operations', {
    config: { access: 'users:read' },
    // 10,000 ids or 1,000 new users with every member at its limit
    bodyLimit: 2 * 1024 * 1024,
    schema: {
      summary: 'Start a bulk operation on users given by id, by filter, or (invite) as new users; needs the right of its action',
      body: Type.Object({
        action: Type.Enum([...BULK_ACTIONS]),
        userIds: Type.Optional(Type.Array(Uuid, { minItems: 1, maxItems: MAX_BULK_USER_IDS })),
        filter: Type.Optional(UserFilterBody),
        poolId: Type.Optional(Uuid),
        users: Type.Optional(Type.Array(NewUserBody, { minItems: 1, maxItems: MAX_BULK_NEW_USERS })),
      }, { additionalProperties: false }),
      response: { 202: Type.Object({ operation: BulkOperation }), '4xx': ErrorBody },
    },
  }, async (req, reply) => {
    const right = ACTION_RIGHTS[req.body.action]
    if (!req.admin.rights.has(right)) throw new AdminForbidden(`needs the ${right} right`)
    return reply.code(202).send({ operation: await ops.create(req.body, req.admin.actor) })
  })

  app.get('/bulk-operations', {
    config: { access: 'users:read' },
    schema: { summary: 'The latest 50 bulk operations, newest first', response: { 200: Type.Object({ operations: Type.Array(BulkOperation) }), '4xx': ErrorBody } },
  }, async () => ({ operations: await ops.list() }))

  app.get('/bulk-operations/:id', {
    config: { access: 'users:read' },
    schema: { summary: 'One bulk operation and its progress', params: IdParams, response: OperationAnswer },
  }, async (req) => ({ operation: await ops.get(req.params.id) }))

  app.get('/bulk-operations/:id/results', {
    config: { access: 'users:read' },
    schema: {
      summary: 'Outcome per user (who failed and why; enrollment links of an invite), in pages',
      params: IdParams,
      querystring: Type.Object({
        outcome: Type.Optional(Type.Enum(['ok', 'failed'])),
        cursor: Type.Optional(Type.String({ maxLength: 32, pattern: '^[A-Za-z0-9_-]+$' })),
        limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$', description: `1–${MAX_RESULTS_PAGE}, default 100` })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ results: Type.Array(Result), nextCursor: Nullable(Type.String()) }), '4xx': ErrorBody },
    },
  }, async (req) => {
    const limit = req.query.limit ? Number(req.query.limit) : undefined
    const { results, nextCursor } = await ops.results(req.params.id, { outcome: req.query.outcome, cursor: req.query.cursor, limit })
    const server = publicUrl ?? `${req.protocol}://${req.host}`
    // An enrollment link lets its holder enroll as the user: only those who may invite see it.
    const mayInvite = req.admin.rights.has('users:invite')
    return {
      results: results.map(({ enrollment, ...r }) => ({
        ...r, ...(enrollment && mayInvite ? { enrollment: { link: enrollmentLink(server, enrollment.token), expiresAt: enrollment.expiresAt } } : {}),
      })),
      nextCursor,
    }
  })
}
export default bulk
