// Administrators for admin API tests: created the way mvctl does (the admin service, actor
// "system"), signed in over POST /admin/v1/login like the portal, and requests made with the
// session cookie and CSRF token or with an API token.
import { generateKeyPairSync, randomBytes, randomInt, sign, type KeyObject } from 'node:crypto'
import { authMessage } from '#core/identity/sessions.ts'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import type { App } from '#server/app.ts'
import type { AdminRole } from '#core/admin/roles.ts'
import jsQRModule from 'jsqr'

export interface Caller {
  username: string
  password: string
  id: string
  /** Headers of the signed-in session: the cookie and the CSRF token. */
  headers: Record<string, string>
  csrfToken: string
  cookie: string
  ip: string
  /** A request as this administrator (cookie + CSRF token unless `headers` replace them). */
  call(opts: InjectOptions & { url: string }): Promise<LightMyRequestResponse>
}

/** A source address of its own, so that throttling counters of other tests and runs do not meet. */
export function randomIp(): string {
  return `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`
}

export async function addAdmin(app: App, role: AdminRole, username = uniqueName(role)): Promise<{ id: string; username: string; password: string }> {
  const { admin, password } = await app.services.admin.accounts.create({ username, role }, { type: 'system', id: 'test' })
  return { id: admin.id, username: admin.username, password }
}

/** The mvm_admin cookie's value from a login answer. */
export function sessionCookie(res: LightMyRequestResponse): string {
  const cookie = res.cookies.find((c) => c.name === 'mvm_admin')
  if (!cookie) throw new Error(`no mvm_admin cookie in ${res.statusCode} ${res.body}`)
  return cookie.value
}

export async function signIn(app: App, account: { id: string; username: string; password: string }, opts: { ip?: string; totp?: string } = {}): Promise<Caller> {
  const ip = opts.ip ?? randomIp()
  const res = await app.inject({
    method: 'POST', url: '/admin/v1/login', remoteAddress: ip,
    payload: { username: account.username, password: account.password, ...(opts.totp ? { totp: opts.totp } : {}) },
  })
  if (res.statusCode !== 200) throw new Error(`login of ${account.username} answered ${res.statusCode} ${res.body}`)
  const cookie = sessionCookie(res)
  const csrfToken = res.json().csrfToken as string
  const headers = { cookie: `mvm_admin=${cookie}`, 'x-csrf-token': csrfToken }
  return {
    ...account, ip, cookie, csrfToken, headers,
    call: (o) => app.inject({ remoteAddress: ip, ...o, headers: { ...headers, ...(o.headers as Record<string, string> | undefined) } }),
  }
}

export async function adminAs(app: App, role: AdminRole): Promise<Caller> {
  return signIn(app, await addAdmin(app, role))
}

/** Audit entries of an action (and target), oldest first. */
export async function auditEntries(app: App, action: string, targetId?: string): Promise<any[]> {
  const { rows } = await app.services.db.pool.query(
    `SELECT seq::int, actor_type, actor_id, action, target_type, target_id, source_ip, details FROM audit_entries
     WHERE action = $1 AND ($2::text IS NULL OR target_id = $2) ORDER BY seq`, [action, targetId ?? null])
  return rows
}

// jsqr is CommonJS: its function is also its own `default`, which is what the types describe.
type Decode = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null
const jsQR = (jsQRModule as unknown as { default: Decode }).default

/** Reads the QR code in an SVG as the qrcode package draws it (one stroked path of module runs). */
export function decodeQrSvg(svg: string): string | undefined {
  const size = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)?.[1])
  const d = /<path stroke="#000000" d="([^"]+)"/.exec(svg)?.[1]
  if (!size || !d) return undefined
  const scale = 6
  const px = size * scale
  const data = new Uint8ClampedArray(px * px * 4).fill(255)
  let x = 0
  let y = 0
  for (const [, op, a, b] of d.matchAll(/([MmHhVv])\s*(-?[\d.]+)(?:\s+(-?[\d.]+))?/g)) {
    const n = Number(a)
    if (op === 'M') { x = n; y = Number(b) } else if (op === 'm') { x += n; y += Number(b) } else if (op === 'h') {
      for (let i = 0; i < n; i++) {
        const row = Math.floor(y)
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) {
          const p = ((row * scale + dy) * px + (x + i) * scale + dx) * 4
          data[p] = data[p + 1] = data[p + 2] = 0
        }
      }
      x += n
    }
  }
  return jsQR(data, px, px)?.data
}

// --- devices, as the device API sees them ----------------------------------------------------

export interface TestDevice { deviceId: string; userId: string; signingKey: KeyObject }

/** Enrolls a device with fresh keys over POST /v1/enroll. */
export async function enrollDevice(app: App, token: string): Promise<TestDevice> {
  const raw = (key: KeyObject) => key.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64')
  const x25519 = generateKeyPairSync('x25519')
  const ed25519 = generateKeyPairSync('ed25519')
  const res = await app.inject({
    method: 'POST', url: '/v1/enroll',
    payload: { token, x25519PublicKey: raw(x25519.publicKey), ed25519PublicKey: raw(ed25519.publicKey), platform: 'other' },
  })
  if (res.statusCode !== 201) throw new Error(`enroll answered ${res.statusCode} ${res.body}`)
  return { deviceId: res.json().deviceId, userId: res.json().userId, signingKey: ed25519.privateKey }
}

/** Challenge and signed response: the session token, or the status of the refusal. */
export async function deviceSession(app: App, device: TestDevice): Promise<{ token?: string; status: number }> {
  const challenge = await app.inject({ method: 'POST', url: '/v1/auth/challenge', payload: { deviceId: device.deviceId } })
  if (challenge.statusCode !== 200) return { status: challenge.statusCode }
  const c = challenge.json().challenge as string
  const signature = sign(null, authMessage(device.deviceId, Buffer.from(c, 'base64')), device.signingKey).toString('base64')
  const res = await app.inject({ method: 'POST', url: '/v1/auth/session', payload: { deviceId: device.deviceId, challenge: c, signature } })
  return res.statusCode === 200 ? { token: res.json().token, status: 200 } : { status: res.statusCode }
}
