import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { AppendRequest, AppendResult, EventStore } from '../eventStore/eventStore.ts'
import { WrongExpectedVersion } from '../eventStore/eventStore.ts'

/**
 * The service's Prometheus metrics, one registry per opened service (tests open several in one
 * process). HTTP requests are counted and timed by a hook; appends by wrapping the event store;
 * gauges that describe state (projection lag, queue depth, open streams) are refreshed by the
 * collectors registered with `onScrape` right before each scrape.
 *
 * Names:
 * - mifumo_http_requests_total{method,route,status}, mifumo_http_request_duration_seconds{method,route,status}
 * - mifumo_command_duration_seconds{method,route,status}: the POST, PUT, PATCH and DELETE routes
 * - mifumo_event_appends_total{outcome}: append calls (appended, duplicate, conflict, error)
 * - mifumo_events_appended_total{type}: events written
 * - mifumo_projection_* and mifumo_queue_jobs: see queries/operationsRoutes.ts
 * - the process metrics of prom-client (CPU, memory, event loop lag, …), unprefixed
 */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

const COMMAND_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export interface ServiceMetricsOptions {
  /** prom-client's process metrics (default true) */
  processMetrics?: boolean
}

export class ServiceMetrics {
  readonly registry = new Registry()
  readonly httpRequests: Counter<'method' | 'route' | 'status'>
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>
  readonly commandDuration: Histogram<'method' | 'route' | 'status'>
  readonly appends: Counter<'outcome'>
  readonly eventsAppended: Counter<'type'>
  readonly #collectors = new Map<string, () => Promise<void>>()

  constructor(options: ServiceMetricsOptions = {}) {
    const registers = [this.registry]
    this.httpRequests = new Counter({ name: 'mifumo_http_requests_total', help: 'HTTP requests answered, by method, route pattern and status', labelNames: ['method', 'route', 'status'], registers })
    this.httpDuration = new Histogram({
      name: 'mifumo_http_request_duration_seconds',
      help: 'Time to answer an HTTP request (event streams excluded), by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: DURATION_BUCKETS,
      registers,
    })
    this.commandDuration = new Histogram({
      name: 'mifumo_command_duration_seconds',
      help: 'Time to answer a command (POST, PUT, PATCH, DELETE), by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: DURATION_BUCKETS,
      registers,
    })
    this.appends = new Counter({ name: 'mifumo_event_appends_total', help: 'Event store append calls, by outcome (appended, duplicate, conflict, error)', labelNames: ['outcome'], registers })
    this.eventsAppended = new Counter({ name: 'mifumo_events_appended_total', help: 'Events appended to the event store by this process, by event type', labelNames: ['type'], registers })
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry })
  }

  /**
   * Registers the refresh of some gauges, run before each scrape, under a key: an app built again
   * on the same services replaces its collectors rather than doubling them. Returns its removal.
   */
  onScrape(key: string, collector: () => Promise<void>): () => void {
    this.#collectors.set(key, collector)
    return () => {
      if (this.#collectors.get(key) === collector) this.#collectors.delete(key)
    }
  }

  /** The registry's gauge of that name, made on first use (apps built on the same services share it). */
  gauge<Label extends string>(name: string, help: string, labelNames: readonly Label[] = []): Gauge<Label> {
    const existing = this.registry.getSingleMetric(name)
    if (existing) return existing as Gauge<Label>
    return new Gauge({ name, help, labelNames: [...labelNames], registers: [this.registry] })
  }

  /** Runs the collectors (a failing one leaves its gauges as they were), then renders the exposition text. */
  async render(onCollectorError?: (error: unknown) => void): Promise<{ contentType: string; body: string }> {
    const results = await Promise.allSettled([...this.#collectors.values()].map((collect) => collect()))
    for (const result of results) if (result.status === 'rejected') onCollectorError?.(result.reason)
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  /**
   * The same event store, counting its appends. A proxy rather than a wrapper class: every other
   * member (the optional inspection methods included) is the store's own.
   */
  instrument<Store extends EventStore>(store: Store): Store {
    const count = async (requests: AppendRequest[]): Promise<AppendResult> => {
      let result: AppendResult
      try {
        result = await store.append(requests)
      } catch (error) {
        this.appends.inc({ outcome: error instanceof WrongExpectedVersion ? 'conflict' : 'error' })
        throw error
      }
      if (result.duplicate) {
        this.appends.inc({ outcome: 'duplicate' })
      } else {
        this.appends.inc({ outcome: 'appended' })
        for (const request of requests) for (const event of request.events) this.eventsAppended.inc({ type: event.type })
      }
      return result
    }
    return new Proxy(store, {
      get(target, property) {
        if (property === 'append') return count
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
      },
    })
  }
}

/** The route pattern of a request (`/api/messaging/contacts/:id/`), never its concrete URL: label values stay few. */
function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unmatched'
}

function isEventStream(reply: FastifyReply): boolean {
  const type = reply.raw.getHeader('content-type')
  return typeof type === 'string' && type.startsWith('text/event-stream')
}

/** Counts and times every answered request. */
export const httpMetrics = fp(
  async (app: FastifyInstance, options: { metrics: ServiceMetrics }) => {
    const { metrics } = options
    app.addHook('onResponse', async (request, reply) => {
      const labels = { method: request.method, route: routeOf(request), status: String(reply.statusCode) }
      metrics.httpRequests.inc(labels)
      // a stream's duration is the client's stay, not an answer's latency
      if (isEventStream(reply)) return
      const seconds = reply.elapsedTime / 1000
      metrics.httpDuration.observe(labels, seconds)
      if (COMMAND_METHODS.has(request.method)) metrics.commandDuration.observe(labels, seconds)
    })
  },
  { name: 'http-metrics' },
)
