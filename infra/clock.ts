/** All time in the service goes through a Clock, so tests can move it. */
export interface Clock {
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }

/** A clock that only moves when told to: for tests and deterministic tools. */
export class ManualClock implements Clock {
  #epochMs: number

  constructor(start: Date | string | number) {
    this.#epochMs = new Date(start).getTime()
  }

  now(): Date {
    return new Date(this.#epochMs)
  }

  set(to: Date | string | number): void {
    this.#epochMs = new Date(to).getTime()
  }

  advance(ms: number): void {
    this.#epochMs += ms
  }
}
