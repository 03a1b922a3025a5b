// Process configuration: one schema, read once from the environment at start, frozen, passed down.
// Every violation is reported at once, naming the variable. No secret has a default.
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { isIP } from 'node:net'

const OnOff = Type.Union([Type.Literal('on'), Type.Literal('off')])
const LogLevel = Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)))

export const ConfigSchema = Type.Object({
  DATABASE_URL: Type.String({ minLength: 1, pattern: '^postgres(ql)?://' }),
  REDIS_URL: Type.String({ minLength: 1, pattern: '^rediss?://' }),
  MVM_REDIS_SENTINELS: Type.Optional(Type.String({ pattern: '^[^,:]+:[0-9]+(,[^,:]+:[0-9]+)*$' })),
  MVM_REDIS_SENTINEL_NAME: Type.String({ minLength: 1, default: 'mymaster' }),
  MVM_REDIS_TLS_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  MVM_HTTP_HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  MVM_HTTP_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8443 }),
  MVM_METRICS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 9090 }),
  MVM_TLS: Type.Union([OnOff], { default: 'on' }),
  MVM_TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1 })),
  MVM_TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  MVM_LOG_LEVEL: Type.Union([LogLevel], { default: 'info' }),
  MVM_PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  /** Proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For names the client: audit source IPs and per-address throttling use it. */
  MVM_TRUSTED_PROXIES: Type.Optional(Type.String({ maxLength: 2048, pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?(,[0-9A-Fa-f:.]+(/[0-9]{1,3})?)*$' })),
  MVM_SESSION_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 86_400, default: 3600 }),
  MVM_ENROLLMENT_TTL_HOURS: Type.Integer({ minimum: 1, maximum: 24 * 30, default: 72 }),
  MVM_DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  MVM_SHUTDOWN_GRACE_SECONDS: Type.Integer({ minimum: 1, maximum: 600, default: 25 }),
  MVM_MAX_ENVELOPE_BYTES: Type.Integer({ minimum: 4096, maximum: 16 * 1024 * 1024, default: 262_144 }),
  /** How long a fully delivered envelope is kept so a late resend is still recognised as one. */
  MVM_DELIVERED_RETENTION_HOURS: Type.Integer({ minimum: 1, maximum: 24 * 30, default: 24 }),
  /** How long a delivery waits for a device that never comes back. */
  MVM_UNDELIVERED_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
  /** How many days of per-user daily message counts (admin activity, metadata only) are kept. */
  MVM_ACTIVITY_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 400 }),
  MVM_ATTACHMENTS_DIR: Type.String({ minLength: 1, default: '/var/lib/mobivisor/attachments' }),
  /** BullMQ key prefix in Redis: gateways (producers) and workers (consumers) must use the same. */
  MVM_QUEUE_PREFIX: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$', default: 'mvm' }),
})

export type Config = Readonly<Static<typeof ConfigSchema>>

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.keys(ConfigSchema.properties)
  const input: Record<string, unknown> = {}
  for (const key of known) {
    const value = env[key]
    if (value !== undefined && value !== '') input[key] = value
  }
  const candidate = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, input)) as Record<string, unknown>
  const byVariable = new Map<string, string>()
  for (const error of Value.Errors(ConfigSchema, candidate)) {
    const missing = (error.params as { requiredProperties?: string[] }).requiredProperties
    if (missing) for (const name of missing) byVariable.set(name, 'is required')
    else {
      const name = error.instancePath.slice(1)
      byVariable.set(name, `${describe(candidate[name])} ${hint(name) || error.message}`)
    }
  }
  if (candidate.MVM_TLS === 'on') {
    for (const name of ['MVM_TLS_CERT_FILE', 'MVM_TLS_KEY_FILE']) {
      if (!candidate[name]) byVariable.set(name, 'is required while MVM_TLS=on (a PEM file path)')
    }
  }
  if (typeof candidate.MVM_TRUSTED_PROXIES === 'string' && !byVariable.has('MVM_TRUSTED_PROXIES')) {
    const bad = candidate.MVM_TRUSTED_PROXIES.split(',').filter((p) => !isAddressOrCidr(p))
    if (bad.length > 0) byVariable.set('MVM_TRUSTED_PROXIES', `has ${bad.map((b) => JSON.stringify(b)).join(', ')}: not an IP address or CIDR`)
  }
  if (byVariable.size > 0) {
    throw new ConfigError([...byVariable].map(([name, problem]) => `${name} ${problem}`))
  }
  return Object.freeze(candidate) as Config
}

function describe(value: unknown): string {
  return value === undefined ? '' : `(${JSON.stringify(String(value)).slice(0, 40)})`
}

function hint(name: string): string {
  const schema = (ConfigSchema.properties as Record<string, { anyOf?: { const?: unknown }[] }>)[name]
  const options = schema?.anyOf?.flatMap((s) => ('anyOf' in s ? (s as { anyOf: { const: unknown }[] }).anyOf : [s]))
  const values = options?.map((o) => o.const).filter((v) => v !== undefined)
  return values?.length ? `must be one of ${values.join(', ')}` : ''
}

function isAddressOrCidr(value: string): boolean {
  const [address = '', bits, ...rest] = value.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  return bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))
}
