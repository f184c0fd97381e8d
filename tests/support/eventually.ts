import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Polls `probe` until it returns a value `accept` likes, for background work a test cannot await
 * directly (a reactor queuing messages). Fails with the last value seen after `timeoutMs`.
 */
export async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T
  for (;;) {
    last = await probe()
    if (accept(last)) return last
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`)
    await sleep(25)
  }
}
