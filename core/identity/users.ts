// Users and their one-time enrollment tokens. Tokens are 32 random bytes shown once;
// only their SHA-256 is stored, so a database dump cannot enroll a device.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Prisma } from '../db/client.ts'
import { UsernameTaken, UserNotFound } from '../errors.ts'
import { checkUsername, usernameKey } from './usernames.ts'

export type UserStatus = 'invited' | 'active' | 'locked' | 'offboarded'

export interface UserView {
  id: string
  username: string
  displayName: string
  status: UserStatus
  createdAt: Date
  lastSeenAt: Date | null
  devices: number
}

export function hashToken(token: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(createHash('sha256').update(token, 'utf8').digest())
}

/** A new enrollment token: the token to show once, the hash to store, and when it expires. */
export function mintEnrollmentToken(ttlHours: number): { token: string; tokenHash: Uint8Array<ArrayBuffer>; expiresAt: Date } {
  const token = randomBytes(32).toString('base64url')
  return { token, tokenHash: hashToken(token), expiresAt: new Date(Date.now() + ttlHours * 3600_000) }
}

export function createUserService(deps: { prisma: Prisma; enrollmentTtlHours: number }) {
  const { prisma } = deps

  async function issueEnrollmentToken(userId: string): Promise<{ token: string; expiresAt: Date }> {
    const { token, tokenHash, expiresAt } = mintEnrollmentToken(deps.enrollmentTtlHours)
    await prisma.enrollmentToken.create({ data: { id: randomUUID(), userId, tokenHash, expiresAt } })
    return { token, expiresAt }
  }

  return {
    issueEnrollmentToken,

    async add(input: { username: string; displayName?: string }): Promise<{ user: UserView; token: string; expiresAt: Date }> {
      const username = checkUsername(input.username)
      const key = usernameKey(username)
      const displayName = (input.displayName ?? username).normalize('NFKC').slice(0, 128)
      try {
        const user = await prisma.user.create({ data: { id: randomUUID(), username, usernameKey: key, displayName } })
        const { token, expiresAt } = await issueEnrollmentToken(user.id)
        return { user: { ...user, devices: 0 }, token, expiresAt }
      } catch (err) {
        if ((err as { code?: string }).code === 'P2002') throw new UsernameTaken(username)
        throw err
      }
    },

    async reissue(username: string): Promise<{ token: string; expiresAt: Date }> {
      const user = await prisma.user.findUnique({ where: { usernameKey: usernameKey(username) } })
      if (!user) throw new UserNotFound()
      return issueEnrollmentToken(user.id)
    },

    async list(): Promise<UserView[]> {
      const users = await prisma.user.findMany({
        orderBy: { usernameKey: 'asc' },
        include: { _count: { select: { devices: { where: { state: 'active' } } } } },
      })
      return users.map(({ _count, ...u }) => ({ ...u, devices: _count.devices }))
    },

    async findByUsername(username: string) {
      return prisma.user.findUnique({ where: { usernameKey: usernameKey(username) } })
    },
  }
}

export type UserService = ReturnType<typeof createUserService>
