import type { ContactEvent, ContactProfile } from '../../commands/contacts/contactEvents.ts'

/** The contact the contact decider specs start from: Jane Smith, created through the API. */

export const contactId = '0b8f4a52-3c61-4b0e-9a43-5f1d2f0c7a10'
export const tenantId = 'a6c1d2e3-4f50-4a61-8b72-9c8d7e6f5a40'

/** when Jane was created */
export const createdAt = '2026-03-10T09:00:00.000Z'

export const profile: ContactProfile = {
  name: 'Jane Smith',
  phone: '+255712345678',
  email: 'jane@example.com',
  tags: ['vip'],
  attributes: { company: 'Acme Corp', seats: 3 },
  isActive: true,
}

export const created: ContactEvent = {
  type: 'contactCreated',
  data: { contactId, tenantId, profile, source: 'api', importId: null, at: createdAt },
}
