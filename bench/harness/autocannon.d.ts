// The part of autocannon's API the load runner uses (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'
  namespace autocannon {
    interface Options {
      url: string
      method?: string
      headers?: Record<string, string>
      body?: string
      requests?: Array<Record<string, unknown>>
      connections?: number
      duration?: number
      timeout?: number
      sampleInt?: number
    }
    interface Result {
      duration: number
      errors: number
      timeouts: number
      non2xx: number
      '2xx': number
      latency: { p50: number; p99: number }
    }
    interface Instance extends EventEmitter {
      stop(): void
    }
  }
  function autocannon(options: autocannon.Options): autocannon.Instance
  export = autocannon
}
