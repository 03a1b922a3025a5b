import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import {
  CryptoError, associatedData, boxFromBytes, boxFromWire, boxToBytes, boxToWire, bytesToHex, contentKeys,
  createNativeProvider, defaultProvider, hexToBytes, open, openMessage, pairwiseKeys, pureProvider, seal,
  sealMessage, type CryptoProvider, type SealedBox,
} from '#sdk/crypto/index.ts'

const kat = JSON.parse(readFileSync(new URL('./fixtures/known-answer.json', import.meta.url), 'utf8'))
const docs = readFileSync(new URL('../../docs/crypto.md', import.meta.url), 'utf8')
const providers: CryptoProvider[] = [createNativeProvider(), pureProvider]
const h = hexToBytes
const hexBox = (box: SealedBox) => ({ iv: bytesToHex(box.iv), ct: bytesToHex(box.ct), mac: bytesToHex(box.mac) })
const fromHexBox = (box: { iv: string; ct: string; mac: string }): SealedBox => ({ iv: h(box.iv), ct: h(box.ct), mac: h(box.mac) })
const m = kat.message

/** Every rejection must be indistinguishable: same class, message and code, nothing else attached. */
function rejects(t: Test, fn: () => unknown, what: string) {
  try {
    fn()
    t.fail(`${what}: accepted`)
  } catch (err) {
    const ok = err instanceof CryptoError && err.message === 'message rejected' && err.code === 'MVM_CRYPTO_REJECTED' &&
      err.cause === undefined && Object.keys(err).sort().join() === 'code,name'
    t.ok(ok, `${what}: the generic CryptoError`)
  }
}

/** A provider whose "random" bytes are scripted, to make sealMessage deterministic. */
function scripted(p: CryptoProvider, chunks: Uint8Array[]): CryptoProvider {
  const queue = [...chunks]
  return { ...p, randomBytes: (n) => {
    const next = queue.shift()
    if (!next || next.length !== n) throw new Error(`unexpected randomBytes(${n})`)
    return next
  } }
}

function katInput(p: CryptoProvider) {
  return {
    senderDeviceId: m.sender.deviceId as string,
    senderPrivateKey: h(m.sender.x25519PrivateKey),
    messageId: m.messageId as string,
    recipientUserId: m.recipientUserId as string,
    plaintext: h(m.plaintext),
    recipients: m.recipients.map((r: { deviceId: string; x25519PublicKey: string }) => ({ deviceId: r.deviceId, x25519PublicKey: h(r.x25519PublicKey) })),
    provider: scripted(p, [h(m.contentKey), h(m.bodyIv), ...m.keys.map((k: { iv: string }) => h(k.iv))]),
  }
}

for (const p of providers) {
  t.test(`${p.name}: reproduces every known-answer value`, async (t) => {
    for (const r of [m.sender, ...m.recipients]) {
      t.equal(bytesToHex(p.x25519KeyPair(h(r.x25519PrivateKey)).publicKey), r.x25519PublicKey, `public key of ${r.deviceId}`)
    }
    const ck = contentKeys(p, h(m.contentKey))
    t.same({ encKey: bytesToHex(ck.encKey), macKey: bytesToHex(ck.macKey) }, m.content, 'content keys')
    const bodyAd = associatedData({ purpose: 'body', senderDeviceId: m.sender.deviceId, recipient: m.recipientUserId, messageId: m.messageId })
    t.equal(bytesToHex(bodyAd), m.bodyAd, 'body AD')
    const body = seal(p, ck, bodyAd, h(m.plaintext), h(m.bodyIv))
    t.same(hexBox(body), m.body, 'body box')
    t.same(boxToWire(body), m.bodyWire, 'body box, wire encoding')
    t.equal(bytesToHex(boxToBytes(body)), m.bodyBytes, 'body box, binary encoding')

    for (const [i, k] of m.keys.entries()) {
      const recipient = m.recipients[i]
      t.equal(bytesToHex(p.x25519(h(m.sender.x25519PrivateKey), h(recipient.x25519PublicKey))), k.sharedSecret, `shared secret ${k.deviceId}`)
      t.equal(bytesToHex(p.x25519(h(recipient.x25519PrivateKey), h(m.sender.x25519PublicKey))), k.sharedSecret, `shared secret ${k.deviceId}, other side`)
      const pk = pairwiseKeys(p, h(m.sender.x25519PrivateKey), h(recipient.x25519PublicKey))
      t.same({ encKey: bytesToHex(pk.encKey), macKey: bytesToHex(pk.macKey) }, { encKey: k.encKey, macKey: k.macKey }, `pairwise keys ${k.deviceId}`)
      const ad = associatedData({ purpose: 'key', senderDeviceId: m.sender.deviceId, recipient: k.deviceId, messageId: m.messageId })
      t.equal(bytesToHex(ad), k.ad, `key AD ${k.deviceId}`)
      t.same(hexBox(seal(p, pk, ad, h(m.contentKey), h(k.iv))), k.box, `key box ${k.deviceId}`)
    }

    for (const e of kat.associatedData) t.equal(bytesToHex(associatedData(e)), e.hex, `AD example ${e.recipient}`)
  })

  t.test(`${p.name}: sealMessage with the known-answer randomness gives the known-answer boxes, and every recipient opens it`, async (t) => {
    const { provider, ...input } = katInput(p)
    const sealed = sealMessage(provider, input)
    t.same(hexBox(sealed.body), m.body)
    t.same(sealed.keys.map((k) => ({ deviceId: k.deviceId, box: hexBox(k.key) })), m.keys.map((k: { deviceId: string; box: unknown }) => ({ deviceId: k.deviceId, box: k.box })))
    for (const [i, r] of m.recipients.entries()) {
      const plaintext = openMessage(p, {
        myDeviceId: r.deviceId, myPrivateKey: h(r.x25519PrivateKey), senderDeviceId: m.sender.deviceId,
        senderX25519PublicKey: h(m.sender.x25519PublicKey), messageId: m.messageId, recipientUserId: m.recipientUserId,
        body: fromHexBox(m.body), key: fromHexBox(m.keys[i].box),
      })
      t.equal(bytesToHex(plaintext), m.plaintext, `${r.deviceId} reads the plaintext`)
    }
  })
}

t.test('native and pure give identical bytes for the whole construction', async (t) => {
  const [native, pure] = providers as [CryptoProvider, CryptoProvider]
  const seed = (byte: number) => new Uint8Array(32).fill(byte)
  const chunks = () => [seed(0x42), new Uint8Array(16).fill(1), new Uint8Array(16).fill(2), new Uint8Array(16).fill(3)]
  const input = (p: CryptoProvider) => ({
    senderDeviceId: 'dev-a', senderPrivateKey: seed(1), messageId: 'msg-1', recipientUserId: 'user-b',
    plaintext: new TextEncoder().encode('x'.repeat(1000)),
    recipients: [{ deviceId: 'dev-b1', x25519PublicKey: p.x25519KeyPair(seed(2)).publicKey }, { deviceId: 'dev-b2', x25519PublicKey: p.x25519KeyPair(seed(3)).publicKey }],
  })
  t.same(sealMessage(scripted(pure, chunks()), input(pure)), sealMessage(scripted(native, chunks()), input(native)))
  t.same(pure.ed25519KeyPair(seed(9)), native.ed25519KeyPair(seed(9)), 'Ed25519 key pairs')
  t.same(pure.ed25519Sign(seed(9), seed(7)), native.ed25519Sign(seed(9), seed(7)), 'Ed25519 signatures')
})

t.test('the known-answer vectors are all written in docs/crypto.md', async (t) => {
  const hexes = new Set<string>()
  const collect = (v: unknown) => {
    if (typeof v === 'string' && (/^[0-9a-f]{16,}$/.test(v) || /^[A-Za-z0-9+/]{14,}={0,2}$/.test(v))) hexes.add(v)
    else if (v && typeof v === 'object') Object.values(v).forEach(collect)
  }
  collect({ ...kat, description: undefined })
  t.ok(hexes.size > 40, `${hexes.size} values`)
  for (const hex of hexes) t.ok(docs.includes(hex), `docs/crypto.md has ${hex.slice(0, 24)}…`)
})

for (const p of providers) {
  const alice = p.x25519KeyPair()
  const bob = p.x25519KeyPair()
  const base = () => {
    const sealed = sealMessage(p, {
      senderDeviceId: 'alice-1', senderPrivateKey: alice.privateKey, messageId: 'm-1', recipientUserId: 'bob',
      plaintext: new TextEncoder().encode('hello bob'), recipients: [{ deviceId: 'bob-1', x25519PublicKey: bob.publicKey }],
    })
    return {
      myDeviceId: 'bob-1', myPrivateKey: bob.privateKey, senderDeviceId: 'alice-1', senderX25519PublicKey: alice.publicKey,
      messageId: 'm-1', recipientUserId: 'bob', body: sealed.body, key: sealed.keys[0]!.key,
    }
  }

  t.test(`${p.name}: a message round-trips`, async (t) => {
    t.equal(new TextDecoder().decode(openMessage(p, base())), 'hello bob')
    const sealed = base()
    t.not(bytesToHex(sealed.body.iv), bytesToHex(base().body.iv), 'fresh IVs')
  })

  t.test(`${p.name}: any flipped bit or changed AD field gives the same CryptoError`, async (t) => {
    const flip = (bytes: Uint8Array, i: number) => {
      const out = bytes.slice()
      out[i % out.length]! ^= 0x01
      return out
    }
    for (const boxName of ['body', 'key'] as const) {
      for (const field of ['iv', 'ct', 'mac'] as const) {
        for (const i of [0, 15, 31]) {
          const input = base()
          input[boxName] = { ...input[boxName], [field]: flip(input[boxName][field], i) }
          rejects(t, () => openMessage(p, input), `${boxName}.${field} bit ${i}`)
        }
      }
    }
    rejects(t, () => openMessage(p, { ...base(), senderDeviceId: 'alice-2' }), 'other sender device')
    rejects(t, () => openMessage(p, { ...base(), recipientUserId: 'bobby' }), 'other recipient user')
    rejects(t, () => openMessage(p, { ...base(), myDeviceId: 'bob-2' }), 'other recipient device')
    rejects(t, () => openMessage(p, { ...base(), messageId: 'm-2' }), 'other message id')
    rejects(t, () => { const b = base(); return openMessage(p, { ...b, body: b.key, key: b.body }) }, 'boxes swapped')

    // Each AD field on its own, at the box level, including the purpose byte.
    const keys = contentKeys(p, p.randomBytes(32))
    const fields = { purpose: 'body' as const, senderDeviceId: 's', recipient: 'r', messageId: 'm' }
    const box = seal(p, keys, associatedData(fields), new Uint8Array(20))
    t.equal(open(p, keys, associatedData(fields), box).length, 20, 'opens with the right AD')
    rejects(t, () => open(p, keys, associatedData({ ...fields, purpose: 'key' }), box), 'purpose')
    rejects(t, () => open(p, keys, associatedData({ ...fields, senderDeviceId: 's2' }), box), 'sender')
    rejects(t, () => open(p, keys, associatedData({ ...fields, recipient: 'r2' }), box), 'recipient')
    rejects(t, () => open(p, keys, associatedData({ ...fields, messageId: 'm2' }), box), 'message id')
    rejects(t, () => open(p, { ...keys, macKey: flip(keys.macKey, 3) }, associatedData(fields), box), 'wrong MAC key')
  })

  t.test(`${p.name}: an empty ciphertext or one not a multiple of 16 gives CryptoError, even with a valid MAC`, async (t) => {
    const keys = contentKeys(p, p.randomBytes(32))
    const ad = associatedData({ purpose: 'body', senderDeviceId: 's', recipient: 'r', messageId: 'm' })
    const iv = p.randomBytes(16)
    for (const ct of [new Uint8Array(0), new Uint8Array(15), new Uint8Array(17), new Uint8Array(33)]) {
      const mac = p.hmacSha256(keys.macKey, new Uint8Array([...ad, ...iv, ...ct]))
      rejects(t, () => open(p, keys, ad, { iv, ct, mac }), `ct of ${ct.length} bytes`)
    }
    const good = seal(p, keys, ad, new Uint8Array(3))
    rejects(t, () => open(p, keys, ad, { ...good, iv: good.iv.subarray(0, 15) }), 'iv of 15 bytes')
    rejects(t, () => open(p, keys, ad, { ...good, mac: good.mac.subarray(0, 16) }), 'truncated mac')
    // A correct MAC over a ciphertext with bad padding: still the one error.
    const ct = p.aesCbcEncrypt(keys.encKey, iv, new Uint8Array(16)).subarray(0, 16)
    rejects(t, () => open(p, keys, ad, { iv, ct, mac: p.hmacSha256(keys.macKey, new Uint8Array([...ad, ...iv, ...ct])) }), 'bad padding under a valid MAC')
  })

  t.test(`${p.name}: low-order peer public keys give CryptoError`, async (t) => {
    const lowOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880', // high bit set: masked, same point
    ]
    for (const hex of lowOrder) {
      rejects(t, () => p.x25519(alice.privateKey, h(hex)), `x25519 with ${hex.slice(0, 8)}`)
      rejects(t, () => pairwiseKeys(p, alice.privateKey, h(hex)), `pairwiseKeys with ${hex.slice(0, 8)}`)
      rejects(t, () => sealMessage(p, {
        senderDeviceId: 'a', senderPrivateKey: alice.privateKey, messageId: 'm', recipientUserId: 'b',
        plaintext: new Uint8Array(1), recipients: [{ deviceId: 'b1', x25519PublicKey: h(hex) }],
      }), `sealMessage to ${hex.slice(0, 8)}`)
      rejects(t, () => openMessage(p, { ...base(), senderX25519PublicKey: h(hex) }), `openMessage from ${hex.slice(0, 8)}`)
    }
  })

  t.test(`${p.name}: a message from my own device (reflection) gives CryptoError`, async (t) => {
    // Alice seals for her own device id; opening it as that device is refused even though the MACs are valid.
    const sealed = sealMessage(p, {
      senderDeviceId: 'alice-1', senderPrivateKey: alice.privateKey, messageId: 'm-1', recipientUserId: 'alice',
      plaintext: new Uint8Array(5), recipients: [{ deviceId: 'alice-1', x25519PublicKey: alice.publicKey }],
    })
    rejects(t, () => openMessage(p, {
      myDeviceId: 'alice-1', myPrivateKey: alice.privateKey, senderDeviceId: 'alice-1', senderX25519PublicKey: alice.publicKey,
      messageId: 'm-1', recipientUserId: 'alice', body: sealed.body, key: sealed.keys[0]!.key,
    }), 'reflected message')
  })

  t.test(`${p.name}: Ed25519 verify rejects S >= L and malformed input without throwing`, async (t) => {
    const keys = p.ed25519KeyPair()
    const msg = new TextEncoder().encode('enrol')
    const sig = p.ed25519Sign(keys.privateKey, msg)
    t.ok(p.ed25519Verify(keys.publicKey, msg, sig), 'a good signature verifies')
    // S + L is the same scalar mod L: accepted by a verifier that skips the range check.
    const L = h('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010')
    const malleable = sig.slice()
    let carry = 0
    for (let i = 0; i < 32; i++) {
      const sum = malleable[32 + i]! + L[i]! + carry
      malleable[32 + i] = sum & 0xff
      carry = sum >> 8
    }
    t.equal(carry, 0)
    t.notOk(p.ed25519Verify(keys.publicKey, msg, malleable), 'S + L rejected')
    const bad: unknown[][] = [
      [keys.publicKey.subarray(0, 31), msg, sig], [keys.publicKey, msg, sig.subarray(0, 63)], [keys.publicKey, msg, new Uint8Array(65)],
      [null, msg, sig], [keys.publicKey, 'enrol', sig], [keys.publicKey, msg, undefined], [new Uint8Array(32).fill(0xff), msg, sig],
    ]
    for (const args of bad) t.equal((p.ed25519Verify as (...a: unknown[]) => boolean)(...args), false)
  })

  t.test(`${p.name}: HKDF refuses more than 255*32 bytes`, async (t) => {
    t.equal(p.hkdfSha256(new Uint8Array(1), new Uint8Array(0), new Uint8Array(0), 8160).length, 8160)
    rejects(t, () => p.hkdfSha256(new Uint8Array(1), new Uint8Array(0), new Uint8Array(0), 8161), 'length 8161')
  })
}

t.test('box encodings round-trip and reject malformed input', async (t) => {
  const box = fromHexBox(m.body)
  t.same(boxFromWire(boxToWire(box)), box)
  t.same(boxFromBytes(boxToBytes(box)), box)
  t.same(boxFromWire(m.bodyWire), box, 'the documented wire form decodes')
  const wire = boxToWire(box)
  const badWire: unknown[] = [
    null, 'x', [], { ...wire, iv: undefined }, { ...wire, mac: 5 },
    { ...wire, iv: wire.iv.replace(/=+$/, '') }, // missing padding
    { ...wire, ct: `${wire.ct.slice(0, -1)}!` }, { ...wire, ct: wire.ct.replace(/\+/g, '-') }, // URL alphabet
    { ...wire, ct: ` ${wire.ct}` }, { ...wire, iv: 'AAECAwQFBgcICQoLDA0ODx==' }, // non-zero pad bits
    { ...wire, iv: 'AAECAwQFBgcICQoLDA0O' }, // 15 bytes
    { ...wire, mac: wire.iv }, { ...wire, ct: '' }, { ...wire, ct: 'AAAA' }, { ...wire, ct: 'A=A=' },
  ]
  for (const [i, w] of badWire.entries()) rejects(t, () => boxFromWire(w), `wire case ${i}`)
  const bytes = boxToBytes(box)
  for (const n of [0, 48, 63, 64 + 15, bytes.length - 1]) rejects(t, () => boxFromBytes(bytes.subarray(0, n)), `${n} bytes`)
})

t.test('associatedData refuses ids that cannot be encoded unambiguously', async (t) => {
  const fields = { purpose: 'body' as const, senderDeviceId: 's', recipient: 'r', messageId: 'm' }
  t.equal(associatedData({ ...fields, messageId: 'x'.repeat(65535) }).length, 4 + 1 + 3 + 3 + 2 + 65535)
  rejects(t, () => associatedData({ ...fields, messageId: 'x'.repeat(65536) }), 'id over 65535 bytes')
  rejects(t, () => associatedData({ ...fields, recipient: 'a\ud800b' }), 'lone surrogate')
  rejects(t, () => associatedData({ ...fields, purpose: 'other' as 'body' }), 'unknown purpose')
})

t.test('defaultProvider is native on Node', async (t) => {
  t.equal(defaultProvider().name, 'native')
  t.equal(defaultProvider(), defaultProvider())
})
