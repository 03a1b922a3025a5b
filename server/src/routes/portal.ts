// The admin portal (portal/): static files served at /admin. The files are read once at start and
// each gets a route of its own, so no request path ever reaches the file system: a name that is
// not in the list is the usual 404, and /admin/v1 stays the API's.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'

export const PORTAL_DIR = new URL('../../../portal/', import.meta.url).pathname
export const PORTAL_PREFIX = '/admin'

/** Scripts and styles only from the gateway itself, no inline code, nothing framed or posted elsewhere. */
export const PORTAL_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
  "connect-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
].join('; ')

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

interface Asset { body: Buffer; type: string; etag: string }

/** Every servable file under `dir` by its path relative to it ('js/api.js'); other kinds and dotfiles are left out. */
export function readPortal(dir = PORTAL_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const type = CONTENT_TYPES[extname(entry.name)]
    const rel = relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/')
    if (!entry.isFile() || !type || rel.split('/').some((part) => part.startsWith('.') || part === 'tsconfig.json')) continue
    const body = readFileSync(join(dir, rel))
    assets.set(rel, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` })
  }
  if (!assets.has('index.html')) throw new Error(`the admin portal has no index.html in ${dir}`)
  return assets
}

const portal: FastifyPluginAsync<{ dir?: string }> = async (app, opts) => {
  const assets = readPortal(opts.dir)
  // Runs after the app-wide security headers (a child context's hooks follow its parent's), so
  // the portal's own policy replaces the API's "default-src 'none'".
  app.addHook('onSend', async (_req, reply) => { reply.header('content-security-policy', PORTAL_CSP) })

  const serve = (asset: Asset) => async (req: FastifyRequest, reply: FastifyReply) => {
    // Not hashed names, so every use revalidates; an unchanged file costs a 304 without a body.
    reply.header('cache-control', 'no-cache').header('etag', asset.etag)
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send()
    return reply.type(asset.type).send(asset.body)
  }
  const index = assets.get('index.html')!
  // Someone who types the gateway's address into a browser lands on the portal's sign-in.
  app.get('/', async (_req, reply) => reply.redirect(`${PORTAL_PREFIX}/`, 302))
  app.get(PORTAL_PREFIX, serve(index))
  app.get(`${PORTAL_PREFIX}/`, serve(index))
  for (const [rel, asset] of assets) app.get(`${PORTAL_PREFIX}/${rel}`, serve(asset))
}
export default portal
