import type { ContactCriteria } from '../contactCriteria.ts'
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
  /**
   * The recipients of a campaign: the union of the named contacts and of the contacts matching
   * each criteria set (a segment's, or the campaign's own target criteria), deduplicated, keeping
   * only those that may receive messages, with the count of each reason for leaving one out.
   */
  resolve(tenantId: string, targets: RecipientTargets): Promise<RecipientResolution>
}

export interface RecipientTargets {
  contactIds: readonly string[]
  criteria: readonly ContactCriteria[]
}

export interface RecipientResolution {
  /** eligible recipients, each once, ordered by contact id */
  recipients: Recipient[]
  /** references before deduplication: named ids plus every criteria match */
  referenced: number
  /** references dropped because the same contact was already referenced */
  duplicates: number
  /** distinct referenced contacts left out, by reason (each contact counted under its first reason) */
  excluded: {
    /** no such contact in the tenant */
    unknown: number
    deleted: number
    inactive: number
    /** opted out explicitly */
    optedOut: number
    /** never opted in */
    notOptedIn: number
    /** no usable phone number */
    invalidNumber: number
  }
}

export interface CampaignOutcomeCounts {
  /** the campaign's messages the provider accepted (messageSent) */
  sent: number
  /** delivered (a read message counts as delivered too) */
  delivered: number
  read: number
  /** failed: refused by the provider, or reported failed after sending */
  failed: number
  /** never sent: the contact opted out or was deleted, or the campaign ended first */
  cancelled: number
}

export interface CampaignOutcomes {
  /** the counts as of every event appended before this call */
  countsFor(tenantId: string, campaignId: string): Promise<CampaignOutcomeCounts>
  /**
   * the counts as of at least `position` of the log (an event the caller has seen): no wait for
   * the log's head, which keeps moving while a campaign is being delivered
   */
  countsAsOf?(tenantId: string, campaignId: string, position: number): Promise<CampaignOutcomeCounts>
}
