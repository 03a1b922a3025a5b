// @ts-check
// The admin API as the portal calls it: same origin, the session cookie (HttpOnly, so never seen
// here) and the session's CSRF token on every change. The token lives only in this module's
// memory; a reload gets it again from GET /me.

export const API = '/admin/v1'
let csrfToken = ''

/** @param {string} token */
export function setCsrfToken(token) { csrfToken = token }

export class ApiError extends Error {
  /** @param {number} status @param {{ code?: string, message?: string }} body */
  constructor(status, body) {
    super(body.message ? `${body.message}${body.code ? ` (${body.code})` : ''}` : `the server answered ${status}`)
    this.status = status
    this.code = body.code ?? ''
  }
}

/** The request never got an answer: the network or the gateway is down (fetch itself failed). */
export class NetworkError extends Error {
  constructor() {
    super('The gateway could not be reached. Check the connection and try again.')
    this.name = 'NetworkError'
  }
}

/** Fired when the session has ended (expired, signed out elsewhere): the app shows the sign-in. */
export const SIGNED_OUT = 'mvm:signed-out'

/**
 * @param {string} method
 * @param {string} path under /admin/v1
 * @param {unknown} [body] JSON, or a Blob sent as it is
 * @param {{ contentType?: string }} [opts]
 * @returns {Promise<any>}
 */
export async function api(method, path, body, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' }
  /** @type {BodyInit | undefined} */
  let payload
  if (body instanceof Blob) {
    payload = body
    headers['content-type'] = opts.contentType ?? 'application/octet-stream'
  } else if (body !== undefined) {
    payload = JSON.stringify(body)
    headers['content-type'] = 'application/json'
  }
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken
  /** @type {Response} */
  let res
  try {
    res = await fetch(API + path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store', redirect: 'error' })
  } catch {
    throw new NetworkError()
  }
  if (res.status === 204) return null
  const text = await res.text()
  let data = {}
  try { data = text ? JSON.parse(text) : {} } catch { data = { message: `the server answered ${res.status} without JSON` } }
  if (!res.ok) {
    const err = new ApiError(res.status, data)
    if (res.status === 401 && err.code === 'MVM_ADMIN_AUTH_REQUIRED' && path !== '/me') window.dispatchEvent(new CustomEvent(SIGNED_OUT))
    throw err
  }
  return data
}

/** A query string of the non-empty values, with the leading '?' (or ''). @param {Record<string, string | number | boolean | null | undefined>} params */
export function query(params) {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s ? `?${s}` : ''
}
