// Keeps docs/admin-api.md and the OpenAPI document honest: every admin route is documented and
// described, every documented route exists, each route's documented access is what the gateway
// enforces for each role, the roles table is the code's, and every error code is in the table.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ADMIN_ROLES, RIGHTS, ROLE_RIGHTS, SCOPES } from '#core/admin/roles.ts'
import { build } from '../helper.ts'
import { adminAs } from './support.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const doc = readFileSync(`${ROOT}docs/admin-api.md`, 'utf8')
const errorsSource = readFileSync(`${ROOT}core/errors.ts`, 'utf8')
const ZERO = '00000000-0000-4000-8000-000000000000'

t.test('docs/admin-api.md and /admin/v1/openapi.json against the gateway', async (t) => {
  const { app } = await build(t)
  const openapi = (await app.inject({ method: 'GET', url: '/admin/v1/openapi.json' })).json()

  // documented routes: "### `METHOD /admin/v1/…`" followed by "Access: …"
  const documented = new Map<string, string>()
  for (const m of doc.matchAll(/^### `(GET|POST|PUT|PATCH|DELETE) (\/admin\/v1\/[^`]*)`\n(?:Access: (public|session|`([a-z:-]+)`))?/gm)) {
    documented.set(`${m[1]} ${m[2]}`, m[4] ?? m[3] ?? '')
  }
  const registered: string[] = []
  for (const [path, ops] of Object.entries(openapi.paths as Record<string, Record<string, unknown>>)) {
    for (const method of Object.keys(ops)) registered.push(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)
  }

  t.test('every route is in the OpenAPI document, with closed bodies and described answers', async (t) => {
    t.equal(openapi.openapi, '3.0.3')
    t.ok(registered.length >= 20, `${registered.length} operations`)
    for (const route of documented.keys()) {
      if (route === 'GET /admin/v1/openapi.json') continue
      t.ok(registered.includes(route), `${route} is in the OpenAPI document`)
    }
    for (const [path, ops] of Object.entries(openapi.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${path}`
        t.ok(Object.keys(op.responses).some((s) => /^2/.test(s)), `${name} describes its success`)
        t.ok(op.responses['4XX'] ?? op.responses['4xx'], `${name} describes its refusals`)
        const body = op.requestBody?.content?.['application/json']?.schema
        if (body) t.equal(body.additionalProperties, false, `${name} takes no unknown members`)
        for (const p of op.parameters ?? []) if (p.in === 'query') t.ok(p.schema, `${name} ?${p.name} has a schema`)
      }
    }
    t.ok(openapi.components.securitySchemes.session && openapi.components.securitySchemes.apiToken, 'both ways in are described')
  })

  t.test('every registered route is documented with its access, and only those', async (t) => {
    for (const route of registered) t.ok(documented.has(route), `\`${route}\` is documented`)
    t.ok(documented.has('GET /admin/v1/openapi.json'))
    for (const [route, access] of documented) {
      t.ok(access === 'public' || access === 'session' || (RIGHTS as readonly string[]).includes(access), `${route}: access "${access}" is known`)
    }
  })

  t.test('the roles table and the scopes table are the code\'s', async (t) => {
    for (const right of RIGHTS) {
      const row = new RegExp(`^\\| \`${right}\` \\| [^|]+ \\| (.+) \\|$`, 'm').exec(doc)
      t.ok(row, `${right} has a row`)
      const marks = row?.[1]!.split('|').map((c) => c.trim() === '✓') ?? []
      t.same(marks, ADMIN_ROLES.map((r) => ROLE_RIGHTS[r].includes(right)), `${right}: ${ADMIN_ROLES.join(', ')}`)
    }
    for (const [scope, rights] of Object.entries(SCOPES)) {
      t.ok(doc.includes(`| \`${scope}\` | ${rights.map((r) => `\`${r}\``).join(', ')} |`), `scope ${scope} grants ${rights.join(', ')}`)
    }
  })

  t.test('what each role gets from each route is what the document says', async (t) => {
    const callers = Object.fromEntries(await Promise.all(ADMIN_ROLES.map(async (r) => [r, await adminAs(app, r)] as const)))
    // logout last: it ends the session the other calls use
    const routes = [...documented].filter(([r]) => r !== 'POST /admin/v1/logout').concat([['POST /admin/v1/logout', 'session']])
    for (const [route, access] of routes) {
      const [method, path] = route.split(' ') as [string, string]
      const anonymous = await app.inject({ method: method as 'GET', url: path.replace(':id', ZERO) })
      if (access === 'public') {
        t.not(anonymous.statusCode, 401, `${route} is public`)
        continue
      }
      t.equal(anonymous.statusCode, 401, `${route} needs authentication`)
      for (const role of ADMIN_ROLES) {
        // no body: an allowed caller gets past the role check to validation or a 404, never 403
        const res = await callers[role]!.call({ method: method as 'GET', url: path.replace(':id', ZERO) })
        const allowed = access === 'session' || ROLE_RIGHTS[role].includes(access as never)
        if (allowed) t.notMatch(res.body, 'MVM_ADMIN_FORBIDDEN', `${role} may ${route} (${res.statusCode})`)
        else t.same([res.statusCode, res.json().code], [403, 'MVM_ADMIN_FORBIDDEN'], `${role} may not ${route}`)
      }
    }
  })

  t.test('every error code of the admin API is in the table of §7 with its HTTP status', async (t) => {
    const table = doc.slice(doc.indexOf('## 7. Error codes'), doc.indexOf('## 8.'))
    const rows = new Map([...table.matchAll(/^\| `(MVM_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, m[2]!]))
    const adminPart = errorsSource.slice(errorsSource.indexOf('// Administration'))
    const defined = [...adminPart.matchAll(/createError\('(MVM_[A-Z0-9_]+)',\s*'[^']*',\s*(\d{3})\)/g)]
    t.ok(defined.length >= 15, 'the administration codes are found')
    for (const [, code, status] of defined) t.equal(rows.get(code!), status, `${code} is documented with HTTP ${status}`)
    // codes from the shared part that admin routes answer
    for (const [, code, status] of errorsSource.matchAll(/createError\('(MVM_(?:USER_[A-Z_]+|RATE_LIMITED))',\s*'[^']*',\s*(\d{3})\)/g)) {
      t.equal(rows.get(code!), status, `${code} is documented with HTTP ${status}`)
    }
    for (const code of rows.keys()) t.ok(errorsSource.includes(`'${code}'`), `${code} in the table is defined`)
  })
})
