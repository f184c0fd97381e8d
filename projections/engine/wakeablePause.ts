/** A pause between a reader's reads that a notification can end early (`wake`). */
export class WakeablePause {
  #wake: (() => void) | undefined

  /** Resolves after `ms`, or at once when `wake` is called meanwhile. */
  for(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.#wake = done
    }).finally(() => {
      this.#wake = undefined
    })
  }

  /** Ends the pause under way, if there is one. */
  wake(): void {
    this.#wake?.()
  }
}
