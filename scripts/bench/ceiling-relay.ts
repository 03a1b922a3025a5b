// The ceiling of `npm run bench` (docs/benchmarks.md): the least a relay must do to carry the
// product's frames between two processes — TLS WebSocket in, Redis pub/sub across, TLS
// WebSocket out — with no validation, no authentication and no persistence. Same frames as the
// gateway (send → sent, message, ack → acked), same per-device channels, same TLS certificate.
// Env: MVM_BENCH_RELAY_PORT, MVM_TLS_CERT_FILE, MVM_TLS_KEY_FILE, REDIS_URL.
import { readFileSync } from 'node:fs'
import https from 'node:https'
import { Redis } from 'ioredis'
import { WebSocketServer, type WebSocket } from 'ws'

const CHANNEL_PREFIX = 'mvb:device:' // as long as the gateway's 'mvm:device:', never the same channel
const env = process.env
const port = Number(env.MVM_BENCH_RELAY_PORT)
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379'

const redisOptions = (() => {
  const url = new URL(redisUrl)
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
  }
})()
const publisher = new Redis(redisOptions)
const subscriber = new Redis(redisOptions)
const sockets = new Map<string, WebSocket>()
let seq = 0

subscriber.on('message', (channel: string, message: string) => {
  const ws = sockets.get(channel.slice(CHANNEL_PREFIX.length))
  if (ws && ws.readyState === ws.OPEN) ws.send(message)
})

const server = https.createServer({ cert: readFileSync(env.MVM_TLS_CERT_FILE!), key: readFileSync(env.MVM_TLS_KEY_FILE!) }, (req, res) => {
  res.writeHead(req.url === '/readyz' ? 200 : 404, { 'content-type': 'application/json' }).end('{}')
})
const wss = new WebSocketServer({ server, path: '/v1/ws', maxPayload: 1024 * 1024 })

interface SendFrame {
  type: 'send'
  envelope: { id: string; to: string; class: string; body: unknown; keys: { device: string; iv: string; ct: string; mac: string }[] }
}

wss.on('connection', (ws, req) => {
  // "Bearer <userId>.<deviceId>": who the device is, taken on trust; the ceiling checks nothing.
  const [user, device] = (req.headers.authorization ?? '').replace(/^Bearer /, '').split('.')
  if (!user || !device) return ws.close(4001, 'no identity')
  sockets.set(device, ws)
  ws.on('close', () => {
    if (sockets.get(device) === ws) sockets.delete(device)
    void subscriber.unsubscribe(CHANNEL_PREFIX + device)
  })
  ws.on('error', () => {})
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as SendFrame | { type: 'ack'; seq: string[] } | { type: 'ping' }
    if (frame.type === 'send') {
      const e = frame.envelope
      const sentAt = new Date().toISOString()
      const pipeline = publisher.pipeline()
      for (const k of e.keys) {
        pipeline.publish(CHANNEL_PREFIX + k.device, JSON.stringify({
          type: 'message', seq: String(++seq), id: e.id, from: { user, device }, to: e.to, class: e.class, sentAt,
          body: e.body, key: { iv: k.iv, ct: k.ct, mac: k.mac },
        }))
      }
      // Like the gateway: answer once the fan-out is handed to Redis (the gateway stores first).
      pipeline.exec().then(
        () => ws.send(JSON.stringify({ type: 'sent', id: e.id, sentAt, duplicate: false })),
        () => ws.send(JSON.stringify({ type: 'error', ref: e.id, code: 'MVM_INTERNAL', message: 'internal error' })),
      )
    } else if (frame.type === 'ack') {
      ws.send(JSON.stringify({ type: 'acked', seq: frame.seq, deleted: frame.seq.length }))
    } else if (frame.type === 'ping') {
      ws.send('{"type":"pong"}')
    }
  })
  subscriber.subscribe(CHANNEL_PREFIX + device).then(() => ws.send('{"type":"synced"}'), () => ws.close(1011, 'try again'))
})

server.listen(port, '127.0.0.1')

function shutdown() {
  for (const ws of wss.clients) ws.terminate()
  server.close()
  subscriber.disconnect()
  publisher.disconnect()
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
