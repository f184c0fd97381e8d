import type { CampaignType } from './campaignEvents.ts'

/**
 * The campaign state machine, as data: the decider enforces it, and the campaign list derives its
 * action permissions (can_edit, can_start, can_pause, can_cancel) from the same table.
 *
 *   draft ──start──▶ running ──pause──▶ paused ──resume──▶ running
 *   scheduled ──start──▶ running        running, paused ──complete──▶ completed
 *   draft, scheduled, running, paused ──cancel──▶ cancelled
 *   draft ◀──(scheduled_at cleared)── scheduled ◀──(scheduled_at set)── draft
 *
 * `failed` is a status of the spec that no command reaches yet (the delivery pipeline will).
 */
export const CAMPAIGN_STATUSES = ['draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled', 'failed'] as const
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number]

export const CAMPAIGN_TYPES = ['sms', 'whatsapp', 'email', 'mixed'] as const satisfies readonly CampaignType[]

export const STATUS_DISPLAY: Record<CampaignStatus, string> = {
  draft: 'Draft',
  scheduled: 'Scheduled',
  running: 'Running',
  paused: 'Paused',
  completed: 'Completed',
  cancelled: 'Cancelled',
  failed: 'Failed',
}

export const CAMPAIGN_TYPE_DISPLAY: Record<CampaignType, string> = { sms: 'SMS', whatsapp: 'WhatsApp', email: 'Email', mixed: 'Mixed' }

interface ActionRule {
  /** the statuses the action is allowed in, in the order refusals list them */
  from: readonly CampaignStatus[]
  /** the refusal's message ("Campaign cannot be started") */
  refusal: string
}

export const CAMPAIGN_ACTIONS = {
  edit: { from: ['draft', 'scheduled'], refusal: 'Campaign cannot be edited' },
  delete: { from: ['draft'], refusal: 'Campaign cannot be deleted' },
  start: { from: ['draft', 'scheduled'], refusal: 'Campaign cannot be started' },
  pause: { from: ['running'], refusal: 'Campaign cannot be paused' },
  resume: { from: ['paused'], refusal: 'Campaign cannot be resumed' },
  cancel: { from: ['draft', 'scheduled', 'running', 'paused'], refusal: 'Campaign cannot be cancelled' },
  complete: { from: ['running', 'paused'], refusal: 'Campaign cannot be completed' },
} as const satisfies Record<string, ActionRule>

export type CampaignAction = keyof typeof CAMPAIGN_ACTIONS

export function can(action: CampaignAction, status: CampaignStatus): boolean {
  return (CAMPAIGN_ACTIONS[action].from as readonly CampaignStatus[]).includes(status)
}

/** Statuses in which a campaign is under way or about to be: the list's `is_active`. */
export const ACTIVE_STATUSES = ['scheduled', 'running', 'paused'] as const satisfies readonly CampaignStatus[]

export const isActive = (status: CampaignStatus): boolean => (ACTIVE_STATUSES as readonly CampaignStatus[]).includes(status)
