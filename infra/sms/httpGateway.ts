import {
  ProviderUnavailable,
  type ConnectionCheck,
  type OutboundSms,
  type SendResult,
  type SmsProvider,
} from './smsProvider.ts'
import { describeError, silentSmsLog, type SmsLog } from './smsLog.ts'

export interface HttpGatewayOptions {
  /** where messages are POSTed */
  url: string
  apiKey: string
  /** longest wait for one try (connection, answer and body) */
  timeoutMs: number
  /** tries of one send, the first included, on 5xx, 408, 429, network errors and timeouts */
  attempts: number
  /** first pause between those tries, doubling, plus up to 10% jitter */
  backoffMs: number
  /** what testConnection GETs; default `/health` on the gateway's host */
  healthUrl?: string
  /** a 429's Retry-After longer than this is not waited for: the send fails (retry later) */
  maxRetryAfterMs?: number
  /** sender id sent when the message names none */
  defaultSenderId?: string
  logger?: SmsLog
}

/** The JSON body POSTed for each message. */
export interface GatewayRequest {
  message_id: string
  to: string
  sender_id: string | null
  channel: 'sms' | 'whatsapp'
  text: string
}

/** One try's outcome, as the retry loop sees it. */
type Try =
  | { kind: 'done'; result: SendResult }
  /** worth another try: 5xx, 408, 429, network error, timeout */
  | { kind: 'retry'; cause: string; retryAfterMs: number | null }
  /** no point retrying now (401/403, other 4xx, a 2xx without a usable id) */
  | { kind: 'unavailable'; cause: string }

const MAX_REASON_LENGTH = 500
const USER_AGENT = 'mifumo-messaging'

/**
 * The HTTP gateway adapter: each message is one JSON POST to the configured URL.
 *
 * Request: `POST <url>` with headers `Content-Type: application/json`,
 * `Authorization: Bearer <api key>`, `X-API-Key: <api key>` and `Idempotency-Key: <message id>`
 * (the same on every try, so a gateway that keeps idempotency keys never sends twice) and the
 * body {@link GatewayRequest} `{message_id, to, sender_id, channel, text}`.
 *
 * Answers:
 * - 2xx with JSON `{provider_message_id}` (or `{id}`, string or number) → accepted; a 2xx without
 *   a usable id → ProviderUnavailable (the job retries later under the same idempotency key);
 * - 400, 413, 422 → rejected for good, with the gateway's message (`message`, `error`, `detail`
 *   or `reason` of a JSON body, else the text body, else the status text); never retried;
 * - 401, 403 → ProviderUnavailable at once, not retried here: the API key is wrong or lacks
 *   rights, which no retry fixes until the operator fixes the key; the job's own later retries
 *   then go through;
 * - other 4xx (404 wrong URL, 405, 409 a send under the same key still in progress…) and 3xx
 *   (redirects are not followed) → ProviderUnavailable at once, not retried here;
 * - 5xx, 408, 429, network errors and timeouts (`timeoutMs` per try) → tried again, up to
 *   `attempts` tries in all, after `backoffMs`, doubling, plus up to 10% jitter; a 429's
 *   `Retry-After` (seconds or an HTTP date) replaces that pause when it is longer, and one longer
 *   than `maxRetryAfterMs` ends the send at once; after the last try → ProviderUnavailable.
 */
export class HttpSmsGateway implements SmsProvider {
  readonly name = 'http'
  readonly #url: string
  readonly #healthUrl: string
  readonly #apiKey: string
  readonly #timeoutMs: number
  readonly #attempts: number
  readonly #backoffMs: number
  readonly #maxRetryAfterMs: number
  readonly #defaultSenderId: string | null
  readonly #log: SmsLog
  /** aborted by close(): ends requests and pauses under way */
  readonly #closing = new AbortController()

  constructor(options: HttpGatewayOptions) {
    const url = new URL(options.url)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError('the SMS gateway URL must be http or https')
    if (!options.apiKey) throw new RangeError('the SMS gateway needs an API key')
    if (!(options.timeoutMs > 0) || !(options.attempts >= 1) || !(options.backoffMs >= 0)) {
      throw new RangeError('the SMS gateway needs timeoutMs > 0, attempts >= 1 and backoffMs >= 0')
    }
    this.#url = url.toString()
    this.#healthUrl = new URL(options.healthUrl ?? '/health', url).toString()
    this.#apiKey = options.apiKey
    this.#timeoutMs = options.timeoutMs
    this.#attempts = Math.floor(options.attempts)
    this.#backoffMs = options.backoffMs
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000
    this.#defaultSenderId = options.defaultSenderId ?? null
    this.#log = options.logger ?? silentSmsLog
  }

  async send(sms: OutboundSms): Promise<SendResult> {
    const body: GatewayRequest = {
      message_id: sms.messageId,
      to: sms.to,
      sender_id: sms.senderId ?? this.#defaultSenderId,
      channel: sms.channel,
      text: sms.text,
    }
    const payload = JSON.stringify(body)
    let lastCause = 'no try made'
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (this.#closing.signal.aborted) throw new ProviderUnavailable(`SMS gateway adapter closed (${lastCause})`)
      const outcome = await this.#try(sms.messageId, payload)
      if (outcome.kind === 'done') return outcome.result
      if (outcome.kind === 'unavailable') throw new ProviderUnavailable(`SMS gateway: ${outcome.cause}`)
      lastCause = outcome.cause
      if (attempt === this.#attempts) break
      let pause = this.#backoffMs * 2 ** (attempt - 1) * (1 + Math.random() * 0.1)
      if (outcome.retryAfterMs !== null) {
        if (outcome.retryAfterMs > this.#maxRetryAfterMs) {
          throw new ProviderUnavailable(`SMS gateway: ${outcome.cause}; it asks to retry after ${Math.ceil(outcome.retryAfterMs / 1000)} s`)
        }
        pause = Math.max(pause, outcome.retryAfterMs)
      }
      this.#log.warn({ messageId: sms.messageId, attempt, of: this.#attempts, cause: outcome.cause, retryInMs: Math.round(pause) }, 'SMS gateway try failed; trying again')
      await this.#pause(pause)
    }
    throw new ProviderUnavailable(`SMS gateway unavailable after ${this.#attempts} ${this.#attempts === 1 ? 'try' : 'tries'}: ${lastCause}`)
  }

  async testConnection(): Promise<ConnectionCheck> {
    const started = performance.now()
    const deadline = this.#deadline()
    const latency = (): number => Math.round(performance.now() - started)
    try {
      const response = await fetch(this.#healthUrl, { method: 'GET', headers: this.#headers(), redirect: 'manual', signal: deadline.signal })
      await response.arrayBuffer().catch(() => undefined)
      const ms = latency()
      if (response.ok) return { ok: true, provider: 'http', latency_ms: ms, detail: `SMS gateway reachable (HTTP ${response.status})` }
      if (response.status === 401 || response.status === 403) {
        return { ok: false, provider: 'http', latency_ms: ms, detail: `SMS gateway refused the API key (HTTP ${response.status})` }
      }
      return { ok: false, provider: 'http', latency_ms: ms, detail: `SMS gateway answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}` }
    } catch (error) {
      const detail = deadline.timedOut() ? `no answer within ${this.#timeoutMs} ms` : describeError(error)
      return { ok: false, provider: 'http', latency_ms: latency(), detail: `SMS gateway unreachable: ${detail}` }
    } finally {
      deadline.clear()
    }
  }

  /** ends the requests and pauses under way (their sends fail with ProviderUnavailable) */
  async close(): Promise<void> {
    this.#closing.abort()
  }

  #headers(): Record<string, string> {
    return {
      Accept: 'application/json',
      Authorization: `Bearer ${this.#apiKey}`,
      'X-API-Key': this.#apiKey,
      'User-Agent': USER_AGENT,
    }
  }

  async #try(messageId: string, payload: string): Promise<Try> {
    const deadline = this.#deadline()
    let status: number
    let statusText: string
    let headers: Headers
    let text: string
    try {
      const response = await fetch(this.#url, {
        method: 'POST',
        headers: { ...this.#headers(), 'Content-Type': 'application/json', 'Idempotency-Key': messageId },
        body: payload,
        // a redirect is a misconfigured URL: never follow it (nor carry the key elsewhere)
        redirect: 'manual',
        signal: deadline.signal,
      })
      status = response.status
      statusText = response.statusText
      headers = response.headers
      // the body is read under the same per-try deadline as the headers
      text = await response.text()
    } catch (error) {
      if (deadline.timedOut()) return { kind: 'retry', cause: `no answer within ${this.#timeoutMs} ms`, retryAfterMs: null }
      if (this.#closing.signal.aborted) return { kind: 'unavailable', cause: 'adapter closed' }
      return { kind: 'retry', cause: `network error: ${describeError(error)}`, retryAfterMs: null }
    } finally {
      deadline.clear()
    }
    const label = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`

    if (status >= 200 && status < 300) {
      const id = providerMessageId(text)
      if (id === null) return { kind: 'unavailable', cause: `${label} without a provider_message_id in its body` }
      return { kind: 'done', result: { status: 'accepted', providerMessageId: id } }
    }
    if (status === 400 || status === 413 || status === 422) {
      return { kind: 'done', result: { status: 'rejected', reason: gatewayMessage(text) ?? (statusText || `HTTP ${status}`) } }
    }
    if (status === 401 || status === 403) {
      return { kind: 'unavailable', cause: `${label}: the gateway refused the API key (check SMS_GATEWAY_API_KEY)` }
    }
    if (status === 408 || status === 429 || status >= 500) {
      const message = gatewayMessage(text)
      return { kind: 'retry', cause: message ? `${label}: ${message}` : label, retryAfterMs: status === 429 ? retryAfterMs(headers.get('retry-after')) : null }
    }
    const message = gatewayMessage(text)
    return { kind: 'unavailable', cause: message ? `${label}: ${message}` : label }
  }

  /**
   * A signal for one request: aborted after `timeoutMs` or when the adapter closes. clear() must
   * follow the request (it stops the timer and lets go of the adapter's close signal).
   */
  #deadline(): { signal: AbortSignal; timedOut(): boolean; clear(): void } {
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort(new Error(`no answer within ${this.#timeoutMs} ms`))
    }, this.#timeoutMs)
    const onClose = (): void => controller.abort(new Error('adapter closed'))
    const closing = this.#closing.signal
    if (closing.aborted) onClose()
    else closing.addEventListener('abort', onClose, { once: true })
    return {
      signal: controller.signal,
      timedOut: () => timedOut,
      clear: () => {
        clearTimeout(timer)
        closing.removeEventListener('abort', onClose)
      },
    }
  }

  /** waits `ms`, or less when the adapter closes */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#closing.signal
      if (signal.aborted) return resolve()
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
    })
  }
}

/** `provider_message_id` (or `id`) of a JSON body, as a non-empty string; null when there is none. */
function providerMessageId(text: string): string | null {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof body !== 'object' || body === null) return null
  const record = body as Record<string, unknown>
  for (const key of ['provider_message_id', 'id']) {
    const value = record[key]
    if (typeof value === 'string' && value.trim() !== '' && value.length <= 200) return value.trim()
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  }
  return null
}

/** The gateway's explanation in an error body: a JSON message field, else the text itself. */
function gatewayMessage(text: string): string | null {
  const trimmed = text.trim()
  if (trimmed === '') return null
  let body: unknown
  try {
    body = JSON.parse(trimmed)
  } catch {
    return clip(trimmed)
  }
  if (typeof body === 'string' && body.trim() !== '') return clip(body.trim())
  if (typeof body !== 'object' || body === null) return clip(trimmed)
  const record = body as Record<string, unknown>
  for (const key of ['message', 'error', 'detail', 'reason', 'error_description']) {
    const value = record[key]
    if (typeof value === 'string' && value.trim() !== '') return clip(value.trim())
    if (typeof value === 'object' && value !== null) {
      const nested = (value as Record<string, unknown>).message
      if (typeof nested === 'string' && nested.trim() !== '') return clip(nested.trim())
    }
  }
  return clip(trimmed)
}

const clip = (text: string): string => (text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 1)}…` : text)

/** Retry-After as milliseconds: delta seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | null {
  if (header === null) return null
  const value = header.trim()
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const date = Date.parse(value)
  if (Number.isNaN(date)) return null
  return Math.max(0, date - now)
}
