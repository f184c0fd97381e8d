import type { ExistingContact } from './contactDecider.ts'

/** A contact as the API shows it (the spec's field names), from the aggregate's state. */
export function contactView(contact: ExistingContact) {
  return {
    id: contact.contactId,
    name: contact.profile.name,
    phone_e164: contact.profile.phone,
    email: contact.profile.email,
    is_active: contact.profile.isActive,
    is_opted_in: contact.isOptedIn,
    opt_in_at: contact.optInAt,
    last_contacted_at: null,
    attributes: contact.profile.attributes,
    tags: contact.profile.tags,
    created_at: contact.createdAt,
    updated_at: contact.updatedAt,
  }
}
