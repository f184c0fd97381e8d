import type { Clock } from '../../infra/clock.ts'
import { BusinessRuleViolation, NotFound } from '../../infra/errors.ts'
import type { EventStore, RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { JobDelayed, JobUnrecoverable, type JobQueue, type NewJob, type RunningJob } from '../../infra/queue/jobQueue.ts'
import { systemContext, systemJobContext } from '../commandContext.ts'
import { loadAggregate } from '../commandExecution.ts'
import type { MessageEvent } from '../messages/messageEvents.ts'
import type { CampaignGate, CampaignSendDecision } from '../messages/messageSending.ts'
import { campaignStream, completeCampaign, startCampaign, type CampaignDeps } from './campaignCommands.ts'
import { campaignDecider, type CampaignState, type ExistingCampaign } from './campaignDecider.ts'
import type { CampaignEvent } from './campaignEvents.ts'

/**
 * The campaign side of delivery: what a campaign's status means for its queued messages (the
 * send gate), scheduled campaigns starting by themselves (delayed start jobs), and campaigns
 * completing by themselves (when every recipient's message has a final outcome, or at a timeout).
 */

export const campaignStartQueueName = 'campaign-start'
export const campaignTimeoutQueueName = 'campaign-timeout'

/** Start a scheduled campaign, if it is still scheduled at this very time. */
export interface CampaignStartJob {
  campaignId: string
  tenantId: string
  /** ISO time the campaign was scheduled for when the job was made */
  scheduledAt: string
}

/** Complete a running or paused campaign: its completion timeout has passed. */
export interface CampaignTimeoutJob {
  campaignId: string
  tenantId: string
}

/** A rescheduled campaign gets a new job: the old one finds another time on the campaign and does nothing. */
export const campaignStartJobId = (campaignId: string, scheduledAt: string): string => `start-${campaignId}-${Date.parse(scheduledAt)}`
export const campaignTimeoutJobId = (campaignId: string): string => `timeout-${campaignId}`

/**
 * The longest delay handed to a queue at once (timers overflow past 24.8 days); a job that comes
 * back before its time waits again.
 */
export const MAX_JOB_DELAY_MS = 7 * 24 * 3600 * 1000

const delayUntil = (dueMs: number, nowMs: number): number => Math.min(MAX_JOB_DELAY_MS, Math.max(0, dueMs - nowMs))

/** INVALID_STATUS: the campaign moved on meanwhile (started, completed, cancelled by someone else). */
const movedOn = (error: unknown): boolean => error instanceof BusinessRuleViolation && error.errorCode === 'INVALID_STATUS'

function ownCampaign(state: CampaignState, tenantId: string): ExistingCampaign | null {
  return state.status !== 'absent' && state.tenantId === tenantId && state.deletedAt === null ? state : null
}

/**
 * Campaign states for the send processor, kept per process and brought up to date on every look
 * by reading only the events appended since (one small read, usually empty), without folding the
 * recipient lists again for every message: a send sees every pause or cancellation recorded
 * before it asked. With `freshMs` (default 0: off) a state read less than that long ago is used as
 * it is, saving the read at the price of sends that far behind a pause or a cancellation.
 */
export class CampaignStates {
  readonly #store: EventStore
  readonly #limit: number
  readonly #freshMs: number
  readonly #entries = new Map<string, { state: CampaignState; version: number; readAt: number }>()

  constructor(store: EventStore, options: { limit?: number; freshMs?: number } = {}) {
    this.#store = store
    this.#limit = options.limit ?? 1000
    this.#freshMs = options.freshMs ?? 0
  }

  readonly #reads = new Map<string, { running: Promise<CampaignState>; next: Promise<CampaignState> | null }>()

  /**
   * The campaign as of a read that starts after this call. Looks at the same campaign while a read
   * of it is under way share the one read that follows it: fifty sends at a time cost one small
   * read per round, not fifty, and none of them misses what was recorded before it asked.
   */
  current(campaignId: string): Promise<CampaignState> {
    const reading = this.#reads.get(campaignId)
    if (!reading) {
      const entry: { running: Promise<CampaignState>; next: Promise<CampaignState> | null } = { running: this.#read(campaignId), next: null }
      this.#reads.set(campaignId, entry)
      const done = (): void => {
        if (this.#reads.get(campaignId) === entry && entry.next === null) this.#reads.delete(campaignId)
      }
      entry.running.then(done, done)
      return entry.running
    }
    reading.next ??= reading.running
      .catch(() => undefined)
      .then(() => {
        const next = reading.next!
        reading.running = next
        reading.next = null
        const done = (): void => {
          if (this.#reads.get(campaignId) === reading && reading.running === next && reading.next === null) this.#reads.delete(campaignId)
        }
        next.then(done, done)
        return this.#read(campaignId)
      })
    return reading.next
  }

  async #read(campaignId: string): Promise<CampaignState> {
    const cached = this.#entries.get(campaignId)
    const readAt = Date.now()
    if (cached && this.#freshMs > 0 && readAt - cached.readAt < this.#freshMs) return cached.state
    const slice = await this.#store.readStream(campaignStream(campaignId), cached ? { fromVersion: cached.version + 1 } : {})
    let state: CampaignState = cached?.state ?? campaignDecider.initialState
    let version = cached?.version ?? -1
    for (const event of slice.events) {
      if (event.streamVersion <= version) continue
      state = campaignDecider.evolve(state, { type: event.type, data: event.data } as CampaignEvent)
      version = event.streamVersion
    }
    // concurrent looks may finish in any order: keep the most advanced
    const latest = this.#entries.get(campaignId)
    if (!latest || latest.version < version || (latest.version === version && latest.readAt < readAt)) {
      this.#entries.delete(campaignId)
      this.#entries.set(campaignId, { state, version, readAt })
      if (this.#entries.size > this.#limit) {
        const oldest = this.#entries.keys().next()
        if (!oldest.done) this.#entries.delete(oldest.value)
      }
    }
    return state
  }
}

/**
 * How long a message of a paused campaign waits before it asks again: 2 seconds at first, then
 * half the time the campaign has been paused, up to 30 seconds, with a little jitter. Each look
 * costs a job run (and a token of the provider's rate limit), so a long pause of a big campaign
 * must not keep the send queue busy; a resume is seen within that wait.
 */
export function pausedRetryMs(pausedAt: string | null, nowMs: number, random: () => number = Math.random): number {
  const paused = pausedAt ? Math.max(0, nowMs - Date.parse(pausedAt)) : 0
  const base = Math.min(30_000, Math.max(2000, paused / 2))
  return Math.round(base * (1 + random() * 0.2))
}

/** The send gate: running sends, paused waits, anything else cancels what is not sent yet. */
export function campaignSendGate(states: CampaignStates, clock: Clock): CampaignGate {
  return async (tenantId, campaignId): Promise<CampaignSendDecision> => {
    const campaign = ownCampaign(await states.current(campaignId), tenantId)
    if (!campaign) return { action: 'cancel', reason: 'Campaign not found' }
    switch (campaign.status) {
      case 'running':
        return { action: 'send' }
      case 'paused':
        return { action: 'wait', retryInMs: pausedRetryMs(campaign.pausedAt, clock.now().getTime()) }
      case 'cancelled':
        return { action: 'cancel', reason: 'Campaign cancelled' }
      case 'completed':
        return { action: 'cancel', reason: 'Campaign completed before this message was sent' }
      case 'failed':
        return { action: 'cancel', reason: 'Campaign failed' }
      default:
        // draft or scheduled: a campaign has no messages before it starts; wait rather than guess
        return { action: 'wait', retryInMs: pausedRetryMs(null, 0) }
    }
  }
}

export interface CampaignJobQueues {
  start: JobQueue<CampaignStartJob>
  timeout: JobQueue<CampaignTimeoutJob>
}

export interface JobRetries {
  attempts: number
  backoffMs: number
}

/** The delayed start job of a scheduled campaign. */
export function startJobOf(retries: JobRetries, campaign: { campaignId: string; tenantId: string; scheduledAt: string }, nowMs: number): NewJob<CampaignStartJob> {
  return {
    data: { campaignId: campaign.campaignId, tenantId: campaign.tenantId, scheduledAt: campaign.scheduledAt },
    options: { jobId: campaignStartJobId(campaign.campaignId, campaign.scheduledAt), delayMs: delayUntil(Date.parse(campaign.scheduledAt), nowMs), ...retries },
  }
}

/** The delayed completion job of a started campaign: due `timeoutSeconds` after its start. */
export function timeoutJobOf(retries: JobRetries, campaign: { campaignId: string; tenantId: string; startedAt: string }, timeoutSeconds: number, nowMs: number): NewJob<CampaignTimeoutJob> {
  return {
    data: { campaignId: campaign.campaignId, tenantId: campaign.tenantId },
    options: { jobId: campaignTimeoutJobId(campaign.campaignId), delayMs: delayUntil(Date.parse(campaign.startedAt) + timeoutSeconds * 1000, nowMs), ...retries },
  }
}

export interface CampaignSchedulerDeps {
  store: EventStore
  queues: CampaignJobQueues
  clock: Clock
  retries: JobRetries
  timeoutSeconds: number
}

const scheduleEventTypes = ['campaignScheduled', 'campaignUnscheduled', 'campaignUpdated', 'campaignDeleted', 'campaignCancelled'] as const

/**
 * The campaign scheduler: a reactor that keeps each campaign's delayed jobs in line with it.
 * - When a campaign is scheduled, rescheduled, unscheduled, edited, deleted or cancelled, the
 *   campaign is read as it is now: a scheduled campaign has a start job for its current time;
 *   the start jobs of its earlier times are removed (were one to fire anyway, it would find
 *   another time on the campaign and do nothing).
 * - When a campaign starts, its completion timeout job is added; when it completes or is
 *   cancelled, that job is removed.
 * Idempotent: job ids follow from the campaign (and its time), and the campaign is read anew.
 */
export function campaignScheduler(deps: CampaignSchedulerDeps) {
  return {
    kind: 'reactor' as const,
    name: 'campaign_scheduler',
    version: 1,
    eventTypes: [...scheduleEventTypes, 'campaignStarted', 'campaignCompleted'] as const,
    async handle(events: readonly RecordedEvent[]): Promise<void> {
      const toSync = new Set<string>()
      const timeouts: NewJob<CampaignTimeoutJob>[] = []
      const finished = new Set<string>()
      const now = deps.clock.now().getTime()
      for (const recorded of events) {
        const event = recorded as unknown as CampaignEvent
        if ((scheduleEventTypes as readonly string[]).includes(event.type)) toSync.add(event.data.campaignId)
        if (event.type === 'campaignStarted') {
          timeouts.push(timeoutJobOf(deps.retries, { campaignId: event.data.campaignId, tenantId: event.data.tenantId, startedAt: event.data.at }, deps.timeoutSeconds, now))
          finished.delete(event.data.campaignId)
        }
        if (event.type === 'campaignCompleted' || event.type === 'campaignCancelled') finished.add(event.data.campaignId)
      }
      for (const campaignId of toSync) await syncStartJobs(deps, campaignId, now)
      if (timeouts.length > 0) await deps.queues.timeout.add(timeouts)
      for (const campaignId of finished) await deps.queues.timeout.remove(campaignTimeoutJobId(campaignId))
    },
  }
}

async function syncStartJobs(deps: CampaignSchedulerDeps, campaignId: string, nowMs: number): Promise<void> {
  const slice = await deps.store.readStream(campaignStream(campaignId))
  const events = slice.events.map((event) => ({ type: event.type, data: event.data }) as CampaignEvent)
  let state: CampaignState = campaignDecider.initialState
  for (const event of events) state = campaignDecider.evolve(state, event)
  const wanted =
    state.status === 'scheduled' && state.deletedAt === null && state.scheduledAt
      ? startJobOf(deps.retries, { campaignId, tenantId: state.tenantId, scheduledAt: state.scheduledAt }, nowMs)
      : null
  const earlier = new Set(events.flatMap((event) => (event.type === 'campaignScheduled' ? [campaignStartJobId(campaignId, event.data.scheduledAt)] : [])))
  if (wanted) {
    earlier.delete(wanted.options.jobId)
    await deps.queues.start.add([wanted])
  }
  for (const jobId of earlier) await deps.queues.start.remove(jobId)
}

export interface CampaignJobDeps {
  store: EventStore
  clock: Clock
  deps: Pick<CampaignDeps, 'store' | 'recipients' | 'pricing' | 'outcomes'>
  timeoutSeconds: number
  log?: { info(object: object, message: string): void; warn(object: object, message: string): void }
}

/**
 * Starts a scheduled campaign as the system, when the job's time is still the campaign's scheduled
 * time and it is still scheduled; otherwise (rescheduled, unscheduled, started by hand, cancelled,
 * deleted) does nothing. A start the campaign refuses for good (no recipients any more, too few
 * credits) fails the job at once, kept with its reason for ops; the campaign stays scheduled.
 */
export function scheduledStartProcessor(jobDeps: CampaignJobDeps): (job: RunningJob<CampaignStartJob>) => Promise<void> {
  return async (job) => {
    const { campaignId, tenantId, scheduledAt } = job.data
    const { state } = await loadAggregate(jobDeps.store, campaignStream(campaignId), campaignDecider)
    const campaign = ownCampaign(state, tenantId)
    if (!campaign || campaign.status !== 'scheduled' || !campaign.scheduledAt || Date.parse(campaign.scheduledAt) !== Date.parse(scheduledAt)) return
    const now = jobDeps.clock.now()
    const wait = delayUntil(Date.parse(campaign.scheduledAt), now.getTime())
    if (wait > 0) throw new JobDelayed(wait, 'not yet')
    try {
      await startCampaign(jobDeps.deps, systemJobContext(tenantId, now), campaignId)
      jobDeps.log?.info({ campaignId, tenantId, scheduledAt }, 'scheduled campaign started')
    } catch (error) {
      if (movedOn(error) || error instanceof NotFound) return
      if (error instanceof BusinessRuleViolation) {
        jobDeps.log?.warn({ campaignId, tenantId, errorCode: error.errorCode, reason: error.message }, 'scheduled campaign could not start')
        throw new JobUnrecoverable(`${error.errorCode}: ${error.message}`)
      }
      throw error
    }
  }
}

/** Completes a running or paused campaign as the system; a campaign that ended otherwise is left alone. */
async function completeBySystem(jobDeps: CampaignJobDeps, tenantId: string, campaignId: string, context: ReturnType<typeof systemJobContext>): Promise<boolean> {
  try {
    await completeCampaign(jobDeps.deps, context, campaignId)
    return true
  } catch (error) {
    if (movedOn(error) || error instanceof NotFound) return false
    throw error
  }
}

/** The completion timeout: the campaign completes with whatever outcomes it has by now. */
export function campaignTimeoutProcessor(jobDeps: CampaignJobDeps): (job: RunningJob<CampaignTimeoutJob>) => Promise<void> {
  return async (job) => {
    const { campaignId, tenantId } = job.data
    const { state } = await loadAggregate(jobDeps.store, campaignStream(campaignId), campaignDecider)
    const campaign = ownCampaign(state, tenantId)
    if (!campaign || (campaign.status !== 'running' && campaign.status !== 'paused') || !campaign.startedAt) return
    const now = jobDeps.clock.now()
    const wait = delayUntil(Date.parse(campaign.startedAt) + jobDeps.timeoutSeconds * 1000, now.getTime())
    if (wait > 0) throw new JobDelayed(wait, 'not yet')
    if (await completeBySystem(jobDeps, tenantId, campaignId, systemJobContext(tenantId, now))) {
      jobDeps.log?.info({ campaignId, tenantId, timeoutSeconds: jobDeps.timeoutSeconds }, 'campaign completed by its timeout')
    }
  }
}

type OutcomeEvent = Extract<MessageEvent, { type: 'messageDelivered' | 'messageFailed' | 'messageCancelled' }>

/**
 * Campaign completion: a reactor that, for each batch of final outcomes (delivered, failed,
 * cancelled), looks once at each campaign they belong to and completes it as the system when every
 * recipient's message has a final outcome. The counts come through the CampaignOutcomes port,
 * which first waits until the message history has caught up with the log, so a stale read model
 * never completes a campaign early; completeCampaign reads them the same way for its event.
 */
export function campaignCompletion(jobDeps: CampaignJobDeps) {
  // campaigns read incrementally: a big campaign's recipient lists are folded once, not per batch
  const states = new CampaignStates(jobDeps.store)
  return {
    kind: 'reactor' as const,
    name: 'campaign_completion',
    version: 1,
    eventTypes: ['messageDelivered', 'messageFailed', 'messageCancelled'] as const,
    async handle(events: readonly RecordedEvent[]): Promise<void> {
      const campaigns = new Map<string, RecordedEvent & { data: OutcomeEvent['data'] }>()
      for (const recorded of events) {
        const event = recorded as RecordedEvent & { data: OutcomeEvent['data'] }
        if (event.data.campaignId) campaigns.set(event.data.campaignId, event)
      }
      // outcomes after this batch come in later batches, which look again: the counts need to
      // include this batch, not the whole log as it is now
      const seen = events.reduce((highest, event) => Math.max(highest, event.position), 0)
      const { outcomes } = jobDeps.deps
      for (const [campaignId, cause] of campaigns) {
        const { tenantId } = cause.data
        const campaign = ownCampaign(await states.current(campaignId), tenantId)
        if (!campaign || (campaign.status !== 'running' && campaign.status !== 'paused')) continue
        const counts = outcomes.countsAsOf ? await outcomes.countsAsOf(tenantId, campaignId, seen) : await outcomes.countsFor(tenantId, campaignId)
        if (counts.delivered + counts.failed + counts.cancelled < campaign.recipientCount) continue
        const context = systemContext(tenantId, jobDeps.clock.now(), { id: cause.id, metadata: cause.metadata })
        if (await completeBySystem(jobDeps, tenantId, campaignId, context)) {
          jobDeps.log?.info({ campaignId, tenantId, ...counts, recipients: campaign.recipientCount }, 'campaign completed: every message has an outcome')
        }
      }
    },
  }
}
