// Development certificates for TLS tests, made once per checkout by scripts/gen-certs.ts.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export const ROOT = new URL('../../', import.meta.url).pathname
export const CERT_DIR = join(ROOT, '.data', 'test-certs')

export function testCerts(): { ca: string; cert: string; key: string } {
  const files = { ca: join(CERT_DIR, 'ca.pem'), cert: join(CERT_DIR, 'server.pem'), key: join(CERT_DIR, 'server-key.pem') }
  if (!Object.values(files).every(existsSync)) {
    execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/gen-certs.ts'), '--dir', CERT_DIR], { cwd: ROOT, stdio: 'ignore' })
  }
  return files
}
