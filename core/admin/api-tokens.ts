// API tokens for automation (EMM, directory sync, SIEM export): `mvm_at_` + 32 random bytes,
// shown once and stored as SHA-256. A token's rights are its scopes cut down to what its
// creator's role allows at the time of each request (roles.ts).
import { randomBytes, randomUUID } from 'node:crypto'
import type pg from 'pg'
import { inTransaction } from '../db/client.ts'
import { AdminForbidden, ApiTokenNotFound } from '../errors.ts'
import type { AuditLog } from '../audit/audit-log.ts'
import { hashToken } from '../identity/users.ts'
import { actorOf, type Actor } from './actor.ts'
import { rightsOfToken, scopesBeyondRole, type AdminRole, type Right, type Scope } from './roles.ts'

export const API_TOKEN_PREFIX = 'mvm_at_'
const TOKEN_PATTERN = /^mvm_at_[A-Za-z0-9_-]{43}$/

export interface ApiTokenView {
  id: string
  name: string
  scopes: string[]
  createdBy: { id: string; username: string }
  createdAt: string
  expiresAt: string | null
  lastUsedAt: string | null
  revokedAt: string | null
}

export interface TokenPrincipal { tokenId: string; name: string; createdBy: string; rights: Set<Right> }

interface TokenRow {
  id: string
  name: string
  scopes: string[]
  created_by: string
  creator_username: string
  created_at: Date
  expires_at: Date | null
  last_used_at: Date | null
  revoked_at: Date | null
}

const SELECT_TOKEN = `SELECT t.*, a.username AS creator_username FROM api_tokens t JOIN admins a ON a.id = t.created_by`

function view(r: TokenRow): ApiTokenView {
  return {
    id: r.id, name: r.name, scopes: r.scopes, createdBy: { id: r.created_by, username: r.creator_username },
    createdAt: r.created_at.toISOString(), expiresAt: r.expires_at?.toISOString() ?? null,
    lastUsedAt: r.last_used_at?.toISOString() ?? null, revokedAt: r.revoked_at?.toISOString() ?? null,
  }
}

/** SHA-256, as enrollment tokens are stored. */
const hash = (token: string) => Buffer.from(hashToken(token))

export function createApiTokenService(deps: { pool: pg.Pool; audit: Pick<AuditLog, 'append'> }) {
  const { pool, audit } = deps

  return {
    /** Issues a token; scopes beyond the creator's role are refused (403). */
    async create(input: { name: string; scopes: Scope[]; expiresInDays?: number | undefined }, creator: { id: string; role: AdminRole }, actor: Actor): Promise<{ token: string; apiToken: ApiTokenView }> {
      const scopes = [...new Set(input.scopes)].sort()
      const beyond = scopesBeyondRole(scopes, creator.role)
      if (beyond.length > 0) throw new AdminForbidden(`scope ${beyond.join(', ')} exceeds your role (a token carries at most its creator's rights)`)
      const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url')
      const expiresAt = input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null
      const apiToken = await inTransaction(pool, async (client) => {
        const id = randomUUID()
        await client.query('INSERT INTO api_tokens (id, name, token_hash, scopes, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [id, input.name.normalize('NFKC'), hash(token), scopes, creator.id, expiresAt])
        const { rows } = await client.query<TokenRow>(`${SELECT_TOKEN} WHERE t.id = $1`, [id])
        const created = view(rows[0]!)
        await audit.append({ ...actorOf(actor), action: 'api_token.created', target: { type: 'api-token', id }, details: { name: created.name, scopes, expiresAt: created.expiresAt } }, client)
        return created
      })
      return { token, apiToken }
    },

    async list(): Promise<ApiTokenView[]> {
      const { rows } = await pool.query<TokenRow>(`${SELECT_TOKEN} ORDER BY t.created_at DESC, t.id`)
      return rows.map(view)
    },

    /** Revokes a token; revoking a revoked one changes nothing and answers as before. */
    async revoke(id: string, actor: Actor): Promise<ApiTokenView> {
      return inTransaction(pool, async (client) => {
        const { rows: [updated] } = await client.query<{ id: string }>('UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id', [id])
        const { rows } = await client.query<TokenRow>(`${SELECT_TOKEN} WHERE t.id = $1`, [id])
        if (!rows[0]) throw new ApiTokenNotFound()
        const revoked = view(rows[0])
        if (updated) await audit.append({ ...actorOf(actor), action: 'api_token.revoked', target: { type: 'api-token', id }, details: { name: revoked.name, scopes: revoked.scopes } }, client)
        return revoked
      })
    },

    /** The principal behind a bearer token, or undefined (unknown, malformed, expired, revoked, creator disabled). */
    async authenticate(token: string): Promise<TokenPrincipal | undefined> {
      if (!TOKEN_PATTERN.test(token)) return undefined
      const { rows } = await pool.query<{ id: string; name: string; scopes: string[]; created_by: string; role: AdminRole; stale: boolean }>(
        `SELECT t.id, t.name, t.scopes, t.created_by, a.role,
                (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS stale
         FROM api_tokens t JOIN admins a ON a.id = t.created_by
         WHERE t.token_hash = $1 AND NOT a.disabled AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())`, [hash(token)])
      // last used to the minute: a busy integration does not write a row per request
      if (rows[0]?.stale) await pool.query('UPDATE api_tokens SET last_used_at = now() WHERE id = $1', [rows[0].id])
      const r = rows[0]
      return r ? { tokenId: r.id, name: r.name, createdBy: r.created_by, rights: rightsOfToken(r.scopes, r.role) } : undefined
    },
  }
}

export type ApiTokenService = ReturnType<typeof createApiTokenService>
