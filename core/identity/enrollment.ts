// Enrollment: a one-time token plus the device's public keys make a device.
// The token is consumed in the same transaction that creates the device, so it is single-use
// even when two requests race.
import { randomUUID } from 'node:crypto'
import type { Prisma } from '../db/client.ts'
import { DeviceKeyInUse, EnrollmentInvalid } from '../errors.ts'
import { hashToken } from './users.ts'

export interface EnrollInput {
  token: string
  x25519PublicKey: Uint8Array
  ed25519PublicKey: Uint8Array
  platform: string
  name?: string | undefined
}

export interface EnrolledDevice { deviceId: string; userId: string; username: string }

export function createEnrollmentService(deps: {
  prisma: Prisma
  mayEnroll?: (userId: string) => Promise<boolean>
  /** Told after a device was added, so that gateways stop using what they cached about the user. */
  onDevicesChanged?: (userId: string) => Promise<void>
}) {
  const { prisma } = deps
  return {
    async enroll(input: EnrollInput): Promise<EnrolledDevice> {
      const tokenHash = hashToken(input.token)
      try {
        const enrolled = await prisma.$transaction(async (tx) => {
          const now = new Date()
          // Conditional update: only one concurrent request can flip used_at.
          const used = await tx.enrollmentToken.updateMany({
            where: { tokenHash, usedAt: null, expiresAt: { gt: now }, user: { status: { in: ['invited', 'active'] } } },
            data: { usedAt: now },
          })
          if (used.count !== 1) throw new EnrollmentInvalid()
          const token = await tx.enrollmentToken.findUniqueOrThrow({ where: { tokenHash }, include: { user: true } })
          if (deps.mayEnroll && !(await deps.mayEnroll(token.userId))) throw new EnrollmentInvalid()
          const device = await tx.device.create({
            data: {
              id: randomUUID(),
              userId: token.userId,
              x25519PublicKey: Uint8Array.from(input.x25519PublicKey),
              ed25519PublicKey: Uint8Array.from(input.ed25519PublicKey),
              platform: input.platform,
              name: input.name ?? null,
            },
          })
          if (token.user.status === 'invited') await tx.user.update({ where: { id: token.userId }, data: { status: 'active' } })
          return { deviceId: device.id, userId: token.userId, username: token.user.username }
        })
        await deps.onDevicesChanged?.(enrolled.userId)
        return enrolled
      } catch (err) {
        if ((err as { code?: string }).code === 'P2002') throw new DeviceKeyInUse()
        throw err
      }
    },
  }
}

export type EnrollmentService = ReturnType<typeof createEnrollmentService>
