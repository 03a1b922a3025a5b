// Whitelist and pools (docs/admin-api.md §10): owners and admins change them, auditors read them.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { MAX_MEMBERS_PER_REQUEST, WHITELIST_KINDS, WHITELIST_MODES } from '#core/policy/admin.ts'
import { PrintableText, Uuid } from '../../schemas.ts'
import { ErrorBody, IdParams } from './schemas.ts'

const Literals = <const T extends readonly string[]>(values: T) => Type.Enum(values as unknown as T[number][])
const Timestamp = Type.String({ format: 'date-time' })
const Mode = Literals(WHITELIST_MODES)
const ModeAnswer = { 200: Type.Object({ mode: Mode }), '4xx': ErrorBody }
const EntryView = Type.Object({
  id: Type.String(),
  kind: Literals(WHITELIST_KINDS),
  value: Type.String(),
  createdAt: Timestamp,
  createdBy: Type.Union([Type.String(), Type.Null()], { description: 'the administrator who added it' }),
})
const PoolView = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Timestamp, members: Type.Integer() })
const PoolDetail = Type.Object({ pool: PoolView, members: Type.Array(Type.String(), { description: 'user ids' }) })
const PoolName = PrintableText(1, 128)

const policy: FastifyPluginAsyncTypebox = async (app) => {
  const admin = app.services.admin.policy
  const detail = ({ memberIds, ...pool }: { memberIds: string[]; id: string; name: string; createdAt: string; members: number }) => ({ pool, members: memberIds })

  app.get('/whitelist/mode', {
    config: { access: 'policy:read' },
    schema: { summary: 'The whitelist mode: all (everyone may enroll and connect) or whitelist', response: ModeAnswer },
  }, async () => ({ mode: await admin.getMode() }))

  app.put('/whitelist/mode', {
    config: { access: 'policy:manage' },
    schema: { summary: 'Set the whitelist mode; switching to whitelist disconnects everyone no entry matches at once', body: Type.Object({ mode: Mode }, { additionalProperties: false }), response: ModeAnswer },
  }, async (req) => ({ mode: await admin.setMode(req.body.mode, req.admin.actor) }))

  app.get('/whitelist/entries', {
    config: { access: 'policy:read' },
    schema: { summary: 'Every whitelist entry', response: { 200: Type.Object({ entries: Type.Array(EntryView) }), '4xx': ErrorBody } },
  }, async () => ({ entries: await admin.listEntries() }))

  app.post('/whitelist/entries', {
    config: { access: 'policy:manage' },
    schema: {
      summary: 'Whitelist a user (value: user id), a team or a business area (value: its exact name)',
      body: Type.Object({ kind: Literals(WHITELIST_KINDS), value: PrintableText(1, 128) }, { additionalProperties: false }),
      response: { 201: Type.Object({ entry: EntryView }), '4xx': ErrorBody },
    },
  }, async (req, reply) => reply.code(201).send({ entry: await admin.addEntry(req.body, req.admin.actor) }))

  app.delete('/whitelist/entries/:id', {
    config: { access: 'policy:manage' },
    schema: { summary: 'Remove a whitelist entry', params: IdParams, response: { 200: Type.Object({ entry: EntryView }), '4xx': ErrorBody } },
  }, async (req) => ({ entry: await admin.removeEntry(req.params.id, req.admin.actor) }))

  app.get('/pools', {
    config: { access: 'policy:read' },
    schema: { summary: 'Every pool, by name', response: { 200: Type.Object({ pools: Type.Array(PoolView) }), '4xx': ErrorBody } },
  }, async () => ({ pools: await admin.listPools() }))

  app.post('/pools', {
    config: { access: 'policy:manage' },
    schema: { summary: 'Create a pool (names are unique regardless of case)', body: Type.Object({ name: PoolName }, { additionalProperties: false }), response: { 201: Type.Object({ pool: PoolView }), '4xx': ErrorBody } },
  }, async (req, reply) => reply.code(201).send({ pool: await admin.createPool(req.body.name, req.admin.actor) }))

  app.get('/pools/:id', {
    config: { access: 'policy:read' },
    schema: { summary: 'One pool and its members', params: IdParams, response: { 200: PoolDetail, '4xx': ErrorBody } },
  }, async (req) => detail(await admin.getPool(req.params.id)))

  app.patch('/pools/:id', {
    config: { access: 'policy:manage' },
    schema: { summary: 'Rename a pool', params: IdParams, body: Type.Object({ name: PoolName }, { additionalProperties: false }), response: { 200: Type.Object({ pool: PoolView }), '4xx': ErrorBody } },
  }, async (req) => ({ pool: await admin.renamePool(req.params.id, req.body.name, req.admin.actor) }))

  app.delete('/pools/:id', {
    config: { access: 'policy:manage' },
    schema: { summary: 'Delete a pool; its members are then in no pool (unless in another)', params: IdParams, response: { 200: Type.Object({ pool: PoolView }), '4xx': ErrorBody } },
  }, async (req) => ({ pool: await admin.deletePool(req.params.id, req.admin.actor) }))

  app.post('/pools/:id/members', {
    config: { access: 'policy:manage' },
    schema: {
      summary: `Add users to a pool (at most ${MAX_MEMBERS_PER_REQUEST} per request); takes effect at the next send`,
      params: IdParams,
      body: Type.Object({ userIds: Type.Array(Uuid, { minItems: 1, maxItems: MAX_MEMBERS_PER_REQUEST }) }, { additionalProperties: false }),
      response: { 200: PoolDetail, '4xx': ErrorBody },
    },
  }, async (req) => detail(await admin.addMembers(req.params.id, req.body.userIds, req.admin.actor)))

  app.delete('/pools/:id/members/:userId', {
    config: { access: 'policy:manage' },
    schema: {
      summary: 'Remove a user from a pool; takes effect at the next send',
      params: Type.Object({ id: Uuid, userId: Uuid }, { additionalProperties: false }),
      response: { 200: PoolDetail, '4xx': ErrorBody },
    },
  }, async (req) => detail(await admin.removeMember(req.params.id, req.params.userId, req.admin.actor)))
}
export default policy
