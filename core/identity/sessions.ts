// Device authentication: an Ed25519 challenge-response yields a short-lived opaque session token.
// Challenges and sessions live in Redis (rebuildable: a client simply authenticates again);
// only SHA-256 of a token is used as a key, so a Redis dump holds no usable token.
import { createHash, randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Prisma } from '../db/client.ts'
import { createNativeProvider } from '#sdk/crypto/index.ts'
import { AuthFailed } from '../errors.ts'

export const AUTH_CONTEXT = 'mobivisor-messenger/v1 auth'
const CHALLENGE_TTL_SECONDS = 60
const nativeCrypto = createNativeProvider()

export interface Session { deviceId: string; userId: string; expiresAt: number }

/** The exact bytes a device signs: context || 0x00 || deviceId || 0x00 || challenge. */
export function authMessage(deviceId: string, challenge: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(AUTH_CONTEXT, 'utf8'), Buffer.of(0), Buffer.from(deviceId, 'utf8'), Buffer.of(0), challenge])
}

/** The SDK's native Ed25519 check (it also refuses non-canonical signatures): one implementation for both sides. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return nativeCrypto.ed25519Verify(publicKey, message, signature)
}

const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex')
const challengeKey = (deviceId: string, challenge: string) => `mvm:challenge:${deviceId}:${challenge}`
const sessionKey = (token: string) => `mvm:session:${sha256hex(token)}`
const deviceSessionsKey = (deviceId: string) => `mvm:device-sessions:${deviceId}`

export function createSessionService(deps: { prisma: Prisma; redis: Redis; ttlSeconds: number; mayConnect?: (userId: string) => Promise<boolean> }) {
  const { prisma, redis } = deps

  /** Ends every session of these devices (all of a user's on lock and offboarding). */
  async function revokeDevices(deviceIds: string[]): Promise<void> {
    if (deviceIds.length === 0) return
    const members = await deviceIds.reduce((p, id) => p.smembers(deviceSessionsKey(id)), redis.pipeline()).exec()
    const pipeline = redis.pipeline()
    for (const [, hashes] of members ?? []) for (const h of (hashes as string[] | null) ?? []) pipeline.del(`mvm:session:${h}`)
    for (const id of deviceIds) pipeline.del(deviceSessionsKey(id))
    await pipeline.exec()
  }

  return {
    async challenge(deviceId: string): Promise<{ challenge: string; expiresIn: number }> {
      // Only enrolled, active devices get a challenge, so the endpoint cannot fill Redis.
      const device = await prisma.device.findUnique({ where: { id: deviceId }, select: { state: true } })
      if (!device || device.state !== 'active') throw new AuthFailed()
      const challenge = randomBytes(32).toString('base64')
      await redis.set(challengeKey(deviceId, challenge), '1', 'EX', CHALLENGE_TTL_SECONDS)
      return { challenge, expiresIn: CHALLENGE_TTL_SECONDS }
    },

    /** `onRejected` hears of failures after a valid challenge (an unknown challenge is not worth a record). */
    async open(deviceId: string, challenge: string, signature: Uint8Array, hooks: { onRejected?: (reason: 'inactive' | 'signature' | 'not_whitelisted') => Promise<void> } = {}): Promise<{ token: string; expiresAt: Date; session: Session }> {
      // GETDEL makes each challenge single-use.
      const fresh = await redis.getdel(challengeKey(deviceId, challenge))
      if (!fresh) throw new AuthFailed()
      const reject = async (reason: 'inactive' | 'signature' | 'not_whitelisted'): Promise<never> => {
        await hooks.onRejected?.(reason)
        throw new AuthFailed()
      }
      const device = await prisma.device.findUnique({ where: { id: deviceId }, include: { user: { select: { status: true } } } })
      if (!device || device.state !== 'active' || device.user.status !== 'active') return reject('inactive')
      if (!verifyEd25519(device.ed25519PublicKey, authMessage(deviceId, Buffer.from(challenge, 'base64')), signature)) return reject('signature')
      // DESIGN §6: only whitelisted users may connect.
      if (deps.mayConnect && !(await deps.mayConnect(device.userId))) return reject('not_whitelisted')
      const token = randomBytes(32).toString('base64url')
      const expiresAt = Date.now() + deps.ttlSeconds * 1000
      const session: Session = { deviceId, userId: device.userId, expiresAt }
      await redis.multi()
        .set(sessionKey(token), JSON.stringify(session), 'EX', deps.ttlSeconds)
        .sadd(deviceSessionsKey(deviceId), sha256hex(token))
        .expire(deviceSessionsKey(deviceId), deps.ttlSeconds)
        .exec()
      // Conditional, so a lock or revocation that committed while this ran is not outlived by the
      // new session: either that revocation finds the token in the set, or this finds the change.
      const now = new Date()
      const still = await prisma.device.updateMany({ where: { id: deviceId, state: 'active', user: { status: 'active' } }, data: { lastSeenAt: now } })
      if (still.count !== 1) {
        await redis.del(sessionKey(token))
        throw new AuthFailed()
      }
      // A user is last seen when any of their devices last signed in (the "last seen" filters).
      await prisma.user.update({ where: { id: device.userId }, data: { lastSeenAt: now } })
      return { token, expiresAt: new Date(expiresAt), session }
    },

    async verify(token: string): Promise<Session> {
      if (token.length < 16 || token.length > 128) throw new AuthFailed()
      const raw = await redis.get(sessionKey(token))
      if (!raw) throw new AuthFailed()
      return JSON.parse(raw) as Session
    },

    /** Ends every session of a device (revocation, lock). */
    revokeDevice: (deviceId: string) => revokeDevices([deviceId]),
    revokeDevices,

    /**
     * The sessions still alive per device (for administrators: never the tokens), soonest to
     * expire first. The per-device set may still name sessions that have expired; those are skipped.
     */
    async liveSessions(deviceIds: string[]): Promise<Map<string, { expiresAt: Date }[]>> {
      const out = new Map<string, { expiresAt: Date }[]>(deviceIds.map((id) => [id, []]))
      if (deviceIds.length === 0) return out
      const members = await deviceIds.reduce((p, id) => p.smembers(deviceSessionsKey(id)), redis.pipeline()).exec()
      const keys: { deviceId: string; key: string }[] = []
      members?.forEach(([, hashes], i) => { for (const h of (hashes as string[] | null) ?? []) keys.push({ deviceId: deviceIds[i]!, key: `mvm:session:${h}` }) })
      if (keys.length === 0) return out
      const values = await redis.mget(keys.map((k) => k.key))
      values.forEach((raw, i) => {
        if (!raw) return
        const session = JSON.parse(raw) as Session
        out.get(keys[i]!.deviceId)!.push({ expiresAt: new Date(session.expiresAt) })
      })
      for (const list of out.values()) list.sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime())
      return out
    },
  }
}

export type SessionService = ReturnType<typeof createSessionService>
