import { NotFound } from '../../infra/errors.ts'
import { streamName, type AppendRequest, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import type { ContactCriteria } from '../contactCriteria.ts'
import { expectedVersionOf, loadAggregate, toNewEvents, withConcurrencyRetry, type LoadedAggregate } from '../commandExecution.ts'
import { fold } from '../decider.ts'
import { segmentDecider, type ExistingSegment, type SegmentCommand, type SegmentDefinition, type SegmentState } from './segmentDecider.ts'
import { segmentNameDecider, type SegmentNameState } from './segmentNameDecider.ts'

export const segmentStream = (segmentId: string): string => streamName('segment', segmentId)

/** Names are unique per tenant without regard to case or surrounding spaces. */
export const segmentNameKey = (name: string): string => name.trim().toLowerCase()

export const segmentNameStream = (tenantId: string, name: string): string => streamName('segmentName', `${tenantId}:${segmentNameKey(name)}`)

/** What segment commands need from the read side (app.ts injects it, backed by contact_directory). */
export interface SegmentContactCounter {
  /** the tenant's non-deleted contacts matching the criteria, once the read model has caught up */
  countMatching(tenantId: string, criteria: ContactCriteria): Promise<number>
}

export interface SegmentDeps {
  store: EventStore
  contacts: SegmentContactCounter
}

export interface SegmentOutcome {
  segment: ExistingSegment
  /** global position of the segment's last event after the command */
  position: number
}

/** A segment as other aggregates' commands need it (campaign targeting). */
export interface TenantSegment {
  segmentId: string
  name: string
  criteria: ContactCriteria
}

function belongsTo(state: SegmentState, tenantId: string): state is ExistingSegment {
  return state.status === 'active' && state.tenantId === tenantId
}

function segmentOf(state: SegmentState): ExistingSegment {
  if (state.status === 'absent') throw new Error('segment state is absent after a command that creates it')
  return state
}

/**
 * The segment's name and criteria, or null when it does not exist in this tenant: missing,
 * deleted and another tenant's segments are all as absent. Campaigns resolve target_segment_ids here.
 */
export async function findTenantSegment(store: EventStore, tenantId: string, segmentId: string): Promise<TenantSegment | null> {
  const loaded = await loadAggregate(store, segmentStream(segmentId), segmentDecider)
  if (!belongsTo(loaded.state, tenantId)) return null
  return { segmentId: loaded.state.segmentId, name: loaded.state.name, criteria: loaded.state.criteria }
}

async function loadTenantSegment(store: EventStore, tenantId: string, segmentId: string): Promise<LoadedAggregate<SegmentState>> {
  const loaded = await loadAggregate(store, segmentStream(segmentId), segmentDecider)
  if (!belongsTo(loaded.state, tenantId)) throw new NotFound('Segment not found')
  return loaded
}

/** The append that claims (or releases) a name for a segment; nothing when it already is as wanted. */
async function nameAppend(store: EventStore, context: CommandContext, action: 'claimName' | 'releaseName', name: string, segmentId: string): Promise<AppendRequest[]> {
  const stream = segmentNameStream(context.tenantId, name)
  const loaded: LoadedAggregate<SegmentNameState> = await loadAggregate(store, stream, segmentNameDecider)
  const key = segmentNameKey(name)
  const events = segmentNameDecider.decide(
    action === 'claimName' ? { type: 'claimName', key, name: name.trim(), segmentId } : { type: 'releaseName', key, segmentId },
    loaded.state,
  )
  if (events.length === 0) return []
  return [{ streamName: stream, expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) }]
}

/**
 * Runs one segment command: decide against the loaded state, then append the segment's events
 * together with any name claims and releases in one atomic append (retried on a concurrent write).
 */
async function runSegmentCommand(
  store: EventStore,
  context: CommandContext,
  segmentId: string,
  load: () => Promise<LoadedAggregate<SegmentState>>,
  makeCommand: (state: SegmentState) => Promise<SegmentCommand> | SegmentCommand,
  nameChanges: (before: SegmentState, after: SegmentState) => Promise<AppendRequest[]> = async () => [],
): Promise<SegmentOutcome> {
  return withConcurrencyRetry(async () => {
    const loaded = await load()
    const events = segmentDecider.decide(await makeCommand(loaded.state), loaded.state)
    if (events.length === 0) return { segment: segmentOf(loaded.state), position: loaded.lastPosition }
    const next = fold(segmentDecider.evolve, loaded.state, events)
    const result = await store.append([
      { streamName: segmentStream(segmentId), expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) },
      ...(await nameChanges(loaded.state, next)),
    ])
    return { segment: segmentOf(next), position: result.lastPosition }
  })
}

function sameCriteria(state: SegmentState, criteria: ContactCriteria): boolean {
  return state.status === 'active' && JSON.stringify(state.criteria) === JSON.stringify(criteria)
}

function nameOf(state: SegmentState): string | null {
  return state.status === 'active' ? state.name : null
}

/** Claims the new name and releases the old one when the name changed (by more than its case). */
function renameAppends(store: EventStore, context: CommandContext, segmentId: string) {
  return async (before: SegmentState, after: SegmentState): Promise<AppendRequest[]> => {
    const [oldName, newName] = [nameOf(before), nameOf(after)]
    if (oldName !== null && newName !== null && segmentNameKey(oldName) === segmentNameKey(newName)) return []
    return [
      ...(newName !== null ? await nameAppend(store, context, 'claimName', newName, segmentId) : []),
      ...(oldName !== null ? await nameAppend(store, context, 'releaseName', oldName, segmentId) : []),
    ]
  }
}

/** Creates the segment, counted at once. */
export function createSegment(deps: SegmentDeps, context: CommandContext, definition: SegmentDefinition): Promise<SegmentOutcome> {
  const segmentId = newId()
  return runSegmentCommand(
    deps.store,
    context,
    segmentId,
    () => loadAggregate(deps.store, segmentStream(segmentId), segmentDecider),
    async () => ({
      type: 'createSegment',
      segmentId,
      tenantId: context.tenantId,
      createdBy: context.actor,
      count: await deps.contacts.countMatching(context.tenantId, definition.criteria),
      now: context.now,
      ...definition,
    }),
    renameAppends(deps.store, context, segmentId),
  )
}

/** PUT: replaces the definition (name, description, criteria) whole; new criteria are counted at once. */
export function updateSegment(deps: SegmentDeps, context: CommandContext, segmentId: string, definition: SegmentDefinition): Promise<SegmentOutcome> {
  return runSegmentCommand(
    deps.store,
    context,
    segmentId,
    () => loadTenantSegment(deps.store, context.tenantId, segmentId),
    async (state) => ({
      type: 'updateSegment',
      count: sameCriteria(state, definition.criteria) ? 0 : await deps.contacts.countMatching(context.tenantId, definition.criteria),
      now: context.now,
      ...definition,
    }),
    renameAppends(deps.store, context, segmentId),
  )
}

/** Soft delete: the segment stays in the log; its name is free for a new segment. */
export function deleteSegment(deps: Pick<SegmentDeps, 'store'>, context: CommandContext, segmentId: string): Promise<SegmentOutcome> {
  return runSegmentCommand(
    deps.store,
    context,
    segmentId,
    () => loadTenantSegment(deps.store, context.tenantId, segmentId),
    () => ({ type: 'deleteSegment', now: context.now }),
    renameAppends(deps.store, context, segmentId),
  )
}

/** Counts the contacts matching the segment now (from the contact read model) and records the number. */
export function countSegment(deps: SegmentDeps, context: CommandContext, segmentId: string): Promise<SegmentOutcome> {
  return runSegmentCommand(
    deps.store,
    context,
    segmentId,
    () => loadTenantSegment(deps.store, context.tenantId, segmentId),
    async (state) => ({ type: 'countSegment', count: await deps.contacts.countMatching(context.tenantId, segmentOf(state).criteria), now: context.now }),
  )
}
