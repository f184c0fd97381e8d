import { fold, type Decider, type DomainEvent } from '../../commands/decider.ts'

/** The few assertions a decider spec needs (a tap test has them all). */
export interface SpecAssertions {
  same(found: unknown, wanted: unknown, message: string): boolean
  match(found: unknown, pattern: unknown, message: string): boolean
  fail(message: string): boolean
}

export interface ExpectedRefusal {
  /** the refusal's class from infra/errors.ts */
  type: abstract new (...args: never[]) => Error
  message?: string
  /** other fields, each compared exactly: errorCode, details, errors… */
  fields?: Record<string, unknown>
}

/**
 * Given-when-then specs for a decider:
 *
 *   spec.given([created]).when(approve).then(t, [approved])
 *   spec.given([created, approved]).when(approve).refuses(t, { type: BusinessRuleViolation, fields: {…} })
 *   spec.given([created, approved]).state()  — the folded state, to check evolve
 *   spec.givenState(state).when(…)           — for a state no event reaches yet
 *
 * `then` also folds the decided events onto the state, so evolve must accept what decide emits.
 */
export function deciderSpec<Command, Event extends DomainEvent, State>(decider: Decider<Command, Event, State>) {
  const scenario = (state: () => State) => ({
    state,
    when(command: Command) {
      return {
        then(t: SpecAssertions, expected: readonly Event[], message = 'decides these events'): Event[] {
          const before = state()
          const events = decider.decide(command, before)
          t.same(events, expected, message)
          fold(decider.evolve, before, events)
          return events
        },
        refuses(t: SpecAssertions, expected: ExpectedRefusal): void {
          let events: Event[]
          try {
            events = decider.decide(command, state())
          } catch (error) {
            t.match(error, expected.type, `refused with ${expected.type.name}`)
            if (expected.message !== undefined) t.same((error as Error).message, expected.message, 'refusal message')
            for (const [field, value] of Object.entries(expected.fields ?? {})) {
              t.same((error as unknown as Record<string, unknown>)[field], value, `refusal ${field}`)
            }
            return
          }
          t.fail(`expected a refusal, got events: ${JSON.stringify(events)}`)
        },
      }
    },
  })
  return {
    given: (history: readonly Event[]) => scenario(() => fold(decider.evolve, decider.initialState, history)),
    givenState: (state: State) => scenario(() => state),
  }
}
