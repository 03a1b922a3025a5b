// A user's activity for administrators (GET /admin/v1/users/:id/activity): their devices with the
// sessions still alive in Redis, the devices' refused sign-ins, messages per UTC day (counts only,
// never content: message_counts) and the latest audit entries about them.
import type pg from 'pg'
import type { AuditQueries, FailedAuthentication } from '../audit/queries.ts'
import type { ExportedEntry } from '../audit/export-format.ts'
import type { SessionService } from '../identity/sessions.ts'
import type { AdminUserView, DeviceView, UserAdmin } from './users.ts'

export const MAX_ACTIVITY_DAYS = 366
const LATEST_ENTRIES = 100

export interface DayCount { day: string; sent: number; received: number }

export interface UserActivity {
  user: AdminUserView
  devices: (DeviceView & { sessions: { expiresAt: string }[] })[]
  failedAuthentications: FailedAuthentication[]
  /** every UTC day of the period, oldest first; days without messages are 0/0 */
  messagesPerDay: DayCount[]
  audit: ExportedEntry[]
}

// The last `days` UTC days, today included, each with its counts (0 where nothing was counted).
const PER_DAY = `
SELECT to_char(d.day, 'YYYY-MM-DD') AS day, COALESCE(m.sent, 0) AS sent, COALESCE(m.received, 0) AS received
FROM generate_series((now() AT TIME ZONE 'UTC')::date - ($2::int - 1), (now() AT TIME ZONE 'UTC')::date, interval '1 day') AS d(day)
LEFT JOIN message_counts m ON m.user_id = $1 AND m.day = d.day::date
ORDER BY d.day`

export function createActivity(deps: {
  pool: pg.Pool
  users: Pick<UserAdmin, 'get'>
  sessions: Pick<SessionService, 'liveSessions'>
  audit: Pick<AuditQueries, 'about' | 'failedDeviceAuthentications'>
}) {
  return {
    /** Throws UserNotFound for an unknown id. `days` is 1..366. */
    async of(userId: string, days: number): Promise<UserActivity> {
      if (!Number.isInteger(days) || days < 1 || days > MAX_ACTIVITY_DAYS) throw new RangeError(`days must be 1..${MAX_ACTIVITY_DAYS}`)
      const { deviceList, ...user } = await deps.users.get(userId)
      const deviceIds = deviceList.map((d) => d.id)
      const [sessions, perDay, audit] = await Promise.all([
        deps.sessions.liveSessions(deviceIds),
        deps.pool.query<DayCount>(PER_DAY, [userId, days]),
        deps.audit.about(userId, deviceIds, LATEST_ENTRIES),
      ])
      const messagesPerDay = perDay.rows
      const since = new Date(`${messagesPerDay[0]!.day}T00:00:00.000Z`)
      return {
        user,
        devices: deviceList.map((d) => ({ ...d, sessions: (sessions.get(d.id) ?? []).map((s) => ({ expiresAt: s.expiresAt.toISOString() })) })),
        failedAuthentications: await deps.audit.failedDeviceAuthentications(deviceIds, since, LATEST_ENTRIES),
        messagesPerDay,
        audit,
      }
    },
  }
}

export type Activity = ReturnType<typeof createActivity>
