// The gateway's TLS: 1.2 and 1.3 only, forward-secret AEAD suites only, modern groups,
// no renegotiation. These are the SSL Labs A+ criteria that a server controls; HSTS is sent
// by the app on every response.
import { constants } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { SecureContextOptions, TlsOptions } from 'node:tls'

export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

export const HSTS = 'max-age=63072000; includeSubDomains'

/** Sent on every response: the API serves JSON only, so nothing may frame, sniff or embed it. */
export const SECURITY_HEADERS = {
  'strict-transport-security': HSTS,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
}

export function tlsOptions(certFile: string, keyFile: string): TlsOptions & SecureContextOptions {
  return {
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: TLS12_CIPHERS,
    ecdhCurve: 'X25519:P-256:P-384',
    honorCipherOrder: true,
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_COMPRESSION,
  }
}
