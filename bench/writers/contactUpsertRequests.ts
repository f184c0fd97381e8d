import { randomInt } from 'node:crypto'

/**
 * The bodies of the contact upsert figure, one per request (autocannon calls setupRequest before
 * each): a new Tanzanian mobile number every time, so every request creates a contact and claims
 * its phone. The numbers start at a random offset, so runs against the same tenant do not meet.
 */
let next = randomInt(0, 5_000_000)

export function setupRequest<Request extends { body?: unknown }>(request: Request): Request {
  const number = next++
  const local = String(number % 10_000_000).padStart(7, '0')
  request.body = JSON.stringify({
    name: `Bench Contact ${number}`,
    phone_e164: `+25571${local}`,
    tags: ['bench', number % 2 === 0 ? 'even' : 'odd'],
    attributes: { city: 'Dar es Salaam', plan: 'basic' },
  })
  return request
}
