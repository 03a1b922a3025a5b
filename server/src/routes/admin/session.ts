// Signing in and out, the caller's own account, and its TOTP second factor.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { qrSvg } from '#core/admin/enrollment-link.ts'
import { ADMIN_COOKIE, ADMIN_COOKIE_OPTIONS } from '../../plugins/admin-auth.ts'
import { AdminView, ErrorBody, Password, TotpCode, Username } from './schemas.ts'

const SessionView = Type.Object({ admin: AdminView, csrfToken: Type.String({ description: 'send as x-csrf-token on every POST, PATCH and DELETE' }) })

const session: FastifyPluginAsyncTypebox = async (app) => {
  const { accounts, sessions } = app.services.admin

  app.post('/login', {
    config: { access: 'public' },
    schema: {
      summary: 'Sign in: sets the mvm_admin session cookie',
      body: Type.Object({ username: Username, password: Password, totp: Type.Optional(TotpCode) }, { additionalProperties: false }),
      response: { 200: SessionView, '4xx': ErrorBody },
    },
  }, async (req, reply) => {
    const admin = await accounts.login({ ...req.body, sourceIp: req.ip })
    const { id, session } = await sessions.create(admin.id)
    reply.setCookie(ADMIN_COOKIE, id, ADMIN_COOKIE_OPTIONS)
    return { admin, csrfToken: session.csrfToken }
  })

  app.post('/logout', {
    config: { access: 'session' },
    schema: { summary: 'Sign out: ends the session', response: { 204: Type.Null(), '4xx': ErrorBody } },
  }, async (req, reply) => {
    await sessions.end(req.admin.sessionId!, req.admin.adminId)
    await app.services.audit.append({ actor: { type: 'admin', id: req.admin.adminId }, action: 'admin.logout', target: { type: 'admin', id: req.admin.adminId }, sourceIp: req.ip })
    reply.clearCookie(ADMIN_COOKIE, ADMIN_COOKIE_OPTIONS)
    return reply.code(204).send(null)
  })

  app.get('/me', {
    config: { access: 'session' },
    schema: { summary: 'The signed-in administrator and the session\'s CSRF token', response: { 200: SessionView, '4xx': ErrorBody } },
  }, async (req) => ({ admin: await accounts.get(req.admin.adminId), csrfToken: req.admin.csrfToken! }))

  app.post('/me/password', {
    config: { access: 'session' },
    schema: {
      summary: 'Change your own password (at least 12 characters); your other sessions end',
      body: Type.Object({ currentPassword: Password, newPassword: Password }, { additionalProperties: false }),
      response: { 204: Type.Null(), '4xx': ErrorBody },
    },
  }, async (req, reply) => {
    await accounts.changePassword(req.admin.adminId, req.body.currentPassword, req.body.newPassword, req.admin.actor)
    await sessions.endAll(req.admin.adminId, req.admin.sessionId)
    return reply.code(204).send(null)
  })

  app.post('/me/totp', {
    config: { access: 'session' },
    schema: {
      summary: 'Start TOTP setup: a new secret for an authenticator app, valid 10 minutes until enabled',
      response: { 200: Type.Object({ secret: Type.String(), otpauthUri: Type.String(), qrSvg: Type.String() }), '4xx': ErrorBody },
    },
  }, async (req) => {
    const setup = await accounts.totpSetup(req.admin.adminId)
    return { ...setup, qrSvg: await qrSvg(setup.otpauthUri) }
  })

  app.post('/me/totp/enable', {
    config: { access: 'session' },
    schema: {
      summary: 'Enable TOTP with a current code from the authenticator app',
      body: Type.Object({ code: TotpCode }, { additionalProperties: false }),
      response: { 200: Type.Object({ admin: AdminView }), '4xx': ErrorBody },
    },
  }, async (req) => ({ admin: await accounts.totpEnable(req.admin.adminId, req.body.code, req.admin.actor) }))
}
export default session
