// Gateway process: load config, build, listen; on SIGTERM/SIGINT stop taking connections, tell
// sockets to reconnect elsewhere (1012), answer the frames in flight, close the database and
// Redis, and exit within MVM_SHUTDOWN_GRACE_SECONDS.
import { ConfigError, loadConfig, type Config } from '#core/config.ts'
import { serveMetrics } from '#core/metrics.ts'
import { buildApp } from './app.ts'
import { tlsOptions } from './tls.ts'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message)
    process.exit(2)
  }
  throw err
}

const https = config.MVM_TLS === 'on' ? tlsOptions(config.MVM_TLS_CERT_FILE!, config.MVM_TLS_KEY_FILE!) : null
const app = await buildApp({ config, https })
try {
  await app.listen({ host: config.MVM_HTTP_HOST, port: config.MVM_HTTP_PORT })
} catch (err) {
  const code = (err as NodeJS.ErrnoException).code
  if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err
  console.error(`cannot listen on ${config.MVM_HTTP_HOST}:${config.MVM_HTTP_PORT} (${code}): set MVM_HTTP_PORT to a free port`)
  process.exit(2)
}
const metricsServer = await serveMetrics(app.metrics, config.MVM_METRICS_PORT, config.MVM_HTTP_HOST)

let stopping = false
async function shutdown(signal: string) {
  if (stopping) return
  stopping = true
  app.draining = true
  app.log.info({ signal }, 'shutting down')
  setTimeout(() => {
    app.log.error('shutdown exceeded the grace period; exiting')
    process.exit(1)
  }, config.MVM_SHUTDOWN_GRACE_SECONDS * 1000).unref()
  app.server.close() // no new connections; open ones finish below
  // Frames already being handled are answered on their socket before it is closed; new sends
  // are refused with MVM_UNAVAILABLE meanwhile, and clients resend them elsewhere.
  await app.drainSockets()
  for (const client of app.websocketServer.clients) client.close(1012, 'reconnect')
  await app.close()
  metricsServer?.close()
  app.log.info('shut down')
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
