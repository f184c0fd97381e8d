import type { ExistingContact } from './contactDecider.ts'

/**
 * A contact as the API shows it (the spec's field names), from the aggregate's state. The
 * aggregate does not know when the contact was last messaged: `lastContactedAt` comes from the
 * contact directory where the caller has it, else it is null.
 */
export function contactView(contact: ExistingContact, lastContactedAt: string | null = null) {
  return {
    id: contact.contactId,
    name: contact.profile.name,
    phone_e164: contact.profile.phone,
    email: contact.profile.email,
    is_active: contact.profile.isActive,
    is_opted_in: contact.isOptedIn,
    opt_in_at: contact.optInAt,
    last_contacted_at: lastContactedAt,
    attributes: contact.profile.attributes,
    tags: contact.profile.tags,
    created_at: contact.createdAt,
    updated_at: contact.updatedAt,
  }
}

/** The details (GET and PUT /contacts/{id}/): the list's fields plus the opt-out facts. */
export function contactDetailView(contact: ExistingContact, lastContactedAt: string | null = null) {
  return { ...contactView(contact, lastContactedAt), opt_out_at: contact.optOutAt, opt_out_reason: contact.optOutReason }
}
