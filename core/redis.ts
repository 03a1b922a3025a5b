// Redis connections from config: a plain URL (redis:// or rediss:// for TLS) or Sentinel.
// Pub/sub needs its own connection, so callers ask for as many as they need.
import { readFileSync } from 'node:fs'
import { Redis, type RedisOptions } from 'ioredis'
import type { Config } from './config.ts'

export type RedisConfig = Pick<Config, 'REDIS_URL'> & Partial<Pick<Config, 'MVM_REDIS_SENTINELS' | 'MVM_REDIS_SENTINEL_NAME' | 'MVM_REDIS_TLS_CA_FILE'>>

export function createRedis(config: RedisConfig, extra: RedisOptions = {}): Redis {
  return new Redis(redisOptions(config, extra))
}

/** Connection options, for libraries that open and close their own connections (BullMQ). */
export function redisOptions(config: RedisConfig, extra: RedisOptions = {}): RedisOptions {
  const url = new URL(config.REDIS_URL)
  const tls = url.protocol === 'rediss:'
    ? { ...(config.MVM_REDIS_TLS_CA_FILE ? { ca: readFileSync(config.MVM_REDIS_TLS_CA_FILE) } : {}) }
    : undefined
  const common: RedisOptions = {
    password: url.password ? decodeURIComponent(url.password) : undefined,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    ...(tls ? { tls } : {}),
    ...extra,
  }
  if (config.MVM_REDIS_SENTINELS) {
    const sentinels = config.MVM_REDIS_SENTINELS.split(',').map((hp) => {
      const [host, port] = hp.split(':')
      return { host: host!, port: Number(port) }
    })
    return { ...common, sentinels, name: config.MVM_REDIS_SENTINEL_NAME ?? 'mymaster', ...(tls ? { enableTLSForSentinelMode: true } : {}) }
  }
  return { ...common, host: url.hostname, port: Number(url.port || 6379) }
}
