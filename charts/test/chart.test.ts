// The Helm chart as IT uses it: helm lint/template with the defaults, with values.example.yaml and
// in evaluation mode; every manifest checked against the Kubernetes (and CRD) schemas; the
// security, network, rollout and migration properties the on-premise delivery promises.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, parseDocument, isMap, type Node as YamlNode } from 'yaml'
import { ConfigSchema, loadConfig } from '../../core/config.ts'
import {
  chartDir, envOf, exampleValues, find, get, helm, helmPath, podSpecs, render, renderNotes, renderRaw,
  valuesFile, type Manifest, type Obj,
} from './helm.ts'

const NS = 'messenger'
const scenarios = {
  default: { release: 'mvm', namespace: NS, args: [] as string[] },
  example: {
    release: 'messenger',
    namespace: NS,
    args: ['-f', exampleValues, '--set-string', 'database.password=pg s3cret@x', '--set-string', 'redis.password=r3dis'],
  },
  evaluation: { release: 'eval', namespace: NS, args: ['--set', 'evaluation.enabled=true'] },
} as const
type Scenario = keyof typeof scenarios

const rendered = new Map<Scenario, Manifest[]>()
function manifests(s: Scenario): Manifest[] {
  if (!rendered.has(s)) rendered.set(s, render(scenarios[s]))
  return rendered.get(s)!
}

const ids = (ms: Manifest[]) => ms.map((m) => `${m.doc.kind}/${m.doc.metadata.name}`).sort()
const configMapData = (ms: Manifest[], rel: string): Record<string, string> => get(ms, 'ConfigMap', `${rel}-config`).data
const secretData = (doc: Obj): Record<string, string> =>
  doc.stringData ?? Object.fromEntries(Object.entries(doc.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString()]))

async function modelFor(apiVersion: string, kind: string): Promise<new (data: Obj) => { validate(): void }> {
  const mod: Obj = apiVersion === 'cert-manager.io/v1'
    ? await import('@kubernetes-models/cert-manager/cert-manager.io/v1')
    : apiVersion === 'monitoring.coreos.com/v1'
      ? await import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1')
      : await import(`kubernetes-models/${apiVersion}`)
  if (!mod[kind]) throw new Error(`no schema for ${apiVersion} ${kind}`)
  return mod[kind]
}

// The CRD models accept unknown fields; these are the fields cert-manager and the Prometheus
// Operator cannot do without.
function checkCustomResource(t: Pick<typeof import('tap').default, 'ok' | 'match'>, doc: Obj) {
  if (doc.kind === 'Certificate') {
    t.match(doc.spec.secretName, /^[a-z0-9-]+$/, 'Certificate.spec.secretName')
    t.ok(doc.spec.issuerRef?.name, 'Certificate.spec.issuerRef.name')
    t.ok(['Issuer', 'ClusterIssuer'].includes(doc.spec.issuerRef.kind), 'Certificate.spec.issuerRef.kind')
    t.ok(Array.isArray(doc.spec.dnsNames) && doc.spec.dnsNames.length > 0, 'Certificate.spec.dnsNames')
  }
  if (doc.kind === 'ServiceMonitor') {
    t.ok(doc.spec.selector?.matchLabels, 'ServiceMonitor.spec.selector')
    t.ok(doc.spec.endpoints?.length > 0 && doc.spec.endpoints.every((e: Obj) => e.port && e.path), 'ServiceMonitor.spec.endpoints')
  }
}

t.test('scripts/helm-tools unpacks helm 3.17 idempotently', async (t) => {
  const r = helm(['version', '--short'])
  t.equal(r.status, 0)
  t.match(r.stdout, /^v3\.17\./)
  t.match(helmPath, /\.data\/bin\/helm$/)
  const again = helm(['version', '--short'])
  t.equal(again.stdout, r.stdout)
})

for (const name of Object.keys(scenarios) as Scenario[]) {
  t.test(`${name} values`, async (t) => {
    const s = scenarios[name]

    t.test('helm lint --strict passes', async (t) => {
      const r = helm(['lint', '--strict', chartDir, '--namespace', s.namespace, ...s.args])
      t.equal(r.status, 0, r.stdout + r.stderr)
      t.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/)
    })

    t.test('every manifest is valid for Kubernetes', async (t) => {
      const ms = manifests(name)
      t.ok(ms.length >= 15, `${ms.length} manifests`)
      for (const { doc } of ms) {
        const Model = await modelFor(doc.apiVersion, doc.kind)
        t.doesNotThrow(() => new Model(doc).validate(), `${doc.kind}/${doc.metadata?.name}`)
        checkCustomResource(t, doc)
      }
    })

    t.test('one resource per template file, labelled and namespaced', async (t) => {
      const ms = manifests(name)
      const sources = ms.map((m) => m.source)
      t.same(sources.filter((src, i) => sources.indexOf(src) !== i), [], 'no template renders two resources')
      for (const { doc } of ms) {
        const labels = doc.metadata.labels ?? {}
        const where = `${doc.kind}/${doc.metadata.name}`
        t.equal(labels['app.kubernetes.io/name'], 'mobivisor-messenger', where)
        t.equal(labels['app.kubernetes.io/instance'], s.release, where)
        t.equal(labels['app.kubernetes.io/managed-by'], 'Helm', where)
        t.ok(labels['app.kubernetes.io/component'], `${where} component`)
        t.equal(labels['app.kubernetes.io/version'], '0.1.0', where)
        t.equal(doc.metadata.namespace, s.namespace, `${where} namespace`)
        t.ok(doc.metadata.name.length <= 63, `${where} name length`)
      }
    })

    t.test('every pod runs non-root, read-only, without privileges, with resources', async (t) => {
      const pods = podSpecs(manifests(name))
      t.ok(pods.length >= 3)
      for (const { where, spec } of pods) {
        t.equal(spec.automountServiceAccountToken, false, `${where} automountServiceAccountToken`)
        t.equal(spec.securityContext?.runAsNonRoot, true, `${where} runAsNonRoot`)
        t.ok(spec.securityContext?.runAsUser > 0, `${where} runAsUser`)
        t.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where} seccomp`)
        const emptyDirs = new Set((spec.volumes ?? []).filter((v: Obj) => v.emptyDir).map((v: Obj) => v.name))
        for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
          const sc = c.securityContext ?? {}
          const at = `${where} ${c.name}`
          t.equal(sc.readOnlyRootFilesystem, true, `${at} readOnlyRootFilesystem`)
          t.equal(sc.allowPrivilegeEscalation, false, `${at} allowPrivilegeEscalation`)
          t.equal(sc.runAsNonRoot, true, `${at} runAsNonRoot`)
          t.ok(sc.capabilities?.drop?.includes('ALL'), `${at} drops ALL capabilities`)
          t.notOk(sc.capabilities?.add?.length, `${at} adds no capability`)
          t.not(sc.privileged, true, `${at} not privileged`)
          t.equal(sc.seccompProfile?.type, 'RuntimeDefault', `${at} seccomp`)
          t.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${at} requests`)
          t.ok(c.resources?.limits?.memory, `${at} memory limit`)
          const tmp = (c.volumeMounts ?? []).find((m: Obj) => m.mountPath === '/tmp')
          if (!c.name.startsWith('wait-for')) t.ok(tmp && emptyDirs.has(tmp.name), `${at} has an emptyDir at /tmp`)
        }
      }
    })

    t.test('service accounts do not mount API tokens', async (t) => {
      const sas = manifests(name).filter((m) => m.doc.kind === 'ServiceAccount')
      t.ok(sas.length >= 1)
      for (const { doc } of sas) t.equal(doc.automountServiceAccountToken, false, doc.metadata.name)
    })

    t.test('gateway: HTTPS probes, drain on stop, grace period above the app shutdown grace', async (t) => {
      const ms = manifests(name)
      const rel = s.release
      const cfg = configMapData(ms, rel)
      const dep = get(ms, 'Deployment', `${rel}-gateway`)
      const pod = dep.spec.template.spec
      const c = pod.containers.find((x: Obj) => x.name === 'gateway')
      t.same(c.args, ['node', '--import', 'tsx', 'server/src/main.ts'])
      t.same(c.ports.map((p: Obj) => [p.name, p.containerPort]), [['https', 8443], ['metrics', 9090]])
      t.equal(cfg.MVM_HTTP_PORT, '8443')
      t.equal(cfg.MVM_METRICS_PORT, '9090')
      t.equal(cfg.MVM_TLS, 'on')
      t.same(c.livenessProbe.httpGet, { path: '/healthz', port: 'https', scheme: 'HTTPS' })
      t.same(c.readinessProbe.httpGet, { path: '/readyz', port: 'https', scheme: 'HTTPS' })
      t.same(c.startupProbe.httpGet, { path: '/healthz', port: 'https', scheme: 'HTTPS' })
      const [sleep, seconds] = c.lifecycle.preStop.exec.command
      t.equal(sleep, 'sleep')
      t.ok(Number(seconds) > 0, 'preStop sleeps')
      const grace = Number(cfg.MVM_SHUTDOWN_GRACE_SECONDS)
      t.ok(grace > 0)
      t.ok(pod.terminationGracePeriodSeconds > grace + Number(seconds),
        `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > ${grace} + ${seconds}`)
      const worker = get(ms, 'Deployment', `${rel}-worker`).spec.template.spec
      t.ok(worker.terminationGracePeriodSeconds > grace, 'worker grace period')
      t.same(worker.containers[0].args, ['node', '--import', 'tsx', 'worker/src/main.ts'])

      // Secrets by reference only; configuration from the ConfigMap.
      const env = envOf(c)
      for (const key of ['DATABASE_URL', 'REDIS_URL']) {
        t.ok(env.get(key)?.valueFrom?.secretKeyRef, `${key} from a Secret`)
        t.notOk(env.get(key)?.value, `${key} not inline`)
      }
      t.same(c.envFrom, [{ configMapRef: { name: `${rel}-config` } }])

      // The certificate files the app is told about are where the TLS Secret is mounted.
      const mounts = new Map(c.volumeMounts.map((m: Obj) => [m.name, m]))
      const tlsVolume = pod.volumes.find((v: Obj) => v.name === 'tls')
      t.equal((mounts.get('tls') as Obj).mountPath, cfg.MVM_TLS_CERT_FILE!.replace(/\/tls\.crt$/, ''))
      t.equal(cfg.MVM_TLS_KEY_FILE, `${(mounts.get('tls') as Obj).mountPath}/tls.key`)
      const tlsSecret = tlsVolume.secret.secretName
      const provided = find(ms, 'Secret', tlsSecret) ?? ms.find((m) => m.doc.kind === 'Certificate' && m.doc.spec.secretName === tlsSecret)
      t.ok(provided, `TLS Secret ${tlsSecret} is provided by the chart`)

      // Attachments on the shared volume, where MVM_ATTACHMENTS_DIR points.
      t.equal((mounts.get('attachments') as Obj).mountPath, cfg.MVM_ATTACHMENTS_DIR)
      const claim = pod.volumes.find((v: Obj) => v.name === 'attachments').persistentVolumeClaim.claimName
      const pvc = get(ms, 'PersistentVolumeClaim', claim)
      t.same(pvc.spec.accessModes, ['ReadWriteMany'])
      t.equal(pvc.metadata.annotations['helm.sh/resource-policy'], 'keep')

      // Pods roll when configuration or secrets change.
      for (const d of [dep, get(ms, 'Deployment', `${rel}-worker`)]) {
        t.match(d.spec.template.metadata.annotations['checksum/config'], /^[a-f0-9]{64}$/)
        t.match(d.spec.template.metadata.annotations['checksum/secret'], /^[a-f0-9]{64}$/)
      }

      const svc = get(ms, 'Service', `${rel}-gateway`)
      t.same(svc.spec.ports.map((p: Obj) => [p.name, p.targetPort]), [['https', 'https'], ['metrics', 'metrics']])
      t.same(svc.spec.selector, dep.spec.selector.matchLabels)
    })

    t.test('network policies: gateway ingress only from the ingress controller and Prometheus', async (t) => {
      const ms = manifests(name)
      const rel = s.release
      const gw = get(ms, 'NetworkPolicy', `${rel}-gateway`)
      const gwPod = get(ms, 'Deployment', `${rel}-gateway`).spec.template
      t.same(gw.spec.policyTypes, ['Ingress', 'Egress'])
      for (const [k, v] of Object.entries(gw.spec.podSelector.matchLabels)) t.equal(gwPod.metadata.labels[k], v, `selects gateway pods (${k})`)
      t.equal(gw.spec.ingress.length, 2, 'two ingress rules')
      for (const rule of gw.spec.ingress) t.ok(rule.from?.length > 0, 'every ingress rule names its sources')
      const [fromIngress, fromPrometheus] = gw.spec.ingress
      t.same(fromIngress.ports, [{ protocol: 'TCP', port: 'https' }])
      t.ok(fromIngress.from[0].namespaceSelector?.matchLabels && fromIngress.from[0].podSelector?.matchLabels, 'ingress controller by namespace and pod')
      t.same(fromPrometheus.ports, [{ protocol: 'TCP', port: 'metrics' }])
      t.ok(fromPrometheus.from[0].podSelector?.matchLabels, 'Prometheus by pod')
      const portNames = gwPod.spec.containers[0].ports.map((p: Obj) => p.name)
      t.ok(portNames.includes('https') && portNames.includes('metrics'), 'named ports exist on the gateway container')

      const egressPorts = (np: Obj) => np.spec.egress.flatMap((r: Obj) => r.ports.map((p: Obj) => `${p.protocol}/${p.port}`))
      t.same(egressPorts(gw).sort(), (name === 'evaluation'
        ? ['UDP/53', 'TCP/53', 'TCP/5432', 'TCP/6379']
        : ['UDP/53', 'TCP/53', 'TCP/5432', 'TCP/6379', 'TCP/26379']).sort(), 'gateway egress: DNS, PostgreSQL, Redis only')
      const dns = gw.spec.egress[0]
      t.equal(dns.to[0].podSelector.matchLabels['k8s-app'], 'kube-dns')

      const worker = get(ms, 'NetworkPolicy', `${rel}-worker`)
      t.same(worker.spec.ingress.map((r: Obj) => r.ports), [[{ protocol: 'TCP', port: 'metrics' }]], 'worker takes only scrapes')
      t.ok(egressPorts(worker).includes('TCP/443'), 'worker reaches push providers on 443')
      t.notOk(egressPorts(gw).includes('TCP/443'), 'gateway does not')

      const migration = get(ms, 'NetworkPolicy', `${rel}-migration`)
      t.same(migration.spec.ingress, [])
      t.notOk(egressPorts(migration).some((p: string) => /6379|443/.test(p)), 'migration reaches only DNS and PostgreSQL')
    })

    t.test('migration runs as a hook Job on the same image', async (t) => {
      const ms = manifests(name)
      const rel = s.release
      const job = get(ms, 'Job', `${rel}-migration`)
      const a = job.metadata.annotations
      const events = a['helm.sh/hook'].split(',')
      t.same(events, name === 'evaluation' ? ['post-install', 'pre-upgrade'] : ['pre-install', 'pre-upgrade'])
      t.match(a['helm.sh/hook-weight'], /^-?\d+$/)
      t.ok(a['helm.sh/hook-delete-policy'].split(',').includes('before-hook-creation'))
      const pod = job.spec.template.spec
      const c = pod.containers[0]
      t.same(c.args, ['node', '--import', 'tsx', 'scripts/migrate.ts'])
      t.equal(c.image, get(ms, 'Deployment', `${rel}-gateway`).spec.template.spec.containers[0].image, 'same image as the gateway')
      t.equal(pod.restartPolicy, 'Never')
      t.ok(job.spec.backoffLimit >= 1 && job.spec.activeDeadlineSeconds > 0)

      // Everything the Job needs exists before it: either a hook resource with a lower weight,
      // or something the operator created beforehand.
      const weight = Number(a['helm.sh/hook-weight'])
      const ref = envOf(c).get('DATABASE_URL')!.valueFrom.secretKeyRef
      const secret = get(ms, 'Secret', ref.name)
      t.equal(secret.metadata.annotations['helm.sh/hook'], a['helm.sh/hook'], 'DATABASE_URL Secret is a hook resource')
      t.ok(Number(secret.metadata.annotations['helm.sh/hook-weight']) < weight)
      const release = get(ms, 'Secret', `${rel}-connections`)
      t.equal(secretData(secret)[ref.key], secretData(release).DATABASE_URL, 'same DATABASE_URL as the app')
      const sa = get(ms, 'ServiceAccount', pod.serviceAccountName)
      t.equal(sa.metadata.annotations['helm.sh/hook'], a['helm.sh/hook'])
      t.ok(Number(sa.metadata.annotations['helm.sh/hook-weight']) < weight)
    })
  })
}

t.test('default values: production path without configured connections', async (t) => {
  const ms = manifests('default')
  t.same(ids(ms), [
    'ConfigMap/mvm-config',
    'Deployment/mvm-gateway', 'Deployment/mvm-worker',
    'Job/mvm-migration',
    'NetworkPolicy/mvm-gateway', 'NetworkPolicy/mvm-migration', 'NetworkPolicy/mvm-worker',
    'PersistentVolumeClaim/mvm-attachments',
    'PodDisruptionBudget/mvm-gateway', 'PodDisruptionBudget/mvm-worker',
    'Secret/mvm-connections', 'Secret/mvm-migration', 'Secret/mvm-tls',
    'Service/mvm-gateway', 'Service/mvm-worker-metrics',
    'ServiceAccount/mvm', 'ServiceAccount/mvm-migration',
  ])
  t.equal(get(ms, 'Secret', 'mvm-tls').type, 'kubernetes.io/tls', 'self-signed fallback certificate')
  t.notOk(find(ms, 'StatefulSet'), 'no in-chart database')
  const notes = renderNotes(scenarios.default)
  t.match(notes, 'ACTION REQUIRED: no database or Redis connection is configured')
  t.match(notes, 'self-signed certificate')
  t.notMatch(notes, 'EVALUATION MODE')
})

t.test('values.example.yaml: HA production installation', async (t) => {
  const ms = manifests('example')
  const rel = 'messenger'
  for (const id of ['HorizontalPodAutoscaler/messenger-gateway', 'HorizontalPodAutoscaler/messenger-worker', 'Ingress/messenger-gateway',
    'Certificate/messenger-gateway', 'ServiceMonitor/messenger', 'PodDisruptionBudget/messenger-gateway']) {
    t.ok(ids(ms).includes(id), id)
  }
  t.notOk(find(ms, 'Secret', 'messenger-tls'), 'no self-signed Secret when cert-manager issues the certificate')

  const gw = get(ms, 'Deployment', `${rel}-gateway`)
  t.notOk('replicas' in gw.spec, 'replicas are left to the HPA')
  const hpa = get(ms, 'HorizontalPodAutoscaler', `${rel}-gateway`)
  t.equal(hpa.spec.minReplicas, 3)
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: `${rel}-gateway` })
  t.equal(get(ms, 'HorizontalPodAutoscaler', `${rel}-worker`).spec.minReplicas, 2)
  t.ok(gw.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution, 'hard anti-affinity')

  // PostgreSQL over TLS with the company CA, mounted where sslrootcert points.
  const url = new URL(secretData(get(ms, 'Secret', `${rel}-connections`)).DATABASE_URL!)
  t.equal(url.protocol, 'postgresql:')
  t.equal(url.hostname, 'pg-primary.db.corp.example')
  t.equal(decodeURIComponent(url.password), 'pg s3cret@x', 'password survives URL encoding')
  t.equal(url.searchParams.get('sslmode'), 'verify-full')
  const caPath = url.searchParams.get('sslrootcert')!
  t.equal(caPath, '/etc/mobivisor/postgres-ca/ca.crt')
  for (const where of [gw.spec.template.spec, get(ms, 'Deployment', `${rel}-worker`).spec.template.spec, get(ms, 'Job', `${rel}-migration`).spec.template.spec]) {
    const mount = where.containers[0].volumeMounts.find((m: Obj) => m.name === 'postgres-ca')
    t.equal(mount?.mountPath, '/etc/mobivisor/postgres-ca')
    const vol = where.volumes.find((v: Obj) => v.name === 'postgres-ca')
    t.same(vol.secret, { secretName: 'corp-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] })
  }

  // Redis Sentinel with TLS.
  const cfg = configMapData(ms, rel)
  t.equal(cfg.MVM_REDIS_SENTINELS!.split(',').length, 3)
  t.equal(cfg.MVM_REDIS_SENTINEL_NAME, 'mobivisor')
  t.equal(cfg.MVM_REDIS_TLS_CA_FILE, '/etc/mobivisor/redis-ca/ca.crt')
  t.match(secretData(get(ms, 'Secret', `${rel}-connections`)).REDIS_URL, /^rediss:\/\//)
  t.equal(cfg.MVM_PUBLIC_URL, 'https://messenger.corp.example')

  // Certificate from the company ClusterIssuer, for the ingress host.
  const cert = get(ms, 'Certificate', `${rel}-gateway`)
  t.same(cert.spec.issuerRef, { name: 'corp-ca-issuer', kind: 'ClusterIssuer', group: 'cert-manager.io' })
  t.ok(cert.spec.dnsNames.includes('messenger.corp.example'))
  t.equal(cert.spec.secretName, gw.spec.template.spec.volumes.find((v: Obj) => v.name === 'tls').secret.secretName)
  t.equal(gw.metadata.annotations['secret.reloader.stakater.com/reload'], cert.spec.secretName)

  // ingress-nginx re-encrypting to the gateway, WebSocket-friendly timeouts.
  const ing = get(ms, 'Ingress', `${rel}-gateway`)
  const an = ing.metadata.annotations
  t.equal(an['nginx.ingress.kubernetes.io/backend-protocol'], 'HTTPS')
  t.ok(Number(an['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= 3600)
  t.ok(Number(an['nginx.ingress.kubernetes.io/proxy-send-timeout']) >= 3600)
  t.equal(an['nginx.ingress.kubernetes.io/proxy-ssl-verify'], 'on')
  t.same(ing.spec.tls, [{ hosts: ['messenger.corp.example'], secretName: cert.spec.secretName }])
  t.equal(ing.spec.rules[0].http.paths[0].backend.service.name, `${rel}-gateway`)

  // ServiceMonitor scrapes both components' metrics ports.
  const sm = get(ms, 'ServiceMonitor', rel)
  t.equal(sm.metadata.labels.release, 'kube-prometheus-stack')
  t.same(sm.spec.endpoints.map((e: Obj) => [e.port, e.path]), [['metrics', '/metrics']])
  for (const svc of [get(ms, 'Service', `${rel}-gateway`), get(ms, 'Service', `${rel}-worker-metrics`)]) {
    t.ok(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v), `${svc.metadata.name} selected`)
    t.ok(svc.spec.ports.some((p: Obj) => p.name === 'metrics'))
  }

  // Egress narrowed to the database and cache subnets.
  const np = get(ms, 'NetworkPolicy', `${rel}-gateway`)
  t.same(np.spec.egress[1].to, [{ ipBlock: { cidr: '10.40.10.0/24' } }])
  t.same(np.spec.egress[2].to, [{ ipBlock: { cidr: '10.40.20.0/24' } }])
  t.same(np.spec.ingress[1].from[0].namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } })
})

t.test('evaluation mode: in-release PostgreSQL and Redis, wired in, with a loud warning', async (t) => {
  const ms = manifests('evaluation')
  const rel = 'eval'
  const sts = get(ms, 'StatefulSet', `${rel}-postgresql`)
  t.match(sts.spec.template.spec.containers[0].image, /^docker\.io\/library\/postgres:/)
  t.equal(sts.spec.volumeClaimTemplates[0].metadata.name, 'data')
  t.ok(sts.spec.template.spec.containers[0].volumeMounts.some((m: Obj) => m.name === 'data'))
  const redis = get(ms, 'Deployment', `${rel}-redis`)
  t.match(redis.spec.template.spec.containers[0].image, /^docker\.io\/library\/redis:/)
  get(ms, 'Service', `${rel}-postgresql`)
  get(ms, 'Service', `${rel}-redis`)

  const passwords = secretData(get(ms, 'Secret', `${rel}-evaluation`))
  const conn = secretData(get(ms, 'Secret', `${rel}-connections`))
  const db = new URL(conn.DATABASE_URL!)
  t.equal(db.hostname, `${rel}-postgresql`)
  t.equal(db.password, passwords.POSTGRES_PASSWORD, 'one generated password for the database and the app')
  t.ok(passwords.POSTGRES_PASSWORD!.length >= 24)
  const r = new URL(conn.REDIS_URL!)
  t.equal(r.hostname, `${rel}-redis`)
  t.equal(r.password, passwords.REDIS_PASSWORD)
  t.equal(secretData(get(ms, 'Secret', `${rel}-migration`)).DATABASE_URL, conn.DATABASE_URL)

  const job = get(ms, 'Job', `${rel}-migration`).spec.template.spec
  t.match(job.initContainers[0].command.join(' '), `pg_isready -q -U mobivisor -d mobivisor -h ${rel}-postgresql`)
  const pgPolicy = get(ms, 'NetworkPolicy', `${rel}-postgresql`)
  t.same(pgPolicy.spec.ingress[0].from[0].podSelector.matchExpressions[0].values, ['gateway', 'worker', 'migration'])
  t.same(pgPolicy.spec.egress, [])
  t.same(get(ms, 'NetworkPolicy', `${rel}-gateway`).spec.egress[1].to[0].podSelector.matchLabels['app.kubernetes.io/component'], 'postgresql')

  const notes = renderNotes(scenarios.evaluation)
  t.match(notes, 'EVALUATION MODE - NOT FOR PRODUCTION')
  t.notMatch(notes, 'ACTION REQUIRED')
})

t.test('NOTES.txt tells IT how to create the first administrator and what to check', async (t) => {
  const notes = renderNotes(scenarios.example)
  t.match(notes, 'kubectl -n messenger exec deploy/messenger-gateway -- node --import tsx scripts/mvctl.ts admin add <name> --role owner')
  t.match(notes, 'https://messenger.corp.example')
  t.match(notes, 'wss://messenger.corp.example/v1/ws')
  t.match(notes, 'kubectl -n messenger logs job/messenger-migration')
  t.match(notes, 'get certificate messenger-gateway')
  t.notMatch(notes, 'EVALUATION MODE')
  t.notMatch(notes, 'ACTION REQUIRED')
  t.notMatch(notes, 'self-signed')
  // The command names a Deployment the chart really creates.
  t.ok(find(manifests('example'), 'Deployment', 'messenger-gateway'))
})

t.test('checksum annotations change with the configuration they cover', async (t) => {
  const checksums = (ms: Manifest[]) => ['gateway', 'worker'].map((c) => {
    const a = get(ms, 'Deployment', `mvm-${c}`).spec.template.metadata.annotations
    return { config: a['checksum/config'], secret: a['checksum/secret'] }
  })
  const base = checksums(render({ release: 'mvm' }))
  t.same(checksums(render({ release: 'mvm' })), base, 'stable across renders')
  const logLevel = checksums(render({ release: 'mvm', args: ['--set', 'config.logLevel=debug'] }))
  const password = checksums(render({ release: 'mvm', args: ['--set', 'database.host=db.example', '--set', 'database.password=x'] }))
  for (const i of [0, 1]) {
    t.not(logLevel[i]!.config, base[i]!.config, 'config change -> new checksum/config')
    t.equal(logLevel[i]!.secret, base[i]!.secret, 'config change leaves checksum/secret')
    t.not(password[i]!.secret, base[i]!.secret, 'secret change -> new checksum/secret')
    t.equal(password[i]!.config, base[i]!.config, 'secret change leaves checksum/config')
  }
})

t.test('values.schema.json refuses wrong types, unknown keys and unsafe settings', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['wrong type', 'gateway:\n  replicaCount: "three"\n', /gateway\.replicaCount: Invalid type\. Expected: integer, given: string/],
    ['unknown nested key', 'gateway:\n  replicas: 3\n', /Additional property replicas is not allowed/],
    ['unknown top-level key', 'gatway:\n  replicaCount: 3\n', /Additional property gatway is not allowed/],
    ['enum', 'ingress:\n  mode: edge\n', /ingress\.mode/],
    ['WebSocket timeout below one hour', 'ingress:\n  websocketTimeoutSeconds: 60\n', /ingress\.websocketTimeoutSeconds: Must be greater than or equal to 3600/],
    ['writable root filesystem', 'containerSecurityContext:\n  readOnlyRootFilesystem: false\n', /containerSecurityContext\.readOnlyRootFilesystem/],
    ['root user', 'podSecurityContext:\n  runAsUser: 0\n', /podSecurityContext\.runAsUser/],
    ['bad CIDR', 'networkPolicy:\n  database:\n    cidrs: [db.example]\n', /networkPolicy\.database\.cidrs\.0/],
    ['sentinel without port', 'redis:\n  sentinel:\n    hosts: [sentinel-0]\n', /redis\.sentinel\.hosts\.0/],
  ]
  for (const [what, yaml, message] of cases) {
    const file = valuesFile(yaml)
    const lint = helm(['lint', chartDir, ...file])
    t.not(lint.status, 0, `lint refuses: ${what}`)
    t.match(lint.stdout + lint.stderr, message, `lint names the problem: ${what}`)
    const tpl = renderRaw({ args: file })
    t.not(tpl.status, 0, `template refuses: ${what}`)
    t.match(tpl.stderr, message, `template names the problem: ${what}`)
  }
  // Control: a well-typed override of the same value is accepted.
  const ok = renderRaw({ args: valuesFile('gateway:\n  replicaCount: 3\n') })
  t.equal(ok.status, 0, ok.stderr)
  t.equal(get(render({ args: valuesFile('gateway:\n  replicaCount: 3\n') }), 'Deployment', 'mvm-gateway').spec.replicas, 3)
})

t.test('combinations a schema cannot express fail at render time with a reason', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--set', 'gateway.terminationGracePeriodSeconds=30'], /must exceed gateway\.preStopSleepSeconds \+ config\.shutdownGraceSeconds \(35\)/],
    [['--set', 'worker.terminationGracePeriodSeconds=25'], /worker\.terminationGracePeriodSeconds \(25\) must exceed config\.shutdownGraceSeconds/],
    [['--set', 'ingress.enabled=true'], /ingress\.host is required/],
    [['--set', 'tls.certManager.enabled=true', '--set', 'ingress.enabled=true', '--set', 'ingress.host=m.example'], /issuerRef\.name is required/],
    [['--set', 'redis.sentinel.enabled=true'], /redis\.sentinel\.hosts is required/],
    [['--set', 'tls.enabled=false', '--set', 'ingress.enabled=true', '--set', 'ingress.host=m.example'], /ingress\.tlsSecretName is required/],
  ]
  for (const [args, message] of cases) {
    const r = renderRaw({ args })
    t.not(r.status, 0, args.join(' '))
    t.match(r.stderr, message)
  }
})

t.test('existingSecret: the chart makes no connection Secret and every pod reads the named one', async (t) => {
  const ms = render({ args: ['--set', 'existingSecret.name=vault-conn', '--set', 'existingSecret.databaseUrlKey=pg', '--set', 'existingSecret.redisUrlKey=rd'] })
  t.notOk(find(ms, 'Secret', 'mvm-connections'))
  t.notOk(find(ms, 'Secret', 'mvm-migration'))
  for (const { where, spec } of podSpecs(ms)) {
    const env = envOf(spec.containers[0])
    t.same(env.get('DATABASE_URL')!.valueFrom.secretKeyRef, { name: 'vault-conn', key: 'pg' }, where)
  }
  t.same(envOf(get(ms, 'Deployment', 'mvm-gateway').spec.template.spec.containers[0]).get('REDIS_URL')!.valueFrom.secretKeyRef, { name: 'vault-conn', key: 'rd' })
  t.notMatch(renderNotes({ args: ['--set', 'existingSecret.name=vault-conn'] }), 'ACTION REQUIRED')
})

t.test('ingress in ssl-passthrough mode and gateways behind a TLS-terminating proxy', async (t) => {
  const pass = render({ args: ['--set', 'ingress.enabled=true', '--set', 'ingress.host=m.example', '--set', 'ingress.mode=passthrough', '--set', 'tls.existingSecret=my-tls'] })
  const an = get(pass, 'Ingress', 'mvm-gateway').metadata.annotations
  t.equal(an['nginx.ingress.kubernetes.io/ssl-passthrough'], 'true')
  t.notOk(an['nginx.ingress.kubernetes.io/backend-protocol'])
  t.notOk(find(pass, 'Secret', 'mvm-tls'), 'existing TLS Secret is used, none generated')
  t.equal(get(pass, 'Deployment', 'mvm-gateway').spec.template.spec.volumes.find((v: Obj) => v.name === 'tls').secret.secretName, 'my-tls')

  const plain = render({ args: ['--set', 'tls.enabled=false', '--set', 'ingress.enabled=true', '--set', 'ingress.host=m.example', '--set', 'ingress.tlsSecretName=edge-tls'] })
  const c = get(plain, 'Deployment', 'mvm-gateway').spec.template.spec.containers[0]
  t.equal(c.readinessProbe.httpGet.scheme, 'HTTP')
  t.equal(configMapData(plain, 'mvm').MVM_TLS, 'off')
  t.notOk(configMapData(plain, 'mvm').MVM_TLS_CERT_FILE)
  t.notOk(c.volumeMounts.some((m: Obj) => m.name === 'tls'))
  t.equal(get(plain, 'Ingress', 'mvm-gateway').metadata.annotations['nginx.ingress.kubernetes.io/backend-protocol'], 'HTTP')
})

t.test('the app accepts the configuration the chart renders', async (t) => {
  const known = Object.keys(ConfigSchema.properties)
  for (const name of Object.keys(scenarios) as Scenario[]) {
    const ms = manifests(name)
    const rel = scenarios[name].release
    const cfg = configMapData(ms, rel)
    const conn = secretData(get(ms, 'Secret', `${rel}-connections`))
    t.same(Object.keys(cfg).filter((k) => !known.includes(k)), [], `${name}: every ConfigMap key is a known variable`)
    // The default values leave the URLs empty on purpose (NOTES says so); the app must refuse that.
    if (name === 'default') {
      t.throws(() => loadConfig({ ...cfg, ...conn }), /DATABASE_URL is required/)
      continue
    }
    const config = loadConfig({ ...cfg, ...conn })
    t.equal(config.MVM_HTTP_PORT, 8443, `${name}: loadConfig accepts it`)
    t.equal(config.MVM_TLS, 'on')
  }
  // Every variable of the app can be set through the chart (the example sets them all).
  const example = { ...configMapData(manifests('example'), 'messenger'), DATABASE_URL: '', REDIS_URL: '' }
  t.same(known.filter((k) => !(k in example)), [], 'variables the chart cannot set')
})

t.test('option variants render valid manifests', async (t) => {
  const variants: string[][] = [
    ['--set', 'serviceAccount.create=false', '--set', 'serviceAccount.name=corp-sa'],
    ['--set', 'persistence.attachments.enabled=false', '--set', 'networkPolicy.enabled=false', '--set', 'gateway.pdb.enabled=false'],
    ['--set', 'persistence.attachments.existingClaim=shared-nfs', '--set', 'image.digest=sha256:' + 'a'.repeat(64)],
    ['--set', 'gateway.autoscaling.enabled=true', '--set', 'gateway.autoscaling.targetMemoryUtilizationPercentage=80', '--set-string', 'worker.pdb.maxUnavailable=50%'],
    ['--set', 'gateway.service.type=LoadBalancer', '--set', 'gateway.service.loadBalancerSourceRanges={10.0.0.0/8}', '--set', 'containerPorts.https=9443'],
    ['--set', 'redis.host=r.example', '--set', 'redis.username=mvm', '--set', 'redis.password=p w', '--set', 'database.host=db.example', '--set', 'database.sslMode=require'],
    ['--set', 'evaluation.enabled=true', '--set', 'networkPolicy.enabled=false', '--set', 'evaluation.postgresql.password=fixed'],
  ]
  for (const args of variants) {
    const ms = render({ args })
    for (const { doc } of ms) {
      const Model = await modelFor(doc.apiVersion, doc.kind)
      t.doesNotThrow(() => new Model(doc).validate(), `${args.join(' ')}: ${doc.kind}/${doc.metadata.name}`)
    }
  }
  const sa = render({ args: variants[0] })
  t.notOk(find(sa, 'ServiceAccount'), 'no ServiceAccount created')
  for (const { where, spec } of podSpecs(sa)) t.equal(spec.serviceAccountName, 'corp-sa', where)
  const claim = render({ args: variants[2] })
  t.notOk(find(claim, 'PersistentVolumeClaim'))
  t.equal(get(claim, 'Deployment', 'mvm-worker').spec.template.spec.volumes.find((v: Obj) => v.name === 'attachments').persistentVolumeClaim.claimName, 'shared-nfs')
  t.match(get(claim, 'Deployment', 'mvm-gateway').spec.template.spec.containers[0].image, /@sha256:a{64}$/)
  const redis = new URL(secretData(get(render({ args: variants[5] }), 'Secret', 'mvm-connections')).REDIS_URL!)
  t.equal(decodeURIComponent(redis.username), 'mvm')
  t.equal(decodeURIComponent(redis.password), 'p w')
  const fixed = render({ args: variants[6] })
  t.equal(secretData(get(fixed, 'Secret', 'mvm-evaluation')).POSTGRES_PASSWORD, 'fixed')
})

t.test('values.yaml: every value carries a ## @param comment', async (t) => {
  const text = readFileSync(join(chartDir, 'values.yaml'), 'utf8')
  const documented = new Set([...text.matchAll(/^\s*## @param (\S+) \S/gm)].map((m) => m[1]!))
  const leaves: string[] = []
  const walk = (node: YamlNode | null, path: string[]) => {
    if (isMap(node) && node.items.length > 0 && !documented.has(path.join('.'))) {
      for (const pair of node.items) walk(pair.value as YamlNode, [...path, String((pair.key as { value: unknown }).value)])
    } else {
      leaves.push(path.join('.'))
    }
  }
  walk(parseDocument(text).contents as YamlNode, [])
  t.ok(leaves.length > 150, `${leaves.length} values`)
  t.same(leaves.filter((p) => !documented.has(p)), [], 'undocumented values')
  const values = parse(text)
  const missing = [...documented].filter((p) => p.split('.').reduce<Obj | undefined>((o, k) => (o && k in o ? o[k] : undefined), values) === undefined)
  t.same(missing, [], '@param names that are not values')
})
