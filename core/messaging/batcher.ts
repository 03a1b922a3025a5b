// Group commit: work items that arrive in the same turn of the event loop are written by one
// statement and one commit. Each caller still gets its own result only after that commit, so
// "stored before acknowledged" holds; what changes is the number of round trips and fsyncs.
export interface Batcher<I, O> { add(item: I): Promise<O> }

export function createBatcher<I, O>(flush: (items: I[]) => Promise<O[]>, opts: { maxItems: number }): Batcher<I, O> {
  let queue: { item: I; resolve(o: O): void; reject(e: unknown): void }[] = []
  let scheduled = false

  function run() {
    scheduled = false
    const batch = queue
    queue = []
    flush(batch.map((q) => q.item)).then(
      (results) => batch.forEach((q, i) => q.resolve(results[i]!)),
      (err) => batch.forEach((q) => q.reject(err)),
    )
  }

  return {
    add(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject })
        if (queue.length >= opts.maxItems) run()
        else if (!scheduled) {
          scheduled = true
          setImmediate(() => { if (queue.length > 0) run(); else scheduled = false })
        }
      })
    },
  }
}
