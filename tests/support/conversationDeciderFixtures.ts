import type { Actor } from '../../commands/commandContext.ts'
import type { ContactSnapshot } from '../../commands/conversations/contactSnapshot.ts'

/**
 * The conversation the conversation and message decider specs play in: David Ochieng of one
 * tenant talks with the contact John Kamau in the conversation "Kenya Coffee Exports".
 */

export const tenantId = '5d0f3b2a-1c4e-4f6a-9b8d-7e6f5a4b3c21'
export const conversationId = 'c3a1e2f4-5b6d-4c7e-8f90-a1b2c3d4e5f6'
export const contactId = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b'
export const messageId = '7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910'

/** the tenant's user who starts the conversation and writes in it */
export const agent: Actor = { userId: 'd1e2f3a4-b5c6-4d7e-8f90-0a1b2c3d4e5f', name: 'David Ochieng' }

/** John Kamau as a command finds him: reachable, opted in */
export const contact: ContactSnapshot = { contactId, name: 'John Kamau', phone: '+255712345678', optedOut: false, deleted: false }
