// Group commit: work items are written by one statement and one commit per batch. While
// `maxInFlight` batches are being written, new items wait and join the next batch, so batches
// grow with the load and an idle system still writes each item at once. Each caller gets its
// result only after its batch has committed: "stored before acknowledged" holds.
export interface Batcher<I, O> { add(item: I): Promise<O> }

interface Waiting<I, O> { item: I; resolve(o: O): void; reject(e: unknown): void }

export function createBatcher<I, O>(flush: (items: I[]) => Promise<O[]>, opts: { maxItems: number; maxInFlight?: number }): Batcher<I, O> {
  const maxInFlight = opts.maxInFlight ?? 2
  let queue: Waiting<I, O>[] = []
  let inFlight = 0
  let scheduled = false

  function run() {
    scheduled = false
    if (queue.length === 0 || inFlight >= maxInFlight) return
    const batch = queue.slice(0, opts.maxItems)
    queue = queue.slice(batch.length)
    inFlight++
    flush(batch.map((w) => w.item))
      .then((results) => batch.forEach((w, i) => w.resolve(results[i]!)), (err) => batch.forEach((w) => w.reject(err)))
      .finally(() => {
        inFlight--
        run()
      })
    if (queue.length > 0) run()
  }

  return {
    add(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject })
        // the rest of this turn of the event loop joins the batch
        if (!scheduled) {
          scheduled = true
          setImmediate(run)
        }
      })
    },
  }
}
