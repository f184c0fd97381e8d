import type { KeyHolderHints } from './contactCommands.ts'

/**
 * What the contact commands may ask the contact directory (app.ts injects it). Neither answer is
 * authoritative, and neither waits for the read model: they are hints and display facts only.
 */
export interface ContactDirectoryLookups {
  /** when the contact was last messaged, as far as the read model knows (null when never) */
  lastContactedAt(tenantId: string, contactId: string): Promise<string | null>
  /**
   * The tenant's non-deleted contacts holding these phone numbers and emails, keyed
   * `phone:<e164>` / `email:<address>` (see keyHintOf). Bulk imports use them to skip reading the
   * key streams of contacts that exist; the contact's own stream confirms each hint.
   */
  keyHolders(tenantId: string, phones: readonly string[], emails: readonly string[]): Promise<KeyHolderHints>
}
