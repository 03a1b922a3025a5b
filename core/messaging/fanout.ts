// Fan-out over Redis pub/sub: one channel per device. A gateway subscribes to the channels of
// the devices whose sockets it holds; whichever gateway persisted a message publishes it.
// Redis carries only ciphertext frames and is never the record: the database is.
import type { Redis } from 'ioredis'
import type { DeliveryFrame } from './envelopes.ts'

const channel = (deviceId: string) => `mvm:device:${deviceId}`
const CHANNEL_PREFIX = 'mvm:device:'

export async function publishDeliveries(redis: Redis, items: { device: string; frame: DeliveryFrame }[]): Promise<void> {
  if (items.length === 0) return
  const pipeline = redis.pipeline()
  for (const { device, frame } of items) pipeline.publish(channel(device), JSON.stringify(frame))
  await pipeline.exec()
}

export type FrameHandler = (frame: DeliveryFrame) => void

/** Routes published frames to the local sockets of each device; several sockets may share a device. */
export function createDeviceSubscriptions(subscriber: Redis) {
  const handlers = new Map<string, Set<FrameHandler>>()
  const subscribed = new Map<string, Promise<unknown>>()
  subscriber.on('message', (ch: string, message: string) => {
    if (!ch.startsWith(CHANNEL_PREFIX)) return
    const set = handlers.get(ch.slice(CHANNEL_PREFIX.length))
    if (!set) return
    const frame = JSON.parse(message) as DeliveryFrame
    for (const handler of set) handler(frame)
  })
  return {
    async add(deviceId: string, handler: FrameHandler): Promise<void> {
      let set = handlers.get(deviceId)
      if (!set) {
        set = new Set()
        handlers.set(deviceId, set)
        subscribed.set(deviceId, subscriber.subscribe(channel(deviceId)))
      }
      set.add(handler)
      // Resolve only once Redis confirms, so a caller that then reads the store misses nothing.
      await subscribed.get(deviceId)
    },
    async remove(deviceId: string, handler: FrameHandler): Promise<void> {
      const set = handlers.get(deviceId)
      if (!set) return
      set.delete(handler)
      if (set.size === 0) {
        handlers.delete(deviceId)
        subscribed.delete(deviceId)
        await subscriber.unsubscribe(channel(deviceId))
      }
    },
    get size() { return handlers.size },
  }
}

export type DeviceSubscriptions = ReturnType<typeof createDeviceSubscriptions>
