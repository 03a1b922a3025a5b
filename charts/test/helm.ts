// Runs the real helm binary (unpacked by scripts/helm-tools) and parses what it renders.
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'

export const root = resolve(import.meta.dirname, '../..')
export const chartDir = join(root, 'charts/mobivisor-messenger')
export const exampleValues = join(root, 'values.example.yaml')

export const helmPath = execFileSync('bash', [join(root, 'scripts/helm-tools')], { encoding: 'utf8' }).trim()

export interface Run { status: number; stdout: string; stderr: string }

export function helm(args: string[]): Run {
  const r = spawnSync(helmPath, args, {
    encoding: 'utf8',
    cwd: root,
    // No kubeconfig: rendering must never need a cluster.
    env: { ...process.env, KUBECONFIG: '/dev/null', HELM_CACHE_HOME: join(tmpdir(), 'mvm-helm-cache'), HELM_CONFIG_HOME: join(tmpdir(), 'mvm-helm-config') },
  })
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

export type Obj = Record<string, any>
export interface Manifest { source: string; doc: Obj }

export interface RenderOptions { release?: string; namespace?: string; args?: readonly string[]; chart?: string }

export function renderRaw(opts: RenderOptions = {}): Run {
  return helm(['template', opts.release ?? 'mvm', opts.chart ?? chartDir, '--namespace', opts.namespace ?? 'messenger', ...(opts.args ?? [])])
}

export function render(opts: RenderOptions = {}): Manifest[] {
  const r = renderRaw(opts)
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`)
  return parseManifests(r.stdout)
}

export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = []
  for (const chunk of text.split(/^---\s*$/m)) {
    const source = /^# Source: (.+)$/m.exec(chunk)?.[1]?.trim() ?? ''
    const doc = parse(chunk) as Obj | null
    if (doc) out.push({ source, doc })
  }
  return out
}

export function find(ms: Manifest[], kind: string, name?: string): Obj | undefined {
  return ms.find((m) => m.doc.kind === kind && (name === undefined || m.doc.metadata?.name === name))?.doc
}

export function get(ms: Manifest[], kind: string, name: string): Obj {
  const d = find(ms, kind, name)
  if (!d) throw new Error(`${kind}/${name} not rendered; have: ${ms.map((m) => `${m.doc.kind}/${m.doc.metadata?.name}`).join(', ')}`)
  return d
}

/** Writes values to a temporary file and returns the helm arguments for it. */
export function valuesFile(content: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-values-'))
  const file = join(dir, 'values.yaml')
  writeFileSync(file, content)
  return ['-f', file]
}

/**
 * Renders NOTES.txt. `helm install --dry-run=client` still contacts a cluster in Helm 3.17, so a
 * copy of the chart gets one extra template that runs NOTES.txt through `tpl`.
 */
export function renderNotes(opts: RenderOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-notes-'))
  try {
    const chart = join(dir, 'chart')
    cpSync(chartDir, chart, { recursive: true })
    writeFileSync(join(chart, 'notes-under-test.txt'), readFileSync(join(chartDir, 'templates/NOTES.txt')))
    writeFileSync(join(chart, 'templates/zz-notes-under-test.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\ndata:\n  notes: {{ tpl (.Files.Get "notes-under-test.txt") . | quote }}\n')
    const ms = render({ ...opts, chart, args: [...(opts.args ?? []), '--show-only', 'templates/zz-notes-under-test.yaml'] })
    return String(ms[0]?.doc.data?.notes ?? '')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Every pod spec in the rendered manifests, with where it came from. */
export function podSpecs(ms: Manifest[]): { where: string; spec: Obj; metadata: Obj }[] {
  const out: { where: string; spec: Obj; metadata: Obj }[] = []
  for (const { doc } of ms) {
    const tpl = doc.spec?.template
    if (['Deployment', 'StatefulSet', 'Job', 'DaemonSet'].includes(doc.kind) && tpl) {
      out.push({ where: `${doc.kind}/${doc.metadata.name}`, spec: tpl.spec, metadata: tpl.metadata ?? {} })
    }
  }
  return out
}

export function envOf(container: Obj): Map<string, Obj> {
  return new Map((container.env ?? []).map((e: Obj) => [e.name, e]))
}
