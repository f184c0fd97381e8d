import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { ConcurrencyConflict } from '../infra/errors.ts'
import { WrongExpectedVersion, type EventStore, type ExpectedVersion, type NewEvent } from '../infra/eventStore/eventStore.ts'
import { eventMetadata, type CommandContext } from './commandContext.ts'
import { fold, type Decider, type DomainEvent } from './decider.ts'
import { eventVersions } from './eventVersions.ts'

export interface LoadedAggregate<State> {
  state: State
  /** the stream's last version, -1 when it does not exist */
  version: number
  /** global position of the stream's last event, 0 when it does not exist */
  lastPosition: number
}

export async function loadAggregate<State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: Pick<Decider<unknown, Event, State>, 'evolve' | 'initialState'>,
): Promise<LoadedAggregate<State>> {
  const slice = await store.readStream(streamName)
  const events = slice.events.map((event) => ({ type: event.type, data: event.data }) as Event)
  return {
    state: fold(decider.evolve, decider.initialState, events),
    version: slice.version,
    lastPosition: slice.events.at(-1)?.position ?? 0,
  }
}

export function expectedVersionOf(version: number): ExpectedVersion {
  return version === -1 ? 'no_stream' : version
}

export function toNewEvents(events: readonly DomainEvent[], context: CommandContext, ids?: readonly string[]): NewEvent[] {
  const metadata = eventMetadata(context)
  return events.map((event, index) => ({
    id: ids?.[index] ?? randomUUID(),
    type: event.type,
    data: event.data,
    // each type is written in its current schema version; older versions are upcast when read
    metadata: { ...metadata, schemaVersion: eventVersions.currentVersion(event.type) },
  }))
}

export interface CommandOutcome<State, Event> {
  /** the events this command appended (empty when it changed nothing) */
  events: Event[]
  state: State
  version: number
  /** global position of the stream's last event after the command: what a reader must reach */
  position: number
}

export interface RetryPolicy {
  maxAttempts: number
  /** upper bound of the random pause before attempt n, times n */
  backoffMs: number
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 40, backoffMs: 8 }

/** Retries `attempt` while another writer wins the race for the same stream version. */
export async function withConcurrencyRetry<T>(attempt: () => Promise<T>, policy: RetryPolicy = defaultRetryPolicy): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt()
    } catch (error) {
      if (!(error instanceof WrongExpectedVersion)) throw error
      if (n >= policy.maxAttempts) throw new ConcurrencyConflict()
      await sleep(Math.random() * policy.backoffMs * Math.min(n, 10))
    }
  }
}

/**
 * The ordinary command path for one aggregate: read its stream, fold it, decide, append with the
 * version read as the expected version; on a concurrent write, do it all again.
 * `guard` sees the loaded state first (tenant checks, existence) and may throw.
 */
export async function executeCommand<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  streamName: string,
  makeCommand: (state: State) => Command,
  context: CommandContext,
  guard?: (state: State, version: number) => void,
): Promise<CommandOutcome<State, Event>> {
  return withConcurrencyRetry(async () => {
    const loaded = await loadAggregate(store, streamName, decider)
    guard?.(loaded.state, loaded.version)
    const events = decider.decide(makeCommand(loaded.state), loaded.state)
    if (events.length === 0) {
      return { events, state: loaded.state, version: loaded.version, position: loaded.lastPosition }
    }
    const result = await store.append([
      { streamName, expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) },
    ])
    return {
      events,
      state: fold(decider.evolve, loaded.state, events),
      version: result.streams[0]!.version,
      position: result.lastPosition,
    }
  })
}
