// Who calls the admin API, and whether they may. Either a session cookie (state-changing requests
// also need the session's CSRF token in x-csrf-token) or `Authorization: Bearer mvm_at_…`. Every
// route names its access in `config.access`: 'public', 'session' (any signed-in administrator,
// no API token), or the one right it needs; a route without one refuses to register. A session
// whose password was handed out (created, reset) reaches only the 'session' routes until it
// changes it.
import fp from 'fastify-plugin'
import cookie from '@fastify/cookie'
import type { FastifyRequest } from 'fastify'
import { AdminAuthRequired, AdminCsrf, AdminForbidden, AdminPasswordChangeRequired, RateLimited } from '#core/errors.ts'
import { createTokenFailureThrottle } from '#core/admin/login-limits.ts'
import { csrfMatches } from '#core/admin/sessions.ts'
import { RIGHTS, rightsOfRole, type AdminRole, type Right } from '#core/admin/roles.ts'
import type { Actor } from '#core/admin/actor.ts'

export const ADMIN_COOKIE = 'mvm_admin'
// Secure and SameSite=Strict: the browser sends it only over TLS and only from the portal's own
// pages; HttpOnly keeps it from scripts; Path=/admin keeps it off the device API.
export const ADMIN_COOKIE_OPTIONS = { path: '/admin', httpOnly: true, secure: true, sameSite: 'strict' } as const

export type Access = 'public' | 'session' | Right

export interface AdminPrincipal {
  kind: 'session' | 'token'
  /** the administrator, or for a token its creator */
  adminId: string
  rights: Set<Right>
  actor: Actor
  role?: AdminRole
  sessionId?: string
  csrfToken?: string
  tokenId?: string
  /** a session whose administrator still has a handed-out password: only 'session' routes answer */
  mustChangePassword?: boolean
}

declare module 'fastify' {
  interface FastifyContextConfig { access?: Access }
  interface FastifyRequest { admin: AdminPrincipal }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const ACCESS = new Set<string>(['public', 'session', ...RIGHTS])

export default fp(async (app) => {
  await app.register(cookie)
  const { accounts, sessions, apiTokens } = app.services.admin
  const tokenFailures = createTokenFailureThrottle({ redis: app.services.redis })
  app.decorateRequest('admin', null as unknown as AdminPrincipal)

  app.addHook('onRoute', (route) => {
    const access = (route.config as { access?: string } | undefined)?.access
    if (!access || !ACCESS.has(access)) throw new Error(`admin route ${route.method} ${route.url} names no valid config.access`)
  })

  async function byToken(req: FastifyRequest, header: string): Promise<AdminPrincipal> {
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    const principal = token ? await apiTokens.authenticate(token) : undefined
    if (!principal) {
      const counted = await tokenFailures.failed(req.ip)
      if (!counted.audit) throw Object.assign(new RateLimited(), { retryAfter: counted.retryAfter })
      await app.services.audit.append({
        actor: { type: 'api-token', id: null }, action: 'api_token.auth_failed', sourceIp: req.ip,
        details: { method: req.method, route: req.routeOptions.url ?? '', ...(counted.reached ? { throttled: ['source'] } : {}) },
      })
      throw new AdminAuthRequired()
    }
    return { kind: 'token', adminId: principal.createdBy, rights: principal.rights, tokenId: principal.tokenId, actor: { type: 'api-token', id: principal.tokenId, sourceIp: req.ip } }
  }

  async function bySession(req: FastifyRequest): Promise<AdminPrincipal> {
    const id = req.cookies[ADMIN_COOKIE]
    const session = id ? await sessions.touch(id) : undefined
    if (!id || !session) throw new AdminAuthRequired()
    const admin = await accounts.active(session.adminId)
    if (!admin) {
      await sessions.end(id, session.adminId)
      throw new AdminAuthRequired()
    }
    // A page on another site cannot read this token, so it cannot forge a state-changing request.
    if (!SAFE_METHODS.has(req.method) && !csrfMatches(session, req.headers['x-csrf-token'] as string | undefined)) throw new AdminCsrf()
    return {
      kind: 'session', adminId: admin.id, role: admin.role, rights: rightsOfRole(admin.role), sessionId: id, csrfToken: session.csrfToken,
      mustChangePassword: admin.mustChangePassword, actor: { type: 'admin', id: admin.id, sourceIp: req.ip },
    }
  }

  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config.access
    if (access === 'public' || access === undefined) return // undefined: no admin route matched (404)
    const header = req.headers.authorization
    req.admin = header !== undefined ? await byToken(req, header) : await bySession(req)
    if (access === 'session') {
      if (req.admin.kind !== 'session') throw new AdminForbidden('API tokens cannot use this route')
    } else if (req.admin.mustChangePassword) {
      throw new AdminPasswordChangeRequired()
    } else if (!req.admin.rights.has(access)) {
      throw new AdminForbidden(`needs the ${access} right`)
    }
  })
}, { name: 'admin-auth', dependencies: ['services'] })
