import { randomUUID } from 'node:crypto'
import type { EventMetadata } from '../infra/eventStore/eventStore.ts'

/** Who acts: a signed-in user, or the system itself (a reactor, a timer). */
export interface Actor {
  userId: string | null
  /** display name, carried into events that readers show ("David Ochieng approved template …") */
  name: string
}

export const systemActor: Actor = { userId: null, name: 'System' }

/** Everything about a command that is not its payload: the tenant, the actor, tracing, the time. */
export interface CommandContext {
  tenantId: string
  actor: Actor
  correlationId: string
  causationId: string | null
  ip: string | null
  userAgent: string | null
  /** the moment the command is decided, from the injected clock */
  now: Date
}

export const EVENT_SCHEMA_VERSION = 1

export function eventMetadata(context: CommandContext): EventMetadata {
  return {
    tenantId: context.tenantId,
    userId: context.actor.userId,
    correlationId: context.correlationId,
    causationId: context.causationId,
    ip: context.ip,
    userAgent: context.userAgent,
    occurredAt: context.now.toISOString(),
    schemaVersion: EVENT_SCHEMA_VERSION,
  }
}

/** A context for work the system does by itself in reaction to an event. */
export function systemContext(tenantId: string, now: Date, cause: { id: string; metadata: EventMetadata }): CommandContext {
  return {
    tenantId,
    actor: systemActor,
    correlationId: cause.metadata.correlationId || randomUUID(),
    causationId: cause.id,
    ip: null,
    userAgent: null,
    now,
  }
}

/**
 * A context for work the system does by itself on a timer or a job (a scheduled start, a send):
 * a fresh correlation id, no cause to point at.
 */
export function systemJobContext(tenantId: string, now: Date): CommandContext {
  return { tenantId, actor: systemActor, correlationId: randomUUID(), causationId: null, ip: null, userAgent: null, now }
}
