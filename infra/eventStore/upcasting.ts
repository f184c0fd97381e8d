import type { AppendRequest, AppendResult, EventStore, GlobalSlice, ReadAllOptions, ReadStreamOptions, RecordedEvent, StreamSlice } from './eventStore.ts'

/**
 * Event schema evolution. When an event type's data changes shape, the type gets a new schema
 * version and an upcaster that turns the previous version's data into the new one. Events are
 * never rewritten in the log: upcasters run as events are read, one version step at a time, so an
 * old stream folds and replays into today's deciders and projections as if written today. New
 * events are written with the type's current version (`currentVersion`).
 */
export interface Upcaster {
  type: string
  /** the version this step reads; it produces fromVersion + 1 */
  fromVersion: number
  upcast(data: unknown, event: RecordedEvent): unknown
}

export class UpcasterRegistry {
  readonly #steps = new Map<string, Upcaster>()

  constructor(upcasters: readonly Upcaster[] = []) {
    for (const upcaster of upcasters) {
      const key = `${upcaster.type}@${upcaster.fromVersion}`
      if (this.#steps.has(key)) throw new Error(`two upcasters for ${key}`)
      this.#steps.set(key, upcaster)
    }
  }

  /** The version new events of this type are written with: 1 past its last upcaster step, 1 when it never changed. */
  currentVersion(type: string): number {
    let version = 1
    while (this.#steps.has(`${type}@${version}`)) version++
    return version
  }

  /** The event as today's code expects it (the same object when nothing applies). */
  upcast(event: RecordedEvent): RecordedEvent {
    let current = event
    for (;;) {
      const version = current.metadata?.schemaVersion ?? 1
      const step = this.#steps.get(`${current.type}@${version}`)
      if (!step) return current
      current = { ...current, data: step.upcast(current.data, current), metadata: { ...current.metadata, schemaVersion: version + 1 } }
    }
  }

  get isEmpty(): boolean {
    return this.#steps.size === 0
  }
}

/** The same store, with every event that comes out of a read upcast to its current version. */
export class UpcastingEventStore implements EventStore {
  readonly #inner: EventStore
  readonly #registry: UpcasterRegistry

  constructor(inner: EventStore, registry: UpcasterRegistry) {
    this.#inner = inner
    this.#registry = registry
  }

  get kind(): EventStore['kind'] {
    return this.#inner.kind
  }

  append(requests: AppendRequest[]): Promise<AppendResult> {
    return this.#inner.append(requests)
  }

  async readStream(streamName: string, options?: ReadStreamOptions): Promise<StreamSlice> {
    const slice = await this.#inner.readStream(streamName, options)
    return this.#registry.isEmpty ? slice : { ...slice, events: slice.events.map((event) => this.#registry.upcast(event)) }
  }

  get readStreams(): EventStore['readStreams'] {
    const inner = this.#inner
    if (!inner.readStreams) return undefined
    return async (streamNames) => {
      const slices = await inner.readStreams!(streamNames)
      return this.#registry.isEmpty ? slices : slices.map((slice) => ({ ...slice, events: slice.events.map((event) => this.#registry.upcast(event)) }))
    }
  }

  async readAll(options?: ReadAllOptions): Promise<GlobalSlice> {
    const slice = await this.#inner.readAll(options)
    return this.#registry.isEmpty ? slice : { ...slice, events: slice.events.map((event) => this.#registry.upcast(event)) }
  }

  headPosition(): Promise<number> {
    return this.#inner.headPosition()
  }

  get countEvents(): EventStore['countEvents'] {
    const inner = this.#inner
    return inner.countEvents ? (options) => inner.countEvents!(options) : undefined
  }

  // the inspection queries, when the adapter has them; the events they answer are upcast like any read
  get listCategories(): EventStore['listCategories'] {
    const inner = this.#inner
    return inner.listCategories ? () => inner.listCategories!() : undefined
  }

  get listStreams(): EventStore['listStreams'] {
    const inner = this.#inner
    return inner.listStreams ? (options) => inner.listStreams!(options) : undefined
  }

  get readEvent(): EventStore['readEvent'] {
    const inner = this.#inner
    if (!inner.readEvent) return undefined
    return async (eventId) => {
      const event = await inner.readEvent!(eventId)
      return event && !this.#registry.isEmpty ? this.#registry.upcast(event) : event
    }
  }

  get readLog(): EventStore['readLog'] {
    const inner = this.#inner
    if (!inner.readLog) return undefined
    return async (options) => {
      const slice = await inner.readLog!(options)
      return this.#registry.isEmpty ? slice : { ...slice, events: slice.events.map((event) => this.#registry.upcast(event)) }
    }
  }

  onAppended(listener: (position: number) => void): () => void {
    return this.#inner.onAppended(listener)
  }

  close(): Promise<void> {
    return this.#inner.close()
  }
}
