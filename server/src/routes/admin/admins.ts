// Administrator accounts, managed by owners (docs/admin-api.md §6).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { PrintableText } from '../../schemas.ts'
import { AdminView, ErrorBody, IdParams, Role, Username } from './schemas.ts'

const Created = Type.Object({ admin: AdminView, password: Type.String({ description: 'generated; shown only in this answer' }) })

const admins: FastifyPluginAsyncTypebox = async (app) => {
  const { accounts, sessions } = app.services.admin

  app.get('/admins', {
    config: { access: 'admins:manage' },
    schema: { summary: 'Every administrator', response: { 200: Type.Object({ admins: Type.Array(AdminView) }), '4xx': ErrorBody } },
  }, async () => ({ admins: await accounts.list() }))

  app.post('/admins', {
    config: { access: 'admins:manage' },
    schema: {
      summary: 'Create an administrator with a generated password, to be changed at the first sign-in',
      body: Type.Object({ username: Username, displayName: Type.Optional(PrintableText(1, 128)), role: Role }, { additionalProperties: false }),
      response: { 201: Created, '4xx': ErrorBody },
    },
  }, async (req, reply) => reply.code(201).send(await accounts.create({ ...req.body, mustChangePassword: true }, req.admin.actor)))

  app.patch('/admins/:id', {
    config: { access: 'admins:manage' },
    schema: {
      summary: 'Change name, role or the disabled flag; disabling ends the sessions',
      params: IdParams,
      body: Type.Object({ displayName: Type.Optional(PrintableText(1, 128)), role: Type.Optional(Role), disabled: Type.Optional(Type.Boolean()) },
        { additionalProperties: false, minProperties: 1 }),
      response: { 200: Type.Object({ admin: AdminView }), '4xx': ErrorBody },
    },
  }, async (req) => {
    const admin = await accounts.update(req.params.id, req.body, req.admin.actor)
    if (admin.disabled) await sessions.endAll(admin.id)
    return { admin }
  })

  app.post('/admins/:id/password', {
    config: { access: 'admins:manage' },
    schema: {
      summary: 'Reset the password (generated, shown once, to be changed at the next sign-in), clear the lock-out, optionally remove TOTP; ends the sessions',
      params: IdParams,
      body: Type.Optional(Type.Object({ resetTotp: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
      response: { 200: Created, '4xx': ErrorBody },
    },
  }, async (req) => {
    const reset = await accounts.resetPassword(req.params.id, { resetTotp: req.body?.resetTotp }, req.admin.actor)
    await sessions.endAll(req.params.id)
    return reset
  })
}
export default admins
