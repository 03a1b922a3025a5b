// Child processes of the benchmark (gateways, ceiling relays): started with node + tsx as in
// production, ready when GET /readyz answers 200 over TLS, stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import https from 'node:https'
import { createServer } from 'node:net'
import { pathToFileURL } from 'node:url'

export const ROOT = new URL('../../', import.meta.url).pathname
const GUARD = pathToFileURL(new URL('./orphan-guard.ts', import.meta.url).pathname).href

export interface Service {
  name: string
  pid: number
  port: number
  url: string
  output(): string
  stop(): Promise<void>
}

export async function freePort(): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as { port: number }).port
  await new Promise((r) => srv.close(r))
  return port
}

export async function startService(opts: {
  name: string
  entry: string
  env: Record<string, string>
  port: number
  ca: Buffer
  nodeArgs?: string[]
}): Promise<Service> {
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', '--import', GUARD, opts.entry], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (d: Buffer) => { output = (output + d.toString()).slice(-20_000) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = once(child, 'exit').then(() => undefined)
  const url = `https://127.0.0.1:${opts.port}`
  const service: Service = {
    name: opts.name,
    pid: child.pid!,
    port: opts.port,
    url,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(killer)
    },
  }
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${opts.name} exited early:\n${output}`)
    if (await ready(url, opts.ca)) return service
    if (Date.now() > deadline) {
      await service.stop()
      throw new Error(`${opts.name} did not become ready within 60 s:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 150))
  }
}

function ready(url: string, ca: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(`${url}/readyz`, { ca, timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => { req.destroy(); resolve(false) })
  })
}
