import type { EventStore, ReadStreamOptions, StreamSlice } from '../../infra/eventStore/eventStore.ts'

/**
 * An event store whose whole-stream reads (readStream without options) are gathered: reads asked
 * for while earlier ones are under way go out together as one readStreams call (one round trip
 * for up to `maxStreams` streams). The delivery pipeline loads a message, its contact and, for a
 * delivery report, the message again for every message it handles; with fifty sends at a time
 * those loads are most of its round trips.
 *
 * A read is always answered by a query that starts after it was asked, never by one already
 * under way, so it sees everything committed before the call, exactly as a direct read would.
 * Everything else (appends, reads from a version, global reads) goes straight to the store; a
 * store without readStreams is answered as it is.
 */
export function coalescedStreamReads(store: EventStore, options: { maxStreams?: number; maxInFlight?: number } = {}): EventStore {
  const readStreams = store.readStreams
  if (!readStreams) return store
  const maxStreams = options.maxStreams ?? 200
  const maxInFlight = options.maxInFlight ?? 2
  let waiting: { streamName: string; resolve: (slice: StreamSlice) => void; reject: (error: unknown) => void }[] = []
  let inFlight = 0

  const flush = (): void => {
    while (inFlight < maxInFlight && waiting.length > 0) {
      const batch = waiting.slice(0, maxStreams)
      waiting = waiting.slice(batch.length)
      const names = [...new Set(batch.map((request) => request.streamName))]
      inFlight++
      readStreams(names)
        .then(
          (slices) => {
            const byName = new Map(names.map((name, index) => [name, slices[index]!]))
            // each caller gets its own copy of the events array: callers may not share mutations
            for (const request of batch) {
              const slice = byName.get(request.streamName)!
              request.resolve({ version: slice.version, events: [...slice.events] })
            }
          },
          (error: unknown) => {
            for (const request of batch) request.reject(error)
          },
        )
        .finally(() => {
          inFlight--
          flush()
        })
    }
  }

  const readStream = (streamName: string, readOptions?: ReadStreamOptions): Promise<StreamSlice> => {
    if (readOptions && Object.values(readOptions).some((value) => value !== undefined)) return store.readStream(streamName, readOptions)
    return new Promise<StreamSlice>((resolve, reject) => {
      waiting.push({ streamName, resolve, reject })
      flush()
    })
  }

  return new Proxy(store, {
    get(target, property) {
      if (property === 'readStream') return readStream
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}
