// Gateway processes as they run in production (server/src/main.ts over real TLS), for tests
// that cross process boundaries: fan-out between gateways, shutdown, TLS scans.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import https from 'node:https'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { ROOT, testCerts } from './certs.ts'
import { TEST_REDIS_URL } from './services.ts'

interface Teardown { teardown(fn: () => unknown): void }

export interface Gateway {
  url: string
  port: number
  ca: Buffer
  process: ChildProcess
  output(): string
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export async function freePort(): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as { port: number }).port
  srv.close()
  return port
}

export async function startGateway(t: Teardown, databaseUrl: string, env: Record<string, string> = {}): Promise<Gateway> {
  const certs = testCerts()
  const port = env.MVM_HTTP_PORT ? Number(env.MVM_HTTP_PORT) : await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/src/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      MVM_HTTP_HOST: '127.0.0.1',
      MVM_METRICS_PORT: '0',
      MVM_TLS_CERT_FILE: certs.cert,
      MVM_TLS_KEY_FILE: certs.key,
      MVM_LOG_LEVEL: 'warn',
      ...env,
      MVM_HTTP_PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const gateway: Gateway = {
    url: `https://localhost:${port}`,
    port,
    ca: readFileSync(certs.ca),
    process: child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
  t.teardown(() => gateway.stop('SIGKILL'))
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited early:\n${output}`)
    if (await ready(gateway)) return gateway
    if (Date.now() > deadline) throw new Error(`gateway did not become ready:\n${output}`)
    await new Promise((r) => setTimeout(r, 150))
  }
}

function ready(g: Gateway): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(`${g.url}/readyz`, { ca: g.ca, timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => { req.destroy(); resolve(false) })
  })
}
