// What a client must remember between messages: which (sender device, message id) pairs it has
// accepted (replay and duplicate detection) and the keys of devices it has seen.
export interface ClientState {
  /** The delivery seq at which this message was accepted, if it was. */
  acceptedSeq(senderDeviceId: string, messageId: string): Promise<string | undefined> | string | undefined
  markAccepted(senderDeviceId: string, messageId: string, seq: string): Promise<void> | void
}

/** A bounded in-memory state: the oldest entries go first once `limit` is reached. */
export function memoryState(limit = 100_000): ClientState {
  const accepted = new Map<string, string>()
  return {
    acceptedSeq: (d, m) => accepted.get(`${d}/${m}`),
    markAccepted(d, m, seq) {
      accepted.set(`${d}/${m}`, seq)
      if (accepted.size > limit) accepted.delete(accepted.keys().next().value!)
    },
  }
}
