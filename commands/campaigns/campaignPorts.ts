import type { Recipient } from './campaignEvents.ts'

/**
 * Facts the campaign commands need from the read side. app.ts injects implementations backed by
 * read models; each one first waits until its read model has caught up with the event log as it
 * was when the command began, so a command never decides on stale facts it could have seen.
 */
export interface RecipientDirectory {
  /**
   * The contacts among `contactIds` that belong to the tenant, are not deleted, are active, are
   * opted in and have a phone number, in the order given, without duplicates.
   */
  eligibleRecipients(tenantId: string, contactIds: readonly string[]): Promise<Recipient[]>
}

export interface CampaignOutcomeCounts {
  /** outbound messages created for the campaign */
  sent: number
  /** of those, delivered (a read message counts as delivered too) */
  delivered: number
  read: number
  failed: number
}

export interface CampaignOutcomes {
  countsFor(tenantId: string, campaignId: string): Promise<CampaignOutcomeCounts>
}
