import http from 'node:http'
import { performance } from 'node:perf_hooks'

/**
 * The freshness figure's two clients, each run in a process of its own (bench/figures/freshness.ts
 * starts them) so that neither the load nor the harness delays the other's timestamps:
 *
 * - `subscriber`: keeps GET /api/messaging/activity/stream/ open and notes when each activity
 *   arrives;
 * - `commander`: sends contact creates (each one a `contact_added` activity) at a steady rate,
 *   open loop (a slow answer does not slow the schedule), and notes when each answer arrived.
 *
 * Times are `performance.timeOrigin + performance.now()`: wall-clock milliseconds with sub-
 * millisecond resolution, comparable between processes of one machine.
 */

export interface SubscriberOrder {
  role: 'subscriber'
  baseUrl: string
  token: string
}

export interface CommanderOrder {
  role: 'commander'
  baseUrl: string
  token: string
  /** commands per second */
  rate: number
  /** seconds of load; commands of the first `warmupSeconds` are not reported */
  durationSeconds: number
  warmupSeconds: number
  /** sockets at most (the schedule waits when every one is busy) */
  maxConnections: number
  /** makes the run's phone numbers distinct from any other run's */
  phoneBase: number
}

/** One answered command: its activity's id and when the answer came back. */
export interface CommandSample {
  activityId: string
  sentAt: number
  answeredAt: number
}

export type ProbeMessage =
  | { kind: 'subscribed' }
  | { kind: 'seen'; arrivals: Array<[activityId: string, at: number]> }
  | { kind: 'commands'; samples: CommandSample[]; sent: number; answered: number; failed: number; firstFailure: string | null; seconds: number }
  | { kind: 'probe-error'; message: string }

const wallClock = (): number => performance.timeOrigin + performance.now()

function subscribe(order: SubscriberOrder): void {
  const url = new URL('/api/messaging/activity/stream/', order.baseUrl)
  const arrivals: Array<[string, number]> = []
  const request = http.get(url, { headers: { authorization: `Bearer ${order.token}`, accept: 'text/event-stream' } }, (response) => {
    if (response.statusCode !== 200) {
      process.send!({ kind: 'probe-error', message: `the activity stream answered ${response.statusCode}` } satisfies ProbeMessage)
      return
    }
    response.setEncoding('utf8')
    let buffer = ''
    let told = false
    response.on('data', (chunk: string) => {
      const at = wallClock()
      if (!told) {
        told = true
        process.send!({ kind: 'subscribed' } satisfies ProbeMessage)
      }
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = frame.split('\n').find((line) => line.startsWith('data: '))
        if (!data || !frame.includes('event: activity')) continue
        const id = (JSON.parse(data.slice(6)) as { id?: string }).id
        if (id) arrivals.push([id, at])
      }
    })
  })
  request.on('error', (error) => process.send!({ kind: 'probe-error', message: `activity stream: ${error.message}` } satisfies ProbeMessage))
  // the parent asks for what arrived so far, then stops us
  process.on('message', (message) => {
    if ((message as { kind?: string }).kind === 'report') process.send!({ kind: 'seen', arrivals: arrivals.splice(0) } satisfies ProbeMessage)
  })
}

async function command(order: CommanderOrder): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: order.maxConnections })
  const url = new URL('/api/messaging/contacts/', order.baseUrl)
  const samples: CommandSample[] = []
  let sent = 0
  let answered = 0
  let failed = 0
  let inFlight = 0
  let firstFailure: string | null = null
  const start = wallClock()
  const measuredFrom = start + order.warmupSeconds * 1000
  const end = start + order.durationSeconds * 1000

  const send = (sequence: number): void => {
    const body = JSON.stringify({ name: `Freshness ${sequence}`, phone_e164: `+25571${String(order.phoneBase + sequence).padStart(7, '0')}` })
    const sentAt = wallClock()
    inFlight++
    const request = http.request(
      url,
      { method: 'POST', agent, headers: { authorization: `Bearer ${order.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (text += chunk))
        response.on('end', () => {
          const answeredAt = wallClock()
          inFlight--
          if (response.statusCode !== 201 && response.statusCode !== 200) {
            failed++
            firstFailure ??= `${response.statusCode} ${text.slice(0, 200)}`
            return
          }
          answered++
          const id = (JSON.parse(text) as { data?: { id?: string } }).data?.id
          if (id && sentAt >= measuredFrom) samples.push({ activityId: `contact_${id}`, sentAt, answeredAt })
        })
      },
    )
    request.on('error', (error) => {
      inFlight--
      failed++
      firstFailure ??= error.message
    })
    request.end(body)
  }

  // open loop: every millisecond tick sends what the schedule says is due (while sockets are free)
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = wallClock()
      if (now >= end) {
        resolve()
        return
      }
      const due = Math.floor(((now - start) / 1000) * order.rate)
      while (sent < due && inFlight < order.maxConnections) send(sent++)
      setTimeout(tick, 1)
    }
    tick()
  })
  const seconds = (wallClock() - start) / 1000
  // the answers still on their way
  const waitUntil = wallClock() + 10_000
  while (inFlight > 0 && wallClock() < waitUntil) await new Promise((resolve) => setTimeout(resolve, 10))
  agent.destroy()
  process.send!({ kind: 'commands', samples, sent, answered, failed, firstFailure, seconds } satisfies ProbeMessage)
}

process.once('message', (message) => {
  const order = message as SubscriberOrder | CommanderOrder
  try {
    if (order.role === 'subscriber') subscribe(order)
    else void command(order).catch((error: unknown) => process.send!({ kind: 'probe-error', message: String(error) } satisfies ProbeMessage))
  } catch (error) {
    process.send!({ kind: 'probe-error', message: String(error) } satisfies ProbeMessage)
  }
})
