import type { AppendRequest, EventStore } from '../../infra/eventStore/eventStore.ts'

/**
 * Packs commands into few appends: consecutive commands share one atomic append (one es_append
 * call, one transaction) until it holds `maxEvents` events or a command touches a stream the
 * append already holds (that command needs the earlier one committed first).
 */
export class AppendBatcher {
  readonly #store: EventStore
  readonly #maxEvents: number
  #requests: AppendRequest[] = []
  #streams = new Set<string>()
  #events = 0
  appends = 0
  events = 0

  constructor(store: EventStore, maxEvents: number) {
    this.#store = store
    this.#maxEvents = maxEvents
  }

  async add(command: readonly AppendRequest[]): Promise<void> {
    if (command.some((request) => this.#streams.has(request.streamName))) await this.flush()
    for (const request of command) {
      this.#requests.push(request)
      this.#streams.add(request.streamName)
      this.#events += request.events.length
    }
    if (this.#events >= this.#maxEvents) await this.flush()
  }

  async flush(): Promise<void> {
    if (this.#requests.length === 0) return
    const requests = this.#requests
    const events = this.#events
    this.#requests = []
    this.#streams = new Set()
    this.#events = 0
    await this.#store.append(requests)
    this.appends += 1
    this.events += events
  }
}
