// Lints the structure of the Dockerfile and .dockerignore (there is no Docker engine to build
// with here): multi-stage, production dependencies only, non-root numeric user matching the
// chart, tini as PID 1, no secrets, OCI labels, and a build context without secrets.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { root } from './helm.ts'

interface Instruction { cmd: string; args: string; line: number }
interface Stage { base: string; name?: string; body: Instruction[] }

/** Dockerfile instructions with line continuations joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = []
  let buf = ''
  let start = 0
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (!buf && (line === '' || line.startsWith('#'))) return
    if (buf && line.startsWith('#')) return
    if (!buf) start = i + 1
    if (line.endsWith('\\')) { buf += line.slice(0, -1) + ' '; return }
    buf += line
    const m = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(buf)
    if (m) out.push({ cmd: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start })
    buf = ''
  })
  return out
}

function stages(all: Instruction[]): { globalArgs: Map<string, string>; stages: Stage[] } {
  const globalArgs = new Map<string, string>()
  const result: Stage[] = []
  for (const ins of all) {
    if (ins.cmd === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!
      const base = m[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globalArgs.get(a ?? b) ?? '')
      result.push({ base, name: m[2], body: [] })
    } else if (result.length === 0) {
      if (ins.cmd === 'ARG') {
        const [k, v = ''] = ins.args.split('=')
        globalArgs.set(k!, v.replace(/^"|"$/g, ''))
      }
    } else {
      result.at(-1)!.body.push(ins)
    }
  }
  return { globalArgs, stages: result }
}

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
const all = instructions(dockerfile)
const { stages: built } = stages(all)
const final = built.at(-1)!
const values = parse(readFileSync(join(root, 'charts/mobivisor-messenger/values.yaml'), 'utf8'))

const SECRET_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|(^|_)KEY($|_)|API_KEY|DATABASE_URL|REDIS_URL/i

t.test('multi-stage on Node 20, final stage named runtime', async (t) => {
  t.ok(built.length >= 2, `${built.length} stages`)
  for (const s of built) {
    t.match(s.base, /^node:20[.-]/, `stage ${s.name} on Node 20`)
    t.notMatch(s.base, /:latest$/)
  }
  t.equal(final.name, 'runtime')
  t.ok(final.body.some((i) => i.cmd === 'WORKDIR' && i.args === '/app'), 'WORKDIR /app')
})

t.test('production dependencies only in the final stage', async (t) => {
  const prodStage = built.find((s) => s.body.some((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args) && /--omit=dev\b/.test(i.args)))
  t.ok(prodStage, 'a stage runs npm ci --omit=dev')
  t.not(prodStage, final, 'not the final stage itself')
  const copies = final.body.filter((i) => i.cmd === 'COPY')
  const modules = copies.filter((i) => /\bnode_modules\b/.test(i.args))
  t.equal(modules.length, 1, 'node_modules copied once')
  t.match(modules[0]?.args ?? '', new RegExp(`--from=${prodStage?.name}\\b`), 'from the production-only stage')
  t.notOk(final.body.some((i) => i.cmd === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args)), 'final stage installs no npm packages')

  const generator = built.find((s) => s.body.some((i) => i.cmd === 'RUN' && /scripts\/prisma-generate/.test(i.args)))
  t.ok(generator && generator !== final, 'Prisma client generated in a build stage')
  t.ok(generator!.body.some((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args) && !/--omit=dev/.test(i.args)), 'with dev dependencies (prisma)')
  t.ok(copies.some((i) => new RegExp(`--from=${generator!.name}\\b`).test(i.args) && /core\/generated/.test(i.args)), 'generated client copied')
  t.notOk(final.body.some((i) => i.cmd === 'RUN' && /prisma/.test(i.args)), 'no prisma CLI at run time')
})

t.test('non-root numeric user that matches the chart', async (t) => {
  const users = final.body.filter((i) => i.cmd === 'USER')
  t.ok(users.length >= 1)
  const [uid, gid] = users.at(-1)!.args.split(':').map(Number)
  t.ok(Number.isInteger(uid) && uid! > 0, `numeric non-root uid ${uid}`)
  t.ok(Number.isInteger(gid) && gid! > 0, `numeric non-root gid ${gid}`)
  t.equal(uid, values.podSecurityContext.runAsUser, 'chart runAsUser')
  t.equal(gid, values.podSecurityContext.runAsGroup, 'chart runAsGroup')
  const lastUser = final.body.lastIndexOf(users.at(-1)!)
  t.notOk(final.body.slice(lastUser).some((i) => i.cmd === 'RUN'), 'nothing runs as root after USER')
})

t.test('tini is PID 1 and the default command is the gateway', async (t) => {
  const entry = final.body.filter((i) => i.cmd === 'ENTRYPOINT').at(-1)
  t.ok(entry)
  const argv = JSON.parse(entry!.args) as string[]
  t.match(argv[0], /(^|\/)tini$/)
  t.ok(final.body.some((i) => i.cmd === 'RUN' && /apt-get install\b.*\btini\b/.test(i.args)), 'tini from the Debian package')
  const cmd = JSON.parse(final.body.filter((i) => i.cmd === 'CMD').at(-1)!.args)
  t.same(cmd, ['node', '--import', 'tsx', 'server/src/main.ts'])
  const exposed = final.body.filter((i) => i.cmd === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number))
  t.same(exposed.sort(), [values.containerPorts.https, values.containerPorts.metrics].sort())
  t.notOk(all.some((i) => i.cmd === 'HEALTHCHECK'), 'Kubernetes probes instead')
})

t.test('no secrets baked in', async (t) => {
  for (const i of all.filter((x) => x.cmd === 'ENV' || x.cmd === 'ARG')) {
    const names = i.args.split(/\s+/).map((kv) => kv.split('=')[0]!)
    for (const n of names) t.notMatch(n, SECRET_NAME, `line ${i.line}: ${i.cmd} ${n}`)
  }
  t.notOk(all.some((i) => i.cmd === 'ADD'), 'COPY only, no ADD (no remote URLs or archives)')
  t.notOk(all.some((i) => i.cmd === 'RUN' && /\b(curl|wget)\b/.test(i.args)), 'nothing downloaded outside package managers')
  t.notOk(all.some((i) => i.cmd === 'COPY' && /\.env\b|\.pem\b|\.key\b|certs\//.test(i.args)), 'no key material copied')
})

t.test('OCI labels', async (t) => {
  const labels = final.body.filter((i) => i.cmd === 'LABEL').map((i) => i.args).join(' ')
  for (const key of ['title', 'description', 'version', 'revision', 'created', 'source', 'vendor', 'licenses']) {
    t.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key}=`), key)
  }
})

t.test('read-only root filesystem: only the attachments directory is made writable', async (t) => {
  const run = final.body.filter((i) => i.cmd === 'RUN').map((i) => i.args).join(' ')
  t.match(run, new RegExp(`chown 10001:10001 ${values.config.attachmentsDir}`))
  t.notMatch(run, /chown -R|chmod -R 7?77/, 'code stays root-owned')
})

t.test('.dockerignore keeps secrets and local state out of the build context', async (t) => {
  const lines = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  t.equal(lines[0], '*', 'allow-list: everything excluded first')
  const allowed = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''))
  for (const never of ['.git', '.data', 'node_modules', '.env', 'certs', 'charts', '.tap', 'coverage', 'docs']) {
    t.notOk(allowed.some((a) => a === never || a.startsWith(`${never}/`)), `${never} not re-included`)
  }
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'core', 'server', 'worker', 'migrations', 'scripts']) {
    t.ok(allowed.includes(needed), `${needed} in the context`)
  }
  for (const excluded of ['core/generated/', '**/node_modules/', '**/.env', '**/.env.*', '**/*.pem', '**/*.key']) {
    t.ok(lines.includes(excluded), `${excluded} excluded inside allowed folders`)
  }
  // What the chart runs is inside the context.
  for (const entry of ['server/src/main.ts', 'worker/src/main.ts', 'scripts/migrate.ts', 'scripts/mvctl.ts']) {
    t.ok(allowed.includes(entry.split('/')[0]!), entry)
  }
  t.ok(existsSync(join(root, 'scripts/prisma-generate')), 'the build stage runs a script that exists')
})
