// Node implementation of Transport: keep-alive HTTPS and `ws` WebSockets with an optional CA.
import http from 'node:http'
import https from 'node:https'
import { WebSocket } from 'ws'
import { ApiError, type SocketConnection, type SocketHandlers, type Transport } from './transport.ts'

const REQUEST_TIMEOUT_MS = 30_000
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024

export function createNodeTransport(server: string, opts: { ca?: string | Buffer } = {}): Transport {
  const base = new URL(server)
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new Error(`server must be an https:// URL, got ${server}`)
  const secure = base.protocol === 'https:'
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: 64, ...(opts.ca ? { ca: opts.ca } : {}) })
    : new http.Agent({ keepAlive: true, maxSockets: 64 })

  return {
    request<T>(method: 'GET' | 'POST', path: string, { body, token }: { body?: unknown; token?: string } = {}): Promise<T> {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
      const headers: Record<string, string> = { accept: 'application/json' }
      if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(payload.length) })
      if (token) headers.authorization = `Bearer ${token}`
      const url = new URL(path, base)
      return new Promise<T>((resolve, reject) => {
        const req = (secure ? https : http).request(url, { method, headers, agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
          const chunks: Buffer[] = []
          let size = 0
          res.on('data', (c: Buffer) => {
            size += c.length
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'))
            else chunks.push(c)
          })
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            let json: Record<string, unknown> = {}
            try { json = text ? JSON.parse(text) : {} } catch { /* non-JSON error page */ }
            const status = res.statusCode ?? 0
            if (status >= 200 && status < 300) resolve(json as T)
            else reject(new ApiError(status, String(json.code ?? `HTTP_${status}`), String(json.message ?? text.slice(0, 200)), json))
          })
          res.on('error', reject)
        })
        req.on('timeout', () => req.destroy(new Error(`request to ${url.pathname} timed out`)))
        req.on('error', reject)
        req.end(payload)
      })
    },

    socket(path: string, token: string, handlers: SocketHandlers): SocketConnection {
      const url = new URL(path, base)
      url.protocol = secure ? 'wss:' : 'ws:'
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, ...(opts.ca ? { ca: opts.ca } : {}), maxPayload: MAX_RESPONSE_BYTES })
      let refused = false
      ws.on('open', () => handlers.onOpen())
      ws.on('message', (data, isBinary) => { if (!isBinary) handlers.onMessage(data.toString()) })
      ws.on('unexpected-response', (_req, res) => {
        refused = true
        handlers.onRefused(res.statusCode ?? 0)
        ws.terminate()
      })
      ws.on('close', (code, reason) => { if (!refused) handlers.onClose(code, reason.toString()) })
      ws.on('error', () => { /* 'close' follows and drives reconnection */ })
      return {
        send: (text) => ws.send(text),
        close: (code, reason) => ws.close(code, reason),
        terminate: () => ws.terminate(),
        get isOpen() { return ws.readyState === WebSocket.OPEN },
      }
    },

    close() { agent.destroy() },
  }
}
