import type { ExistingCampaign } from './campaignDecider.ts'

/** The campaign as the create answer shows it (the spec's field names). */
export function createdCampaignView(campaign: ExistingCampaign) {
  return {
    id: campaign.campaignId,
    name: campaign.name,
    description: campaign.description,
    campaign_type: campaign.campaignType,
    status: campaign.status,
    total_recipients: campaign.totalRecipients,
    estimated_cost: campaign.cost?.estimatedCost ?? 0,
    created_at: campaign.createdAt,
    target_contact_count: campaign.targetContactIds.length,
    target_segment_names: campaign.targetSegments.map((segment) => segment.name),
  }
}

/** The edit answer: the create answer's fields, and what an edit may have changed besides. */
export function updatedCampaignView(campaign: ExistingCampaign) {
  return {
    ...createdCampaignView(campaign),
    message_text: campaign.messageText,
    template: campaign.templateId,
    scheduled_at: campaign.scheduledAt,
    updated_at: campaign.updatedAt,
  }
}

export function startedCampaignView(campaign: ExistingCampaign) {
  return { id: campaign.campaignId, status: campaign.status, started_at: campaign.startedAt }
}

export function pausedCampaignView(campaign: ExistingCampaign) {
  return { id: campaign.campaignId, status: campaign.status, paused_at: campaign.pausedAt }
}

export function resumedCampaignView(campaign: ExistingCampaign) {
  return { id: campaign.campaignId, status: campaign.status, resumed_at: campaign.resumedAt }
}

export function cancelledCampaignView(campaign: ExistingCampaign) {
  return { id: campaign.campaignId, status: campaign.status, cancelled_at: campaign.cancelledAt }
}

export function completedCampaignView(campaign: ExistingCampaign) {
  return {
    id: campaign.campaignId,
    status: campaign.status,
    completed_at: campaign.completedAt,
    sent_count: campaign.outcome?.sentCount ?? 0,
    delivered_count: campaign.outcome?.deliveredCount ?? 0,
    read_count: campaign.outcome?.readCount ?? 0,
    failed_count: campaign.outcome?.failedCount ?? 0,
    delivery_rate: campaign.outcome?.deliveryRate ?? 0,
  }
}
