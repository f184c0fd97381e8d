import type { ExistingCampaign } from './campaignDecider.ts'

/** The campaign as the create answer shows it (the spec's field names). */
export function createdCampaignView(campaign: ExistingCampaign, totalRecipients: number) {
  return {
    id: campaign.campaignId,
    name: campaign.name,
    description: campaign.description,
    campaign_type: campaign.campaignType,
    status: campaign.status,
    total_recipients: totalRecipients,
    created_at: campaign.createdAt,
    target_contact_count: campaign.targetContactIds.length,
    // segments come with a later issue
    target_segment_names: [] as string[],
  }
}

export function startedCampaignView(campaign: ExistingCampaign) {
  return { id: campaign.campaignId, status: campaign.status, started_at: campaign.startedAt }
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
