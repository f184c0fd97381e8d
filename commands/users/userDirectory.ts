import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import type { DescribeUsers, UserSummary } from '../../infra/ops/streamInspection.ts'
import { loadUser } from './registration.ts'
import { fullName } from './userDecider.ts'

/** at most this many user streams read at once */
const PARALLEL_READS = 8

/**
 * Who users are, by id, from their own streams (short: registration, memberships, profile
 * changes): their display name and email. For the inspection tools, which show who caused an
 * event; a user who no longer exists is left out.
 */
export function userDescriber(store: EventStore): DescribeUsers {
  return async (userIds) => {
    const found = new Map<string, UserSummary>()
    const ids = [...new Set(userIds)]
    for (let start = 0; start < ids.length; start += PARALLEL_READS) {
      await Promise.all(
        ids.slice(start, start + PARALLEL_READS).map(async (userId) => {
          const user = await loadUser(store, userId).catch(() => null)
          if (user) found.set(userId, { name: fullName(user), email: user.email })
        }),
      )
    }
    return found
  }
}
