// Development certificates: a local CA and a server certificate signed by it, made with
// node-forge. `npm run gen-certs -- [--dir certs] [--host name]...`; existing files are kept.
// Production installs use cert-manager or the company's own PKI (docs/operations.md).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import forge from 'node-forge'

const { values } = parseArgs({ options: { dir: { type: 'string', default: 'certs' }, host: { type: 'string', multiple: true }, force: { type: 'boolean', default: false } } })
const dir = values.dir!
const hosts = values.host?.length ? values.host : ['localhost', '127.0.0.1', '::1']
const files = { caCert: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem') }

if (!values.force && Object.values(files).every((f) => existsSync(f))) {
  console.log(`certificates already in ${dir}/ (use --force to replace)`)
  process.exit(0)
}
mkdirSync(dir, { recursive: true, mode: 0o700 })

function serial(): string {
  return '00' + forge.util.bytesToHex(forge.random.getBytesSync(16))
}

function certificate(opts: { subject: string; publicKey: forge.pki.PublicKey; signer: forge.pki.rsa.PrivateKey; issuer?: forge.pki.Certificate; days: number; extensions: object[] }) {
  const cert = forge.pki.createCertificate()
  cert.publicKey = opts.publicKey
  cert.serialNumber = serial()
  cert.validity.notBefore = new Date(Date.now() - 60_000)
  cert.validity.notAfter = new Date(Date.now() + opts.days * 86_400_000)
  const attrs = [{ name: 'commonName', value: opts.subject }, { name: 'organizationName', value: 'MobiVisor Messenger (development)' }]
  cert.setSubject(attrs)
  cert.setIssuer(opts.issuer ? opts.issuer.subject.attributes : attrs)
  cert.setExtensions(opts.extensions)
  cert.sign(opts.signer, forge.md.sha256.create())
  return cert
}

const caKeys = forge.pki.rsa.generateKeyPair({ bits: 3072 })
const ca = certificate({
  subject: 'MobiVisor Messenger development CA', publicKey: caKeys.publicKey, signer: caKeys.privateKey, days: 3650,
  extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }, { name: 'subjectKeyIdentifier' }],
})
const serverKeys = forge.pki.rsa.generateKeyPair({ bits: 2048 })
const server = certificate({
  subject: hosts[0]!, publicKey: serverKeys.publicKey, signer: caKeys.privateKey, issuer: ca, days: 397,
  extensions: [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: hosts.map((h) => (/^[0-9.]+$|:/.test(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
  ],
})
writeFileSync(files.caCert, forge.pki.certificateToPem(ca))
writeFileSync(files.caKey, forge.pki.privateKeyToPem(caKeys.privateKey), { mode: 0o600 })
writeFileSync(files.cert, forge.pki.certificateToPem(server))
writeFileSync(files.key, forge.pki.privateKeyToPem(serverKeys.privateKey), { mode: 0o600 })
console.log(`wrote ${files.caCert} (trust this in clients) and ${files.cert} for ${hosts.join(', ')}`)
