// Send = persist, then publish. The acknowledgement a client gets means the envelope is in
// PostgreSQL; publishing is best effort because an offline or unlucky device reads the store.
import type { Redis } from 'ioredis'
import type { EnvelopeInput, EnvelopeService, Sender } from './envelopes.ts'
import { publishDeliveries } from './fanout.ts'

export interface SendResult { id: string; sentAt: string; duplicate: boolean }

export function createMessenger(deps: { envelopes: EnvelopeService; redis: Redis; onPublishError?: (err: Error) => void }) {
  return {
    async send(sender: Sender, input: EnvelopeInput): Promise<SendResult> {
      const accepted = await deps.envelopes.accept(sender, input)
      await publishDeliveries(deps.redis, accepted.frames.map(({ device, ...frame }) => ({ device, frame })))
        .catch((err: Error) => deps.onPublishError?.(err))
      return { id: accepted.id, sentAt: accepted.sentAt, duplicate: accepted.duplicate }
    },
  }
}

export type Messenger = ReturnType<typeof createMessenger>
