import http from 'node:http'

/**
 * A Server-Sent Events client for tests, on node:http: it keeps every event and comment it
 * receives, and waits for the ones a test expects.
 */
export interface SseEvent {
  id: string | undefined
  event: string
  data: string
}

export interface SseStream {
  status: number
  headers: http.IncomingHttpHeaders
  events: SseEvent[]
  comments: string[]
  /** the `retry:` values received */
  retries: number[]
  /** true once the server ended the stream */
  ended: boolean
  /** the first event (received so far or later) for which `match` holds */
  next(match: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>
  /** the first comment (so far or later) for which `match` holds */
  nextComment(match: (comment: string) => boolean, timeoutMs?: number): Promise<string>
  /** resolves when the server ends the stream */
  endedPromise(timeoutMs?: number): Promise<void>
  /** the body when the answer was not a stream (an error) */
  body: string
  close(): void
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
      const waiters = new Set<() => void>()
      const wake = () => {
        for (const waiter of [...waiters]) waiter()
      }
      const wait = <T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
        new Promise<T>((done, fail) => {
          const check = () => {
            const found = find()
            if (found !== undefined) {
              cleanup()
              done(found)
            } else if (stream.ended) {
              cleanup()
              fail(new Error(`stream ended before ${what}`))
            }
          }
          const timer = setTimeout(() => {
            cleanup()
            fail(new Error(`timed out waiting for ${what}`))
          }, timeoutMs)
          const cleanup = () => {
            clearTimeout(timer)
            waiters.delete(check)
          }
          waiters.add(check)
          check()
        })
      const stream: SseStream = {
        status: response.statusCode ?? 0,
        headers: response.headers,
        events: [],
        comments: [],
        retries: [],
        ended: false,
        body: '',
        next: (match, timeoutMs = 15_000) => wait(() => stream.events.find(match), timeoutMs, 'an event'),
        nextComment: (match, timeoutMs = 15_000) => wait(() => stream.comments.find(match), timeoutMs, 'a comment'),
        endedPromise: (timeoutMs = 15_000) =>
          new Promise<void>((done, fail) => {
            wait(() => (stream.ended ? true : undefined), timeoutMs, 'the end').then(() => done(), (error: Error) => (stream.ended ? done() : fail(error)))
          }),
        close: () => {
          request.destroy()
        },
      }
      let buffer = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        if (!String(response.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          stream.body += chunk
          return
        }
        buffer += chunk
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event: SseEvent = { id: undefined, event: 'message', data: '' }
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) stream.comments.push(line.slice(1).trim())
            else if (line.startsWith('id:')) event.id = line.slice(3).trim()
            else if (line.startsWith('event:')) event.event = line.slice(6).trim()
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
            else if (line.startsWith('retry:')) stream.retries.push(Number(line.slice(6).trim()))
          }
          if (data.length > 0) {
            event.data = data.join('\n')
            stream.events.push(event)
          }
        }
        wake()
      })
      const finish = () => {
        stream.ended = true
        wake()
      }
      response.on('end', finish)
      response.on('close', finish)
      response.on('error', finish)
      resolve(stream)
    })
    request.on('error', reject)
  })
}
