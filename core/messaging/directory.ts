// Key directory: the public keys of the devices a caller may address. An invited user is listed
// with no devices (they have not enrolled yet); a locked or offboarded one is reported as not
// found, so the directory cannot be used to tell those states apart.
import type pg from 'pg'
import { usernameKey } from '../identity/usernames.ts'
import { DeviceNotFound, UserNotFound } from '../errors.ts'
import type { ExchangePolicy } from './envelopes.ts'

export interface DirectoryDevice { id: string; x25519PublicKey: string; ed25519PublicKey: string; platform: string; state: string }
export interface DirectoryEntry { userId: string; username: string; displayName: string; devices: DirectoryDevice[] }

type Row = { user_id: string; username: string; display_name: string; status: string; id: string | null; x25519_public_key: Buffer | null; ed25519_public_key: Buffer | null; platform: string | null; state: string | null }

const SELECT = `
SELECT u.id AS user_id, u.username, u.display_name, u.status, d.id, d.x25519_public_key, d.ed25519_public_key, d.platform, d.state
FROM users u LEFT JOIN devices d ON d.user_id = u.id AND d.state = 'active'`

export function createDirectoryService(deps: { pool: pg.Pool; mayExchange?: ExchangePolicy }) {
  async function entry(callerUserId: string, rows: Row[]): Promise<DirectoryEntry> {
    const first = rows[0]
    if (!first || (first.status !== 'active' && first.status !== 'invited' && first.user_id !== callerUserId)) throw new UserNotFound()
    if (first.user_id !== callerUserId && deps.mayExchange && !(await deps.mayExchange(callerUserId, first.user_id))) throw new UserNotFound()
    return {
      userId: first.user_id,
      username: first.username,
      displayName: first.display_name,
      devices: rows.filter((r) => r.id).map((r) => ({
        id: r.id!,
        x25519PublicKey: r.x25519_public_key!.toString('base64'),
        ed25519PublicKey: r.ed25519_public_key!.toString('base64'),
        platform: r.platform!,
        state: r.state!,
      })),
    }
  }

  return {
    async byUsername(callerUserId: string, username: string): Promise<DirectoryEntry> {
      const { rows } = await deps.pool.query<Row>(`${SELECT} WHERE u.username_key = $1 ORDER BY d.enrolled_at`, [usernameKey(username)])
      return entry(callerUserId, rows)
    },
    async byUserId(callerUserId: string, userId: string): Promise<DirectoryEntry> {
      const { rows } = await deps.pool.query<Row>(`${SELECT} WHERE u.id = $1 ORDER BY d.enrolled_at`, [userId])
      return entry(callerUserId, rows)
    },
    /** One device by id, whatever its state, so a recipient can open what it sent before revocation. */
    async device(callerUserId: string, deviceId: string): Promise<DirectoryDevice & { userId: string }> {
      const { rows } = await deps.pool.query<Row>(
        `SELECT u.id AS user_id, u.status, d.id, d.x25519_public_key, d.ed25519_public_key, d.platform, d.state
         FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1`, [deviceId])
      const r = rows[0]
      if (!r || (r.user_id !== callerUserId && deps.mayExchange && !(await deps.mayExchange(callerUserId, r.user_id)))) throw new DeviceNotFound()
      return {
        userId: r.user_id, id: r.id!, platform: r.platform!, state: r.state!,
        x25519PublicKey: r.x25519_public_key!.toString('base64'),
        ed25519PublicKey: r.ed25519_public_key!.toString('base64'),
      }
    },
  }
}

export type DirectoryService = ReturnType<typeof createDirectoryService>
