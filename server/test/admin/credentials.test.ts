// The primitives under administrator sign-in: TOTP against RFC 4226 and RFC 6238's published test
// vectors, base32 against RFC 4648's, and the scrypt password format.
import t from 'tap'
import { base32Decode, base32Encode, generateTotpSecret, hotp, matchTotp, otpauthUri, totp } from '#core/admin/totp.ts'
import { checkPasswordStrength, generatePassword, hashPassword, verifyPassword } from '#core/admin/passwords.ts'

t.test('RFC 4648 §10 base32 vectors, both ways', async (t) => {
  const vectors: [string, string][] = [['', ''], ['f', 'MY'], ['fo', 'MZXQ'], ['foo', 'MZXW6'], ['foob', 'MZXW6YQ'], ['fooba', 'MZXW6YTB'], ['foobar', 'MZXW6YTBOI']]
  for (const [plain, encoded] of vectors) {
    t.equal(base32Encode(Buffer.from(plain)), encoded, `encode "${plain}"`)
    t.equal(base32Decode(encoded).toString(), plain, `decode ${encoded}`)
    t.equal(base32Decode(`${encoded.toLowerCase()}${'='.repeat((8 - (encoded.length % 8)) % 8)}`).toString(), plain, `decode ${encoded} padded, lower case`)
  }
  t.throws(() => base32Decode('MZ1W'), /not base32/, '1 is not in the alphabet')
  const secret = generateTotpSecret()
  t.match(secret, /^[A-Z2-7]{32}$/, 'a secret is 20 bytes as 32 base32 characters')
  t.equal(base32Decode(secret).length, 20)
})

t.test('RFC 4226 appendix D: HOTP values for counters 0-9', async (t) => {
  const secret = Buffer.from('12345678901234567890')
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489']
  expected.forEach((code, counter) => t.equal(hotp(secret, BigInt(counter)), code, `counter ${counter}`))
})

t.test('RFC 6238 appendix B: TOTP values (8 digits) for SHA-1, SHA-256 and SHA-512', async (t) => {
  const seeds = {
    sha1: Buffer.from('12345678901234567890'),
    sha256: Buffer.from('12345678901234567890123456789012'),
    sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
  }
  const table: [number, string, string, string][] = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ]
  for (const [time, sha1, sha256, sha512] of table) {
    t.equal(totp(seeds.sha1, time, 8), sha1, `SHA-1 at ${time}`)
    t.equal(totp(seeds.sha256, time, 8, 'sha256'), sha256, `SHA-256 at ${time}`)
    t.equal(totp(seeds.sha512, time, 8, 'sha512'), sha512, `SHA-512 at ${time}`)
    // 6 digits are the last 6 of the same truncated value
    t.equal(totp(seeds.sha1, time), sha1.slice(2), `SHA-1 at ${time}, 6 digits`)
  }
})

t.test('a code is accepted one step early or late, not two', async (t) => {
  const secretB32 = base32Encode(Buffer.from('12345678901234567890'))
  const secret = base32Decode(secretB32)
  const now = 1_111_111_111
  t.equal(matchTotp(secretB32, totp(secret, now), now), BigInt(Math.floor(now / 30)), 'current step')
  t.equal(matchTotp(secretB32, totp(secret, now - 30), now), BigInt(Math.floor(now / 30) - 1), 'previous step')
  t.equal(matchTotp(secretB32, totp(secret, now + 30), now), BigInt(Math.floor(now / 30) + 1), 'next step')
  t.equal(matchTotp(secretB32, totp(secret, now - 60), now), undefined, 'two steps ago')
  t.equal(matchTotp(secretB32, totp(secret, now + 60), now), undefined, 'two steps ahead')
  for (const bad of ['', '12345', '1234567', '12345a', ' 123456']) t.equal(matchTotp(secretB32, bad, now), undefined, `"${bad}" is not a code`)
})

t.test('the otpauth URI names issuer, account, secret and parameters', async (t) => {
  const uri = new URL(otpauthUri('JBSWY3DPEHPK3PXP', 'ann.admin'))
  t.equal(uri.protocol, 'otpauth:')
  t.equal(uri.host, 'totp')
  t.equal(decodeURIComponent(uri.pathname), '/MobiVisor Messenger:ann.admin')
  t.same(Object.fromEntries(uri.searchParams), { secret: 'JBSWY3DPEHPK3PXP', issuer: 'MobiVisor Messenger', algorithm: 'SHA1', digits: '6', period: '30' })
})

t.test('passwords: scrypt N=2^15 r=8 p=1 with salt, verified in constant time, at least 12 characters', async (t) => {
  const hash = await hashPassword('correct horse battery')
  t.match(hash, /^\$scrypt\$n=32768,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/, 'the encoding carries N, r, p, salt and hash')
  t.ok(await verifyPassword('correct horse battery', hash))
  t.notOk(await verifyPassword('correct horse batterY', hash))
  t.not(await hashPassword('correct horse battery'), hash, 'a fresh salt each time')
  // The parameters come from the stored value, so raising the cost later keeps old hashes working.
  const cheaper = '$scrypt$n=1024,r=8,p=1$' + hash.split('$')[3] + '$' + hash.split('$')[4]
  t.notOk(await verifyPassword('correct horse battery', cheaper), 'other parameters give another key')
  for (const bad of ['', 'plain', '$scrypt$n=33,r=8,p=1$AAAA$AAAA', '$scrypt$n=4194304,r=8,p=1$c2FsdHNhbHRzYWx0$' + 'A'.repeat(43)]) {
    t.notOk(await verifyPassword('x', bad), `refuses ${bad.slice(0, 30) || 'empty'} without throwing`)
  }
  t.throws(() => checkPasswordStrength('elevenchars'), { code: 'MVM_ADMIN_PASSWORD_WEAK' })
  t.doesNotThrow(() => checkPasswordStrength('twelve chars'))
  t.doesNotThrow(() => checkPasswordStrength('ääääääääääää'), 'characters, not bytes')
  await t.rejects(hashPassword('short'), { code: 'MVM_ADMIN_PASSWORD_WEAK' })
  t.match(generatePassword(), /^[A-Za-z0-9_-]{24}$/)
})
