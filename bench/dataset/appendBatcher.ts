import type { AppendRequest, EventStore } from '../../infra/eventStore/eventStore.ts'

interface OpenBatch {
  requests: AppendRequest[]
  streams: Set<string>
  events: number
  committed: Promise<void>
  resolve(): void
  reject(error: unknown): void
}

function openBatch(): OpenBatch {
  let resolve!: () => void
  let reject!: (error: unknown) => void
  const committed = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // a batch nobody waits for may fail: the error reaches the producers through the next one
  committed.catch(() => undefined)
  return { requests: [], streams: new Set(), events: 0, committed, resolve, reject }
}

/**
 * Packs the commands of several producers (tenants, each appending in its own order) into few
 * appends: commands share one atomic append (one es_append call, one transaction) until it holds
 * `maxEvents` events, or until every producer waits because its next command touches a stream the
 * open append already holds (that command needs the earlier one committed first). Appends are
 * made one after the other, so a producer's commands reach the log in the order it made them.
 */
export class AppendBatcher {
  readonly #store: EventStore
  readonly #maxEvents: number
  #open: OpenBatch = openBatch()
  #chain: Promise<void> = Promise.resolve()
  #failure: unknown = null
  #active = 0
  #blocked = 0
  appends = 0
  events = 0

  constructor(store: EventStore, maxEvents: number) {
    this.#store = store
    this.#maxEvents = maxEvents
  }

  /** Runs the producers together, each given `emit` for its commands; resolves once all is committed. */
  async run(producers: readonly ((emit: (command: readonly AppendRequest[]) => Promise<void>) => Promise<void>)[]): Promise<void> {
    this.#active += producers.length
    await Promise.all(
      producers.map(async (produce) => {
        try {
          await produce((command) => this.add(command))
        } finally {
          this.#active -= 1
          this.#flushIfAllWait()
        }
      }),
    )
    this.#flush()
    await this.#chain
    if (this.#failure) throw this.#failure
  }

  async add(command: readonly AppendRequest[]): Promise<void> {
    while (command.some((request) => this.#open.streams.has(request.streamName))) {
      const batch = this.#open
      this.#blocked += 1
      this.#flushIfAllWait()
      try {
        await batch.committed
      } finally {
        this.#blocked -= 1
      }
    }
    const batch = this.#open
    for (const request of command) {
      batch.requests.push(request)
      batch.streams.add(request.streamName)
      batch.events += request.events.length
    }
    if (batch.events >= this.#maxEvents) {
      this.#flush()
      await batch.committed
    }
  }

  #flushIfAllWait(): void {
    if (this.#blocked >= this.#active) this.#flush()
  }

  #flush(): void {
    const batch = this.#open
    if (batch.requests.length === 0) return
    this.#open = openBatch()
    this.#chain = this.#chain.then(async () => {
      try {
        if (this.#failure) throw this.#failure
        await this.#store.append(batch.requests)
        this.appends += 1
        this.events += batch.events
        batch.resolve()
      } catch (error) {
        this.#failure ??= error
        batch.reject(error)
      }
    })
  }
}
