// Worker process entry: runs every slow or periodic job through BullMQ; exits cleanly on signals.
import pino from 'pino'
import { ConfigError, loadConfig } from '#core/config.ts'
import { serveMetrics } from '#core/metrics.ts'
import { startWorker } from './worker.ts'

let config
try {
  config = loadConfig({ ...process.env, MVM_TLS: 'off' }) // the worker serves no TLS
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message)
    process.exit(2)
  }
  throw err
}
const log = pino({ level: config.MVM_LOG_LEVEL, base: { component: 'worker' } })
const worker = await startWorker(config, log)
const metricsServer = await serveMetrics(worker.metrics, config.MVM_METRICS_PORT, config.MVM_HTTP_HOST, worker.collectDepths)
log.info('worker started')

let stopping = false
async function stop(signal: string) {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'worker stopping')
  setTimeout(() => process.exit(1), config!.MVM_SHUTDOWN_GRACE_SECONDS * 1000).unref()
  metricsServer?.close()
  await worker.close()
  process.exit(0)
}
process.on('SIGTERM', () => void stop('SIGTERM'))
process.on('SIGINT', () => void stop('SIGINT'))
