// The admin portal as the gateway serves it: the page and every module it imports under /admin,
// with the portal's strict Content-Security-Policy and revalidation headers, and nothing outside
// portal/ reachable by any spelling of a path.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { build } from './helper.ts'
import { PORTAL_CSP, PORTAL_DIR, readPortal } from '#server/routes/portal.ts'

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

t.test('GET /admin serves the page with the portal CSP, no inline code, and revalidation by ETag', async (t) => {
  const { app } = await build(t)
  t.equal(PORTAL_CSP, CSP, 'the policy is exactly the one asked for')
  for (const url of ['/admin', '/admin/', '/admin/index.html']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['content-type'], 'text/html; charset=utf-8', `${url} is HTML`)
    t.equal(res.headers['content-security-policy'], CSP, `${url} carries the portal CSP`)
    t.equal(res.headers['x-frame-options'], 'DENY')
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.equal(res.headers['cache-control'], 'no-cache')
    t.match(res.headers.etag, /^"[A-Za-z0-9_-]{27}"$/)
    t.match(res.body, '<script type="module" src="/admin/app.js"></script>')
  }
  const root = await app.inject({ url: '/' })
  t.same([root.statusCode, root.headers.location], [302, '/admin/'], 'the gateway\'s root leads a browser to the portal')
  const page = (await app.inject({ url: '/admin' })).body
  t.notMatch(page, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file')
  t.notMatch(page, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or event handler attributes')

  const first = await app.inject({ url: '/admin/style.css' })
  t.equal(first.headers['content-type'], 'text/css; charset=utf-8')
  const again = await app.inject({ url: '/admin/style.css', headers: { 'if-none-match': String(first.headers.etag) } })
  t.equal(again.statusCode, 304, 'unchanged: 304')
  t.equal(again.body, '', 'without a body')
  t.equal((await app.inject({ url: '/admin/style.css', headers: { 'if-none-match': '"stale"' } })).statusCode, 200)
  const head = await app.inject({ method: 'HEAD', url: '/admin/app.js' })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['content-type'], 'text/javascript; charset=utf-8')
})

t.test('every module the portal imports is served as JavaScript, and no source builds HTML from strings', async (t) => {
  const { app } = await build(t)
  const seen = new Set<string>()
  const queue = ['/admin/app.js']
  while (queue.length) {
    const url = queue.shift()!
    if (seen.has(url)) continue
    seen.add(url)
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, `${url} is served`)
    t.equal(res.headers['content-type'], 'text/javascript; charset=utf-8', `${url} as JavaScript`)
    t.match(res.body, /^\/\/ @ts-check\n/, `${url} is type-checked`)
    t.notMatch(res.body, /\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|\beval\(|new Function\(/, `${url} never turns strings into markup or code`)
    t.notMatch(res.body, /localStorage|sessionStorage|document\.cookie/, `${url} keeps no session in storage`)
    for (const [, spec] of res.body.matchAll(/from '(\.[^']+)'/g)) queue.push(new URL(spec!, `https://x${url}`).pathname)
  }
  t.ok(seen.size >= 8, `${seen.size} modules reached from app.js`)
  const assets = readPortal()
  t.notOk(assets.has('tsconfig.json'), 'the type-check configuration is not served')
  t.same([...assets.keys()].filter((k) => k.endsWith('.js')).map((k) => `/admin/${k}`).sort(), [...seen].sort(), 'every served script is part of the app')
})

t.test('no path escapes portal/: traversal, encoded dots, backslashes and unlisted files are 404', async (t) => {
  const { app } = await build(t)
  const secret = readFileSync(join(PORTAL_DIR, '..', 'package.json'), 'utf8')
  const attempts = [
    '/admin/../package.json', '/admin/%2e%2e/package.json', '/admin/%2E%2E%2Fpackage.json', '/admin/..%2fpackage.json',
    '/admin/js/../../package.json', '/admin/js/%2e%2e/%2e%2e/package.json', '/admin/js/..%5c..%5cpackage.json',
    '/admin/..\\package.json', '/admin//etc/passwd', '/admin/%2fetc%2fpasswd', '/admin/js/%2e%2e/%2e%2e/server/src/app.ts',
    '/admin/tsconfig.json', '/admin/app.js%00.html', '/admin/app.js/', '/admin/js', '/admin/js/', '/admin/APP.JS',
    '/admin/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/admin/....//package.json', '/admin/.git/config',
  ]
  for (const url of attempts) {
    const res = await app.inject({ url })
    t.ok(res.statusCode === 404 || res.statusCode === 400, `${url}: ${res.statusCode}`)
    t.not(res.body, secret, `${url} does not leak package.json`)
    t.notMatch(res.body, /"name": "mobivisor-messenger"|root:x:0:0|buildApp/, `${url} leaks no file`)
  }
})

t.test('the API under /admin/v1 keeps its own answers and policy', async (t) => {
  const { app } = await build(t)
  const doc = await app.inject({ url: '/admin/v1/openapi.json' })
  t.equal(doc.statusCode, 200)
  t.match(doc.headers['content-type'], /^application\/json/)
  t.equal(doc.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", 'the API keeps the stricter policy')
  const missing = await app.inject({ url: '/admin/v1/nothing-here' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'MVM_NOT_FOUND')
  const me = await app.inject({ url: '/admin/v1/me' })
  t.equal(me.statusCode, 401, 'the API still needs a session')
})

t.test('the portal\'s scripts type-check (// @ts-check with the DOM types, portal/tsconfig.json)', async (t) => {
  const root = join(PORTAL_DIR, '..')
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const run = await promisify(execFile)(process.execPath, [tsc, '-p', join(PORTAL_DIR, 'tsconfig.json')], { cwd: root }).then(
    () => ({ code: 0, out: '' }), (err: { code?: number; stdout?: string }) => ({ code: err.code ?? 1, out: err.stdout ?? '' }))
  t.equal(run.code, 0, run.out || 'tsc found no error')
})
