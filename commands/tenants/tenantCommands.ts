import { isSupportedCountry } from 'libphonenumber-js/min'
import { isValidTimeZone } from '../../infra/config.ts'
import { NotFound, PermissionDenied, ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { streamName } from '../../infra/eventStore/eventStore.ts'
import type { TenantRole } from '../../infra/http/authentication.ts'
import { newId } from '../../infra/ids.ts'
import type { Actor, CommandContext } from '../commandContext.ts'
import { executeCommand, expectedVersionOf, loadAggregate, toNewEvents, withConcurrencyRetry } from '../commandExecution.ts'
import { fold } from '../decider.ts'
import { userStream, type ActiveUser } from '../users/registration.ts'
import { fullName, userDecider, type Membership } from '../users/userDecider.ts'
import { tenantDecider, type TenantCommand, type TenantState } from './tenantDecider.ts'

export const tenantStream = (tenantId: string): string => streamName('tenant', tenantId)

export type ActiveTenant = Extract<TenantState, { status: 'active' }>

/** The tenant's current settings (name, time zone, default country), or null when it does not exist. */
export async function findTenant(store: EventStore, tenantId: string): Promise<ActiveTenant | null> {
  const { state } = await loadAggregate(store, tenantStream(tenantId), tenantDecider)
  return state.status === 'active' ? state : null
}

export interface TenantOutcome {
  tenant: ActiveTenant
  /** global position of the last event the command appended (or of the tenant's last event) */
  position: number
}

export interface TenantSettings {
  name?: string
  timezone?: string
  country?: string
}

/**
 * Settings as the tenant keeps them: a trimmed non-blank name, a known IANA zone, a supported
 * ISO 3166 country in upper case; every problem as a field error.
 */
export function validTenantSettings(input: TenantSettings): TenantSettings {
  const errors: Record<string, string[]> = {}
  const settings: TenantSettings = {}
  if (input.name !== undefined) {
    const name = input.name.trim()
    if (name === '') errors.name = ['This field may not be blank.']
    else settings.name = name
  }
  if (input.timezone !== undefined) {
    const timezone = input.timezone.trim()
    if (!isValidTimeZone(timezone)) errors.timezone = ['Unknown time zone.']
    else settings.timezone = timezone
  }
  if (input.country !== undefined) {
    const country = input.country.trim().toUpperCase()
    if (!isSupportedCountry(country)) errors.country = ['Unknown country: use an ISO 3166 code such as TZ or KE.']
    else settings.country = country
  }
  if (Object.keys(errors).length > 0) throw new ValidationFailed(errors)
  return settings
}

/** The user's membership of the tenant; a tenant the user does not belong to is not found. */
export function membershipOf(user: ActiveUser, tenantId: string): Membership {
  const membership = user.memberships.find((m) => m.tenantId === tenantId)
  if (!membership) throw new NotFound('Tenant not found')
  return membership
}

/** Only the tenant's admins change its settings and members. */
export function requireAdmin(user: ActiveUser, tenantId: string): Membership {
  const membership = membershipOf(user, tenantId)
  if (membership.role !== 'admin') throw new PermissionDenied('Only an admin of this tenant can do this.')
  return membership
}

const actorOf = (user: ActiveUser): Actor => ({ userId: user.userId, name: fullName(user) })

/**
 * A new tenant with the caller as its admin: tenantCreated and the caller's userJoinedTenant in
 * one atomic append (retried if the caller's stream moved meanwhile).
 */
export async function createTenant(
  store: EventStore,
  base: Omit<CommandContext, 'tenantId' | 'actor'>,
  userId: string,
  settings: Required<TenantSettings>,
): Promise<TenantOutcome & { membership: Membership }> {
  const tenantId = newId()
  return withConcurrencyRetry(async () => {
    const loaded = await loadAggregate(store, userStream(userId), userDecider)
    if (loaded.state.status !== 'active') throw new NotFound('User not found')
    const user = loaded.state
    const context: CommandContext = { ...base, tenantId, actor: actorOf(user) }
    const tenantEvents = tenantDecider.decide(
      { type: 'createTenant', tenantId, name: settings.name, timezone: settings.timezone, country: settings.country, createdBy: context.actor, now: context.now },
      tenantDecider.initialState,
    )
    const joinEvents = userDecider.decide({ type: 'joinTenant', tenantId, tenantName: settings.name, role: 'admin', now: context.now }, user)
    const result = await store.append([
      { streamName: tenantStream(tenantId), expectedVersion: 'no_stream', events: toNewEvents(tenantEvents, context) },
      { streamName: userStream(userId), expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(joinEvents, context) },
    ])
    const tenant = fold(tenantDecider.evolve, tenantDecider.initialState, tenantEvents) as ActiveTenant
    return { tenant, membership: membershipOf(fold(userDecider.evolve, user, joinEvents) as ActiveUser, tenantId), position: result.lastPosition }
  })
}

/** Changes the tenant's settings; the caller must be one of its admins (checked by the caller of this). */
export async function updateTenant(store: EventStore, context: CommandContext, settings: TenantSettings): Promise<TenantOutcome> {
  const outcome = await executeCommand(
    store,
    tenantDecider,
    tenantStream(context.tenantId),
    (): TenantCommand => ({ type: 'updateTenant', ...settings, updatedBy: context.actor, now: context.now }),
    context,
    (state) => {
      if (state.status !== 'active') throw new NotFound('Tenant not found')
    },
  )
  return { tenant: outcome.state as ActiveTenant, position: outcome.position }
}

/**
 * Adds a registered user to the tenant with a role: tenantMemberAdded on the tenant and
 * userJoinedTenant on the user, in one append checked against both streams' versions.
 */
export async function addMember(store: EventStore, context: CommandContext, memberId: string, role: TenantRole): Promise<TenantOutcome & { member: ActiveUser }> {
  return withConcurrencyRetry(async () => {
    const [tenantLoaded, memberLoaded] = await Promise.all([
      loadAggregate(store, tenantStream(context.tenantId), tenantDecider),
      loadAggregate(store, userStream(memberId), userDecider),
    ])
    if (tenantLoaded.state.status !== 'active') throw new NotFound('Tenant not found')
    if (memberLoaded.state.status !== 'active') throw ValidationFailed.field('email', 'No registered user has this email.')
    const member = memberLoaded.state
    const tenant = tenantLoaded.state
    const tenantEvents = tenantDecider.decide(
      { type: 'addMember', userId: member.userId, email: member.email, name: fullName(member), role, addedBy: context.actor, now: context.now },
      tenant,
    )
    const joinEvents = userDecider.decide({ type: 'joinTenant', tenantId: tenant.tenantId, tenantName: tenant.name, role, now: context.now }, member)
    const result = await store.append([
      { streamName: tenantStream(tenant.tenantId), expectedVersion: expectedVersionOf(tenantLoaded.version), events: toNewEvents(tenantEvents, context) },
      { streamName: userStream(member.userId), expectedVersion: expectedVersionOf(memberLoaded.version), events: toNewEvents(joinEvents, context) },
    ])
    return {
      tenant: fold(tenantDecider.evolve, tenant, tenantEvents) as ActiveTenant,
      member: fold(userDecider.evolve, member, joinEvents) as ActiveUser,
      position: result.lastPosition,
    }
  })
}

/** The user's tenants with their current settings, in the order the user joined them. */
export async function tenantsOf(store: EventStore, user: ActiveUser): Promise<{ membership: Membership; tenant: ActiveTenant }[]> {
  const tenants = await Promise.all(user.memberships.map((membership) => findTenant(store, membership.tenantId)))
  return user.memberships.flatMap((membership, index) => {
    const tenant = tenants[index]
    return tenant ? [{ membership, tenant }] : []
  })
}
