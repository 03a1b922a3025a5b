// MVM_TRUSTED_PROXIES: only the named proxies' X-Forwarded-For names the client (audit source IP,
// per-address throttling); anyone else's header is ignored. Bad values are refused at start.
import tap from 'tap'
const t = tap
import { loadConfig } from '#core/config.ts'
import { build } from './helper.ts'

const env = { DATABASE_URL: 'postgres://x/y', REDIS_URL: 'redis://x', MVM_TLS: 'off' }

async function failedLoginSourceIp(t: Pick<typeof tap, 'equal' | 'teardown'>, proxies: string | null): Promise<string> {
  const { app } = await build(t, proxies ? { MVM_TRUSTED_PROXIES: proxies } : {})
  const res = await app.inject({ method: 'POST', url: '/admin/v1/login', headers: { 'x-forwarded-for': '203.0.113.7' }, payload: { username: 'nobody', password: 'not the password' } })
  t.equal(res.statusCode, 401)
  const { rows } = await app.services.db.pool.query("SELECT source_ip FROM audit_entries WHERE action = 'admin.login_failed'")
  return rows[0].source_ip
}

t.test('a trusted proxy names the client; an untrusted one does not', async (t) => {
  t.equal(await failedLoginSourceIp(t, '127.0.0.1,10.0.0.0/8'), '203.0.113.7', 'through a trusted proxy: the forwarded client')
  t.equal(await failedLoginSourceIp(t, '10.0.0.0/8'), '127.0.0.1', 'from an address not on the list: the header is ignored')
  t.equal(await failedLoginSourceIp(t, null), '127.0.0.1', 'unset: the header is ignored')
})

t.test('bad values are refused, naming the variable', async (t) => {
  t.equal(loadConfig({ ...env, MVM_TRUSTED_PROXIES: '10.0.0.0/8,::1,192.168.1.1' }).MVM_TRUSTED_PROXIES, '10.0.0.0/8,::1,192.168.1.1')
  for (const bad of ['10.0.0.0/33', '999.1.1.1', '10.0.0.1/8/2', 'proxy.example', '10.0.0.1,,10.0.0.2', '::1/129']) {
    t.throws(() => loadConfig({ ...env, MVM_TRUSTED_PROXIES: bad }), /MVM_TRUSTED_PROXIES/, bad)
  }
})
