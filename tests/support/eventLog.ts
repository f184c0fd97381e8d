import { setTimeout as sleep } from 'node:timers/promises'
import { sql, type Kysely } from 'kysely'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'

/**
 * What the tests check about the event log itself: how many events it holds (to tell that a
 * refused command appended nothing) and when the global readers see up to a position.
 */

/**
 * Every event the store has committed, counted in its table: the readers' head
 * (`store.headPosition()`) lags while any transaction is open (a projector's, another test
 * database's), so it cannot tell "nothing appended" from "not visible yet".
 */
export async function committedEventCount(db: Kysely<any>): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from es_events`.execute(db)
  return rows[0]!.n
}

/** The one assertion appendsNothing makes (a tap test has it). */
export interface EqualAssertion {
  equal(found: unknown, wanted: unknown, message: string): boolean
}

/** Runs `refused` and checks that the store holds no new event: a refused command appends nothing. */
export async function appendsNothing(t: EqualAssertion, db: Kysely<any>, refused: () => Promise<unknown>): Promise<void> {
  const before = await committedEventCount(db)
  await refused()
  t.equal(await committedEventCount(db), before, 'nothing appended')
}

/**
 * Waits until the store's head has reached `position`: the global log shows an event only once
 * every older transaction in the cluster has ended, so a reader checks the log after the head has
 * reached the last position a response gave.
 */
export async function waitForHead(store: EventStore, position: number): Promise<void> {
  const deadline = Date.now() + 15_000
  while ((await store.headPosition()) < position) {
    if (Date.now() > deadline) throw new Error(`the event log did not reach position ${position}`)
    await sleep(20)
  }
}
