import type { FastifyInstance, FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client'
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

function isEventStream(reply: FastifyReply): boolean {
  const type = reply.raw.getHeader('content-type')
  return typeof type === 'string' && type.startsWith('text/event-stream')
}

export interface ServiceMetricsOptions {
  /** prom-client's process metrics (default true) */
  processMetrics?: boolean
}

/** The label values of one route pattern, method and status: one series of each HTTP metric. */
export interface HttpSeriesLabels {
  method: string
  route: string
  status: string
}

/** The numbers of one series: its answers, and the durations of those that were not event streams. */
class HttpSeries {
  readonly labels: Readonly<HttpSeriesLabels>
  readonly command: boolean
  answers = 0
  timed = 0
  seconds = 0
  /** durations per bucket of DURATION_BUCKETS (not cumulative); those above the last are only in `timed` */
  readonly buckets = new Array<number>(DURATION_BUCKETS.length).fill(0)

  constructor(labels: HttpSeriesLabels) {
    this.labels = Object.freeze(labels)
    this.command = COMMAND_METHODS.has(labels.method)
  }
}

type MetricText = MetricObjectWithValues<MetricValueWithName<string>>

/**
 * The HTTP answers' counter and duration histograms. Not prom-client's Counter and Histogram:
 * those hash and validate the labels of every observation, on every request. Here a request finds
 * its series (route pattern, method, status) in two map lookups and adds to plain numbers; the
 * registry reads them at a scrape through three metric objects that present them as prom-client's
 * own counter and histograms would (same names, labels, buckets and text).
 */
export class HttpAnswerMetrics {
  /** route pattern → `method status` → series */
  readonly #series = new Map<string, Map<string, HttpSeries>>()

  constructor(registry: Registry) {
    const all = () => this.#all()
    registry.registerMetric(
      scrapedMetric('mifumo_http_requests_total', 'HTTP requests answered, by method, route pattern and status', 'counter', () => ({
        values: all().flatMap((series) => (series.answers > 0 ? [{ labels: series.labels, value: series.answers }] : [])),
      })),
    )
    const histogram = (name: string, help: string, of: (series: HttpSeries) => boolean) =>
      scrapedMetric(name, help, 'histogram', () => ({ values: all().flatMap((series) => (series.timed > 0 && of(series) ? histogramValues(name, series) : [])) }))
    registry.registerMetric(histogram('mifumo_http_request_duration_seconds', 'Time to answer an HTTP request (event streams excluded), by method, route pattern and status', () => true))
    registry.registerMetric(histogram('mifumo_command_duration_seconds', 'Time to answer a command (POST, PUT, PATCH, DELETE), by method, route pattern and status', (series) => series.command))
  }

  /** The series of an answer, made on its first answer. */
  series(route: string, method: string, status: number): HttpSeries {
    let byAnswer = this.#series.get(route)
    if (byAnswer === undefined) this.#series.set(route, (byAnswer = new Map()))
    const key = `${method} ${status}`
    let series = byAnswer.get(key)
    if (series === undefined) byAnswer.set(key, (series = new HttpSeries({ method, route, status: String(status) })))
    return series
  }

  /** One answer of the series; `seconds`: its duration, null when it is not timed (an event stream). */
  answered(series: HttpSeries, seconds: number | null): void {
    series.answers++
    if (seconds === null) return
    series.timed++
    series.seconds += seconds
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      if (seconds <= DURATION_BUCKETS[i]!) {
        series.buckets[i]!++
        return
      }
    }
  }

  #all(): HttpSeries[] {
    const all: HttpSeries[] = []
    for (const byAnswer of this.#series.values()) for (const series of byAnswer.values()) all.push(series)
    return all
  }
}

/** A histogram series as prom-client writes one: cumulative buckets with `le`, then +Inf, sum and count. */
function histogramValues(name: string, series: HttpSeries): MetricValueWithName<string>[] {
  const values: MetricValueWithName<string>[] = []
  let cumulative = 0
  for (let i = 0; i < DURATION_BUCKETS.length; i++) {
    cumulative += series.buckets[i]!
    values.push(sharedLabelValue({ le: DURATION_BUCKETS[i]! }, series.labels, cumulative, `${name}_bucket`))
  }
  values.push(sharedLabelValue({ le: '+Inf' }, series.labels, series.timed, `${name}_bucket`))
  values.push(sharedLabelValue({}, series.labels, series.seconds, `${name}_sum`))
  values.push(sharedLabelValue({}, series.labels, series.timed, `${name}_count`))
  return values
}

/** A value whose series labels the registry writes after its own (`le`), as for prom-client's histograms. */
function sharedLabelValue(labels: Record<string, string | number>, sharedLabels: Readonly<HttpSeriesLabels>, value: number, metricName: string): MetricValueWithName<string> {
  return { labels, sharedLabels, value, metricName } as MetricValueWithName<string>
}

/**
 * A metric the registry reads at each scrape from `values`: what it needs of a metric is its
 * name, help, type and `get()` (and `reset()`); prom-client's types only know its own classes.
 */
function scrapedMetric(name: string, help: string, type: 'counter' | 'histogram', values: () => Pick<MetricText, 'values'>): Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    async get(): Promise<MetricText> {
      return { name, help, type, aggregator: 'sum', ...values() } as unknown as MetricText
    },
    reset(): void {},
  }
  return metric as unknown as Metric
}

export class ServiceMetrics {
  readonly registry = new Registry()
  readonly http: HttpAnswerMetrics
  readonly appends: Counter<'outcome'>
  readonly eventsAppended: Counter<'type'>
  readonly #collectors = new Map<string, () => Promise<void>>()

  constructor(options: ServiceMetricsOptions = {}) {
    const registers = [this.registry]
    this.http = new HttpAnswerMetrics(this.registry)
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

/**
 * Counts and times every answered request: one callback hook (no promise per answer). The route
 * label is the route pattern (`/api/messaging/contacts/:id/`), never the concrete URL: label
 * values stay few.
 */
export const httpMetrics = fp(
  async (app: FastifyInstance, options: { metrics: ServiceMetrics }) => {
    const { http } = options.metrics
    app.addHook('onResponse', (request, reply, done) => {
      const series = http.series(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode)
      // a stream's duration is the client's stay, not an answer's latency
      http.answered(series, isEventStream(reply) ? null : reply.elapsedTime / 1000)
      done()
    })
  },
  { name: 'http-metrics' },
)
