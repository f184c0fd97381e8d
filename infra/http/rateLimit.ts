import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import type { Clock } from '../clock.ts'
import { RATE_LIMIT_GROUPS, type RateLimitGroup } from './routePolicies.ts'

/**
 * The spec's rate limits: fixed one-minute windows per caller (the token's user, an API key, or
 * the client address when anonymous) and per group of routes. Every limited answer carries
 * X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (epoch seconds); beyond the limit
 * the answer is 429 with Retry-After. Counters live in Redis when the service has one (shared by
 * every process), in memory otherwise.
 */
export interface RateCounter {
  /** counts one hit in the window and returns the window's count so far */
  hit(key: string, windowSeconds: number, windowStartSeconds: number): Promise<number>
}

export class MemoryRateCounter implements RateCounter {
  readonly #windows = new Map<string, { start: number; count: number }>()
  #sweepAt = 0

  async hit(key: string, windowSeconds: number, windowStartSeconds: number): Promise<number> {
    if (windowStartSeconds >= this.#sweepAt) {
      // forget finished windows now and then, so idle callers do not pile up
      for (const [k, window] of this.#windows) if (window.start + windowSeconds <= windowStartSeconds) this.#windows.delete(k)
      this.#sweepAt = windowStartSeconds + windowSeconds
    }
    const window = this.#windows.get(key)
    if (!window || window.start !== windowStartSeconds) {
      this.#windows.set(key, { start: windowStartSeconds, count: 1 })
      return 1
    }
    window.count++
    return window.count
  }
}

export class RedisRateCounter implements RateCounter {
  readonly #redis: Redis

  constructor(redis: Redis) {
    this.#redis = redis
  }

  async hit(key: string, windowSeconds: number, windowStartSeconds: number): Promise<number> {
    const redisKey = `mifumo:ratelimit:${key}:${windowStartSeconds}`
    const results = await this.#redis.multi().incr(redisKey).expire(redisKey, windowSeconds + 5).exec()
    const count = results?.[0]?.[1]
    if (typeof count !== 'number') throw new Error('rate limit counter: unexpected answer from Redis')
    return count
  }
}

export interface RateLimitOptions {
  counter: RateCounter
  clock: Clock
  enabled: boolean
}

function subjectOf(request: FastifyRequest): string {
  if (request.principal) return `user:${request.principal.userId}`
  return `ip:${request.ip}`
}

function setHeaders(reply: FastifyReply, limit: number, remaining: number, resetSeconds: number): void {
  reply.header('x-ratelimit-limit', String(limit))
  reply.header('x-ratelimit-remaining', String(Math.max(0, remaining)))
  reply.header('x-ratelimit-reset', String(resetSeconds))
}

export const rateLimiting = fp(
  async (app: FastifyInstance, options: RateLimitOptions) => {
    if (!options.enabled) return
    const check = (group: RateLimitGroup): preHandlerAsyncHookHandler =>
      async function rateLimited(request, reply) {
        const { limit, windowSeconds } = RATE_LIMIT_GROUPS[group]
        const nowSeconds = Math.floor(options.clock.now().getTime() / 1000)
        const windowStart = nowSeconds - (nowSeconds % windowSeconds)
        const reset = windowStart + windowSeconds
        let count: number
        try {
          count = await options.counter.hit(`${group}:${subjectOf(request)}`, windowSeconds, windowStart)
        } catch (error) {
          // the counter store is down: serve the request rather than refuse everyone
          request.log.warn({ err: error }, 'rate limit counter unavailable; request not counted')
          return
        }
        setHeaders(reply, limit, limit - count, reset)
        if (count > limit) {
          const retryAfter = Math.max(1, reset - nowSeconds)
          reply.header('retry-after', String(retryAfter))
          return reply.status(429).send({
            success: false,
            message: `Request was throttled. Expected available in ${retryAfter} seconds.`,
            error_code: 'RATE_LIMITED',
            details: { limit, window_seconds: windowSeconds, retry_after: retryAfter },
          })
        }
      }

    // a route-level preHandler runs after the route plugin's own hooks, so after `authenticate`:
    // the caller is known when the limit is counted
    app.addHook('onRoute', (route) => {
      const group = route.config?.rateLimit
      if (group === false) return
      const handler = check(group ?? 'default')
      const existing = route.preHandler
      route.preHandler = existing === undefined ? [handler] : [...(Array.isArray(existing) ? existing : [existing]), handler]
    })
  },
  { name: 'rate-limiting' },
)
