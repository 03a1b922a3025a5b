// Users as administrators see them: list and look up, invite, change, lock, unlock, offboard,
// and issue enrollment tokens (docs/admin-api.md §4).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { enrollmentLink, qrSvg } from '#core/admin/enrollment-link.ts'
import type { Enrollment as TokenIssued } from '#core/admin/users.ts'
import { PrintableText } from '../../schemas.ts'
import { Enrollment, ErrorBody, IdParams, UserDetail, UserView, Username } from './schemas.ts'
import { UserFilterQuery } from './user-filter-schemas.ts'

const Email = Type.String({ maxLength: 254, pattern: '^[^\\s@\\u0000-\\u001f]+@[^\\s@\\u0000-\\u001f]+$' })
const Text128 = PrintableText(1, 128)
const UserAnswer = { 200: Type.Object({ user: UserView }), '4xx': ErrorBody }
const EnrollmentAnswer = Type.Object({ user: UserView, enrollment: Enrollment })
/** A user to invite (also the members of a bulk invite's `users`). */
export const NewUserBody = Type.Object({
  username: Username,
  displayName: Type.Optional(Text128),
  email: Type.Optional(Email),
  team: Type.Optional(Text128),
  businessArea: Type.Optional(Text128),
}, { additionalProperties: false })

const users: FastifyPluginAsyncTypebox = async (app) => {
  const admin = app.services.admin.users
  const publicUrl = app.config.MVM_PUBLIC_URL

  /** The server the app should enroll with: the configured public URL, else the address this request came to. */
  async function withLink(req: FastifyRequest, issued: TokenIssued) {
    const link = enrollmentLink(publicUrl ?? `${req.protocol}://${req.host}`, issued.token)
    return { ...issued, link, qrSvg: await qrSvg(link) }
  }

  app.get('/users', {
    config: { access: 'users:read' },
    schema: {
      summary: 'List users by username, filtered by status, search text, pool, team, business area, whitelisting and last seen, in pages',
      querystring: Type.Object({
        ...UserFilterQuery,
        cursor: Type.Optional(Type.String({ maxLength: 256, pattern: '^[A-Za-z0-9_-]+$' })),
        limit: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9][0-9]|1[0-9][0-9]|200)$', description: '1–200, default 50' })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ users: Type.Array(UserView), nextCursor: Type.Union([Type.String(), Type.Null()]) }), '4xx': ErrorBody },
    },
  }, async (req) => admin.list({
    ...req.query,
    limit: req.query.limit ? Number(req.query.limit) : undefined,
    whitelisted: req.query.whitelisted === undefined ? undefined : req.query.whitelisted === 'true',
  }))

  app.get('/users/count', {
    config: { access: 'users:read' },
    schema: {
      summary: 'How many users the filter selects (the filters of GET /users), e.g. before a bulk operation on it',
      querystring: Type.Object(UserFilterQuery, { additionalProperties: false }),
      response: { 200: Type.Object({ count: Type.Integer({ minimum: 0 }) }), '4xx': ErrorBody },
    },
  }, async (req) => ({
    count: await admin.count({ ...req.query, whitelisted: req.query.whitelisted === undefined ? undefined : req.query.whitelisted === 'true' }),
  }))

  app.post('/users', {
    config: { access: 'users:invite' },
    schema: {
      summary: 'Invite a user: creates it and a one-time enrollment token',
      body: NewUserBody,
      response: { 201: EnrollmentAnswer, '4xx': ErrorBody },
    },
  }, async (req, reply) => {
    const { user, enrollment } = await admin.invite(req.body, req.admin.actor)
    return reply.code(201).send({ user, enrollment: await withLink(req, enrollment) })
  })

  app.get('/users/:id', {
    config: { access: 'users:read' },
    schema: { summary: 'One user and their devices', params: IdParams, response: { 200: UserDetail, '4xx': ErrorBody } },
  }, async (req) => {
    const { deviceList, ...user } = await admin.get(req.params.id)
    return { user, devices: deviceList }
  })

  app.patch('/users/:id', {
    config: { access: 'users:write' },
    schema: {
      summary: 'Change display name, team or business area (null clears team and business area)',
      params: IdParams,
      body: Type.Object({
        displayName: Type.Optional(Text128),
        team: Type.Optional(Type.Union([Text128, Type.Null()])),
        businessArea: Type.Optional(Type.Union([Text128, Type.Null()])),
      }, { additionalProperties: false, minProperties: 1 }),
      response: UserAnswer,
    },
  }, async (req) => ({ user: await admin.update(req.params.id, req.body, req.admin.actor) }))

  app.post('/users/:id/lock', {
    config: { access: 'users:lock' },
    schema: { summary: 'Lock: sessions end and sockets close on every gateway at once', params: IdParams, response: UserAnswer },
  }, async (req) => ({ user: await admin.lock(req.params.id, req.admin.actor) }))

  app.post('/users/:id/unlock', {
    config: { access: 'users:lock' },
    schema: { summary: 'Unlock: back to active (or invited if no device was ever enrolled)', params: IdParams, response: UserAnswer },
  }, async (req) => ({ user: await admin.unlock(req.params.id, req.admin.actor) }))

  app.post('/users/:id/offboard', {
    config: { access: 'users:write' },
    schema: { summary: 'Offboard: lock for good and revoke every device; the user row stays', params: IdParams, response: UserAnswer },
  }, async (req) => ({ user: await admin.offboard(req.params.id, req.admin.actor) }))

  app.post('/users/:id/token', {
    config: { access: 'users:invite' },
    schema: { summary: 'A new one-time enrollment token for another device', params: IdParams, response: { 200: EnrollmentAnswer, '4xx': ErrorBody } },
  }, async (req) => {
    const { user, enrollment } = await admin.issueToken(req.params.id, req.admin.actor)
    return { user, enrollment: await withLink(req, enrollment) }
  })
}
export default users
