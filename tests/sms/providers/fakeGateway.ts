import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request the fake gateway received. */
export interface SeenRequest {
  /** performance.now() when its body had arrived */
  at: number
  method: string
  path: string
  headers: IncomingMessage['headers']
  body: string
}

/** Answers the `index`-th request (0 for the first); may leave `response` unanswered (a hang). */
export type GatewayHandler = (request: SeenRequest, response: ServerResponse, index: number) => void

export interface FakeGateway {
  /** base URL, e.g. http://127.0.0.1:<port> */
  url: string
  requests: SeenRequest[]
  close(): Promise<void>
}

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

/**
 * A real HTTP server on loopback and an ephemeral port standing in for the SMS gateway (the
 * gateway is outside the service, so the adapter is tested against a real server, not a mock).
 */
export async function startFakeGateway(t: Teardown, handler: GatewayHandler): Promise<FakeGateway> {
  const requests: SeenRequest[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const seen: SeenRequest = {
        at: performance.now(),
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      const index = requests.length
      requests.push(seen)
      handler(seen, response, index)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(close)
  return { url: `http://127.0.0.1:${port}`, requests, close }
}

export function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'Content-Type': 'application/json', ...headers })
  response.end(JSON.stringify(body))
}

/** A loopback port with nothing listening on it (connections to it are refused). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
