import { sql } from 'kysely'
import type { BenchContext, BenchDataset, BenchMode } from '../harness/benchmark.ts'
import { createBenchDatabase } from '../harness/databases.ts'
import { projections, schemaMigrations } from '../../app.ts'
import { migrateToLatest } from '../../infra/database/migrations.ts'
import { openSqlDatabase, type SqlDatabase } from '../../infra/database/sqlDatabase.ts'
import { PostgresEventStore } from '../../infra/eventStore/postgresEventStore.ts'
import { UpcastingEventStore } from '../../infra/eventStore/upcasting.ts'
import { eventVersions } from '../../commands/eventVersions.ts'
import { insertCredentials } from '../../infra/auth/credentialStore.ts'
import { hashPassword } from '../../infra/auth/passwords.ts'
import { ProjectionEngine } from '../../projections/engine/projectionEngine.ts'
import { AppendBatcher } from './appendBatcher.ts'
import { generateTenantHistory, planTenants, type TenantPlan } from './eventHistory.ts'

/**
 * The benchmark dataset: a fresh database, migrated as the service migrates it, holding a seeded
 * event history written through the event store's own append (many commands to an append), with
 * every projection caught up by the projection engine. The database is dropped at clean-up.
 */

export interface DatasetSize {
  events: number
  tenants: number
}

export const DATASET_SIZES: Record<BenchMode, DatasetSize> = {
  full: { events: 1_000_000, tenants: 200 },
  quick: { events: 100_000, tenants: 100 },
  smoke: { events: 2_000, tenants: 8 },
}

export const DATASET_SEED = 20_260_601

/** the largest tenant's admin signs in with this (its scrypt hash is in the credentials table) */
export const LARGEST_TENANT_PASSWORD = 'bench-kilimanjaro-2026'

/** lanes of tenants written concurrently (each lane makes one append at a time) */
const LANES = 4

/** events per append at most (an append is one transaction) */
const EVENTS_PER_APPEND = 2_000

export interface DatasetStatistics {
  events: number
  appends: number
  generationSeconds: number
  generationEventsPerSecond: number
  catchUpSeconds: number
}

/** what the last buildDataset of this process measured (the harness may print it) */
export let lastDatasetStatistics: DatasetStatistics | null = null

export async function buildDataset(ctx: BenchContext): Promise<BenchDataset> {
  const size = DATASET_SIZES[ctx.mode]
  // a bulk load: its commits need not wait for the disk (reset once the dataset is built, so
  // that the figures measure the server as configured)
  const created = await createBenchDatabase(ctx.postgresUrl, 'dataset', { synchronous_commit: 'off' })
  ctx.onCleanup(() => created.drop())
  const { name, url: databaseUrl } = created

  // a connection for each lane while writing, and for each projection runner while catching up
  const database = await openSqlDatabase({ databaseUrl, dataDir: 'memory://', poolSize: LANES + projections.length + 2 })
  try {
    await migrateToLatest(database.db, schemaMigrations)
    const store = await PostgresEventStore.open(database)
    try {
      // the history ends at the start of this hour: "today" and "this month" of the dashboards hold some of it
      const endsAt = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000)
      const plans = planTenants({ seed: DATASET_SEED, events: size.events, tenants: size.tenants, endsAt })
      ctx.log(`dataset: writing about ${size.events.toLocaleString('en')} events of ${plans.length} tenants into ${name}`)
      const started = performance.now()
      const { events, appends } = await writeHistory(store, plans, endsAt, (line) => ctx.log(line))
      const generationSeconds = (performance.now() - started) / 1000
      ctx.log(`dataset: ${events.toLocaleString('en')} events in ${appends.toLocaleString('en')} appends, ${generationSeconds.toFixed(1)} s (${Math.round(events / generationSeconds).toLocaleString('en')} events/s)`)

      // planner statistics, as autovacuum would gather them on a live database: without them the
      // projections' filtered reads of the log are planned as scans of every later event
      await sql`analyze`.execute(database.db)

      const largest = plans[0]!
      await insertCredentials(database.db as never, { user_id: largest.admin.userId, email: largest.admin.email, password_hash: await hashPassword(LARGEST_TENANT_PASSWORD) })

      const catchUpStarted = performance.now()
      await catchUpProjections(database, store, (line) => ctx.log(line))
      const catchUpSeconds = (performance.now() - catchUpStarted) / 1000
      ctx.log(`dataset: projections caught up in ${catchUpSeconds.toFixed(1)} s`)
      await sql`alter database ${sql.id(name)} reset synchronous_commit`.execute(database.db)
      lastDatasetStatistics = { events, appends, generationSeconds, generationEventsPerSecond: events / generationSeconds, catchUpSeconds }
      return { databaseUrl, events, tenants: plans.length, largestTenant: { tenantId: largest.tenantId, email: largest.admin.email, password: LARGEST_TENANT_PASSWORD } }
    } finally {
      await store.close()
    }
  } finally {
    await database.close()
  }
}

/** Writes every tenant's history, lanes of tenants concurrently; the largest tenant has a lane of its own. */
export async function writeHistory(store: PostgresEventStore, plans: readonly TenantPlan[], endsAt: Date, log: (line: string) => void): Promise<{ events: number; appends: number }> {
  const lanes: TenantPlan[][] = Array.from({ length: LANES }, () => [])
  const load = new Array<number>(LANES).fill(0)
  for (const plan of plans) {
    const lightest = load.indexOf(Math.min(...load))
    lanes[lightest]!.push(plan)
    load[lightest]! += plan.budget
  }
  const batchers = lanes.map(() => new AppendBatcher(store, EVENTS_PER_APPEND))
  const total = plans.reduce((sum, plan) => sum + plan.budget, 0)
  const started = performance.now()
  const progress = setInterval(() => {
    const done = batchers.reduce((sum, b) => sum + b.events, 0)
    const seconds = (performance.now() - started) / 1000
    log(`dataset: ${Math.round((done / total) * 100)}% (${done.toLocaleString('en')} events, ${Math.round(done / seconds).toLocaleString('en')}/s)`)
  }, 10_000)
  try {
    // in a lane every tenant writes at once, so that each append gathers many tenants' commands
    await Promise.all(lanes.map((lane, index) => batchers[index]!.run(lane.map((plan) => (emit) => generateTenantHistory(DATASET_SEED, plan, endsAt, emit).then(() => undefined)))))
  } finally {
    clearInterval(progress)
  }
  return { events: batchers.reduce((sum, b) => sum + b.events, 0), appends: batchers.reduce((sum, b) => sum + b.appends, 0) }
}

/** Runs every projection of the service from its checkpoint up to the head, as the service's engine would. */
export async function catchUpProjections(database: SqlDatabase, store: PostgresEventStore, log: (line: string) => void): Promise<void> {
  const upcasting = new UpcastingEventStore(store, eventVersions)
  // catch-up in batches larger than the live default: fewer round trips per event
  const engine = new ProjectionEngine({ db: database.db, store: upcasting, batchSize: 2_000 })
  engine.register(...projections)
  await engine.prepare()
  const head = await store.headPosition()
  engine.start()
  try {
    const started = performance.now()
    while (!(await engine.waitForAll(head, 10_000))) {
      const lagging = engine.report().filter((r) => r.position < head).map((r) => r.name)
      log(`dataset: catching up projections (${Math.round((performance.now() - started) / 1000)} s): ${lagging.join(', ')}`)
      const failed = engine.report().filter((r) => r.status === 'failed')
      if (failed.length > 0) throw new Error(`projections failed while catching up: ${failed.map((r) => `${r.name}: ${r.lastError}`).join('; ')}`)
    }
  } finally {
    await engine.stop()
  }
}
