// Keeps docs/audit.md honest: the action table is the code's vocabulary, the worked example's
// bytes and hashes recompute, and the doc's stand-alone Python verifier agrees with ours on real
// exports full of awkward characters (an independent implementation of §3).
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { AUDIT_ACTIONS, createAuditLog, hashBody, verifyExport, type ExportedEntry } from '../audit-log.ts'
import { collect, documentedHash, freshPool } from './chain-fixture.ts'

const doc = readFileSync(fileURLToPath(new URL('../../../docs/audit.md', import.meta.url)), 'utf8')
const blocks = (lang: string) => [...doc.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```', 'gm'))].map((m) => m[1]!)
const run = promisify(execFile)

t.test('the action table lists exactly the actions in core/audit/actions.ts', async (t) => {
  const section = doc.slice(doc.indexOf('## 1.'), doc.indexOf('## 2.'))
  const documented = [...section.matchAll(/^\| `([a-z_.]+)` \|/gm)].map((m) => m[1]!)
  t.same(documented.sort(), Object.keys(AUDIT_ACTIONS).sort())
})

t.test('the worked example recomputes byte for byte', async (t) => {
  const [ndjson] = blocks('ndjson')
  const entries = ndjson!.trimEnd().split('\n').map((l) => JSON.parse(l) as ExportedEntry)
  const hexBlocks = blocks('hex').map((b) => b.replace(/\s+/g, ''))
  const bodies = blocks('json').filter((b) => b.startsWith('["'))
  t.equal(entries.length, 2)
  t.equal(hexBlocks.length, 2)
  entries.forEach((e, i) => {
    t.equal(bodies[i]!.trimEnd(), hashBody(e), `entry ${i + 1}: the canonical JSON shown`)
    const input = Buffer.concat([Buffer.from(e.prevHash, 'hex'), Buffer.from(hashBody(e), 'utf8')])
    t.equal(hexBlocks[i], input.toString('hex'), `entry ${i + 1}: the hex of the hashed bytes`)
    t.match(doc, new RegExp(`${input.length} bytes hashed`), `entry ${i + 1}: the byte count`)
    t.equal(documentedHash(e), e.hash, `entry ${i + 1}: an independent implementation agrees`)
    t.match(doc, `hash ${i + 1} = \`${e.hash}\``)
  })
  const header = blocks('json').find((b) => b.includes('mvmAuditExport'))!
  const result = await verifyExport([header, ndjson!])
  t.match(result, { ok: true, count: 2, links: 'checked', lastHash: entries[1]!.hash }, 'header plus entries form a valid export')
})

const python = await run('python3', ['--version']).then(() => 'python3', () => null)

t.test('the doc\'s Python verifier agrees with verifyExport on real exports', { skip: python ? false : 'python3 is not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-audit-doc-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const script = join(dir, 'verify-audit.py')
  writeFileSync(script, blocks('python')[0]!)
  const pyVerify = async (text: string) => {
    const file = join(dir, `export-${Math.random().toString(36).slice(2)}.ndjson`)
    writeFileSync(file, text)
    return run(python!, [script, file]).then((r) => ({ code: 0, out: r.stdout }), (e: { code: number; stderr: string }) => ({ code: e.code, out: e.stderr }))
  }

  const { pool } = await freshPool(t)
  const log = createAuditLog({ pool })
  const awkward = {
    z: 1, '': 'empty key', é: { b: 0, B: -9007199254740991 }, nested: [[], {}, [null, true, false]],
    text: ['tab\there', 'nl\nand cr\r', 'ctl\u0001\u001f\u007f', 'quote"back\\slash/', 'ü€𝄞', '\u2028\u2029', '<script>'],
  }
  await log.append({ actor: { type: 'admin', id: 'ädmin' }, action: 'policy.updated', target: { type: 'pool', id: 'Einkauf/Süd' }, sourceIp: '::ffff:192.0.2.1', details: awkward })
  for (let i = 0; i < 5; i++) await log.append({ actor: { type: 'device', id: `d${i}` }, action: 'device.auth_failed', details: { attempt: i } })
  const period = { from: new Date(Date.now() - 60_000), to: new Date(Date.now() + 60_000) }
  const text = await collect(log.exportEntries(period))
  const last = JSON.parse(text.trimEnd().split('\n').at(-1)!) as ExportedEntry
  t.match(await verifyExport([text]), { ok: true, count: 6 })
  t.same(await pyVerify(text), { code: 0, out: `ok: ${last.hash} (links checked)\n` }, 'Python recomputes every hash, awkward characters included')

  const filtered = await collect(log.exportEntries({ ...period, actorType: 'device' }))
  t.match((await pyVerify(filtered)).out, /\(links not checked\)/)
  const tampered = text.replace('"attempt":3', '"attempt":4')
  t.match(await verifyExport([tampered]), { ok: false, brokenSeq: 5 })
  t.same(await pyVerify(tampered), { code: 1, out: 'BROKEN at seq 5: hash does not match\n' }, 'and names the same entry')
  const lines = text.split('\n')
  const gap = [...lines.slice(0, 3), ...lines.slice(4)].join('\n')
  t.match(await verifyExport([gap]), { ok: false, brokenSeq: 3 })
  t.same(await pyVerify(gap), { code: 1, out: 'BROKEN at seq 3: link\n' })
})
