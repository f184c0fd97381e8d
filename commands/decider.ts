/**
 * A decider is the whole write-side logic of one aggregate, as pure functions:
 * `decide(command, state)` returns the events the command causes (or throws a refusal from
 * infra/errors.ts), and `evolve(state, event)` folds one event into the state. Time and lookups
 * arrive inside the command; a decider never reads a clock or a database.
 */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type
  data: Data
}

export interface Decider<Command, Event extends DomainEvent, State> {
  initialState: State
  evolve(state: State, event: Event): State
  decide(command: Command, state: State): Event[]
}

export function fold<Event, State>(evolve: (state: State, event: Event) => State, initialState: State, events: readonly Event[]): State {
  let state = initialState
  for (const event of events) state = evolve(state, event)
  return state
}

/** Makes a switch over a union exhaustive: a new member becomes a compile error here. */
export function unreachable(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`)
}
