// Prometheus metrics, served as plain HTTP on MVM_METRICS_PORT (0 turns the endpoint off) so
// that scraping needs no client certificate and stays off the public listener.
import { createServer, type Server } from 'node:http'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

export function createMetrics(component: 'gateway' | 'worker') {
  const registry = new Registry()
  registry.setDefaultLabels({ component })
  collectDefaultMetrics({ register: registry, prefix: 'mvm_' })
  const metrics = {
    registry,
    connections: new Gauge({ name: 'mvm_ws_connections', help: 'open device WebSockets on this gateway', registers: [registry] }),
    messagesIn: new Counter({ name: 'mvm_messages_accepted_total', help: 'envelopes stored (first acceptance, not resends)', labelNames: ['transport'], registers: [registry] }),
    messagesOut: new Counter({ name: 'mvm_deliveries_sent_total', help: 'deliveries written to device sockets', labelNames: ['source'], registers: [registry] }),
    acks: new Counter({ name: 'mvm_deliveries_acked_total', help: 'deliveries acknowledged and deleted', registers: [registry] }),
    deliveryLatency: new Histogram({
      name: 'mvm_delivery_latency_seconds', help: 'from storing an envelope to writing it to a recipient socket (live deliveries)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
    }),
    errors: new Counter({ name: 'mvm_errors_total', help: 'requests and frames answered with an error, by code', labelNames: ['code'], registers: [registry] }),
    queueDepth: new Gauge({ name: 'mvm_queue_jobs', help: 'BullMQ jobs by queue and state', labelNames: ['queue', 'state'], registers: [registry] }),
  }
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>

export async function serveMetrics(metrics: Metrics, port: number, host: string, beforeScrape?: () => Promise<void>): Promise<Server | undefined> {
  if (port === 0) return undefined
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    try {
      await beforeScrape?.()
      // prom-client prints an empty event-loop-lag mean as "Nan"; the exposition format says NaN
      const body = (await metrics.registry.metrics()).replace(/ Nan$/gm, ' NaN')
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body)
    } catch {
      res.writeHead(500).end()
    }
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve))
  return server
}
