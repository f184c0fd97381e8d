import { randomUUID } from 'node:crypto'
import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { SqlDatabase } from '../database/sqlDatabase.ts'
import type { MigrationSet } from '../database/migrations.ts'
import {
  InvalidAppend,
  WrongExpectedVersion,
  type AppendRequest,
  type AppendResult,
  type CategorySummary,
  type EventMetadata,
  type EventStore,
  type ExpectedVersion,
  type GlobalSlice,
  type ListStreamsOptions,
  type ReadAllOptions,
  type ReadLogOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamSlice,
  type StreamSummary,
} from './eventStore.ts'

/**
 * The PostgreSQL event store.
 *
 * Global positions: a transaction's events get `xid * 2^20 + n`, where xid is the writer's
 * transaction id (pg_current_xact_id) and n counts the events that transaction has written. Every
 * transaction that has not finished has an xid at or above the snapshot's xmin, so a reader that
 * only reads positions below `xmin * 2^20` can never later meet an event below a position it has
 * already passed, however commits interleave. No lock serializes the writers; a long transaction
 * only delays readers until it ends (connections set idle_in_transaction_session_timeout).
 * The snapshot's xmin covers the whole server, not one database: a long write transaction in
 * another database on the same server (a CREATE DATABASE, a bulk load) delays readers here too.
 * Give the event store a server whose write transactions are short.
 *
 * An append is one call of the es_append() function, atomic over all its streams. Appends that
 * arrive while earlier ones are still on their way to the server travel together (group commit):
 * es_append_set() decides and writes them as sets (one statement locking their streams, one
 * checking every expected version and writing every event), each still succeeding or failing on
 * its own, and all that succeed commit together, in one round trip and one WAL flush. One writer alone is never delayed: its append goes out at once, as a plain es_append()
 * call (no subtransaction).
 */
export const POSITIONS_PER_TRANSACTION = 1_048_576

/**
 * The first position a reader may not read past yet: that of the oldest transaction of THIS
 * database still open in the reader's snapshot (it may commit events below positions already
 * visible), or the snapshot's xmax when none is. Transaction ids are cluster-wide, so the
 * snapshot's xmin alone would make every reader wait for any long transaction of any database
 * on the server; an in-progress id that pg_stat_activity shows in another database writes no
 * event here and is skipped. An id it does not show (finished since the snapshot, a
 * subtransaction, a prepared transaction) counts as ours: the next read has a newer snapshot.
 */
const safeLimitQuery = sql`
  select coalesce(
           (select min(x) from pg_snapshot_xip(s.snap) x
             where (x::text::bigint % 4294967296)::text::xid not in (
                     select a.backend_xid from pg_stat_get_activity(null) a
                      where a.backend_xid is not null
                        and a.datid <> (select oid from pg_database where datname = current_database()))),
           pg_snapshot_xmax(s.snap)
         )::text::bigint * ${POSITIONS_PER_TRANSACTION} as safe_limit
    from (select pg_current_snapshot() as snap) s`

/**
 * es_append's body. `lockFirst`: a statement run once the append is known to be new, before its
 * first stream is touched (see APPEND_LOCKING_IN_NAME_ORDER).
 */
const appendFunction = (lockFirst: string) => sql`
create or replace function es_append(p_requests jsonb)
returns table (o_stream text, o_version bigint, o_position bigint, o_duplicate boolean)
language plpgsql as $fn$
declare
  r jsonb;
  n int;
  total int;
  known int;
  base bigint;
  idx int;
  offs int := 0;
  expected bigint;
  new_version bigint;
  actual bigint;
  prior bigint;
  sname text;
  ids uuid[];
begin
  -- the ids as an array, looked up with = any(ids): a plan on the event id index whatever the
  -- table's size when the session first planned it (a join with the JSON's rows was planned as a
  -- scan of the whole table while the table was small, and kept that plan as the table grew)
  select array_agg((e->>'id')::uuid) into ids
    from jsonb_array_elements(p_requests) q, jsonb_array_elements(q->'events') e;
  total := coalesce(array_length(ids, 1), 0);
  select count(*) into known from es_events where event_id = any(ids);
  if known > 0 then
    if known < total then
      raise exception using errcode = 'MF002', message = 'es_append: some but not all of these event ids are already recorded';
    end if;
    return query
      select ev.stream_name, max(ev.stream_version), max(max(ev.position)) over (), true
        from es_events ev
       where ev.event_id = any(ids)
       group by ev.stream_name;
    return;
  end if;

  base := pg_current_xact_id()::text::bigint * 1048576;
  idx := coalesce(nullif(current_setting('es.next_index', true), ''), '0')::int;
  if idx + total > 1048576 then
    raise exception using errcode = 'MF003', message = 'es_append: more than 1048576 events in one transaction';
  end if;
  perform set_config('es.next_index', (idx + total)::text, true);
${sql.raw(lockFirst)}
  for r in select value from jsonb_array_elements(p_requests) loop
    sname := r->>'stream';
    n := jsonb_array_length(r->'events');
    expected := (r->>'expected')::bigint;
    new_version := null;
    if expected = -2 then
      insert into es_streams as s (stream_name, category, version)
      values (sname, split_part(sname, '-', 1), n - 1)
      on conflict (stream_name) do update set version = s.version + n
      returning s.version into new_version;
    elsif expected = -1 then
      insert into es_streams (stream_name, category, version)
      values (sname, split_part(sname, '-', 1), n - 1)
      on conflict (stream_name) do nothing
      returning version into new_version;
    else
      update es_streams s set version = s.version + n
       where s.stream_name = sname and (expected = -3 or s.version = expected)
      returning s.version into new_version;
    end if;
    if new_version is null then
      -- an identical append that committed while this one waited for the stream is not a conflict:
      -- retried, this call finds every id recorded and answers as a duplicate
      select count(*) into known from es_events where event_id = any(ids);
      if known = total then
        raise exception using errcode = 'MF004', message = 'es_append: the same events were appended concurrently; retry';
      end if;
      select s.version into actual from es_streams s where s.stream_name = sname;
      raise exception using errcode = 'MF001', message = 'es_append: wrong expected version',
        detail = json_build_object('stream', sname, 'expected', expected, 'actual', coalesce(actual, -1))::text;
    end if;
    -- This transaction's positions were fixed (by its xid) before it got the stream's row lock. When
    -- the lock came from a transaction with a later xid ('any', 'stream_exists', or a multi-stream
    -- append that waited), the stream's last event has a higher position than the ones about to be
    -- written: the stream would reach global-log readers out of version order. Retry with a new xid.
    select ev.position into prior from es_events ev
     where ev.stream_name = sname order by ev.stream_version desc limit 1;
    if prior >= base + idx + offs then
      raise exception using errcode = 'MF004', message = 'es_append: a later transaction appended to ' || sname || ' first; retry';
    end if;

    insert into es_events (position, stream_name, category, stream_version, event_id, event_type, data, metadata, tenant_id)
    select base + idx + offs + e.ord - 1, sname, split_part(sname, '-', 1), new_version - n + e.ord,
           (e.value->>'id')::uuid, e.value->>'type', e.value->'data', e.value->'metadata',
           e.value->'metadata'->>'tenantId'
      from jsonb_array_elements(r->'events') with ordinality as e(value, ord);
    offs := offs + n;

    o_stream := sname;
    o_version := new_version;
    o_position := base + idx + offs - 1;
    o_duplicate := false;
    return next;
  end loop;
end
$fn$`

const APPEND_FUNCTION = appendFunction('')

/**
 * A multi-stream append locks its existing streams first, all together, in name order, as
 * es_append_set does: two appends naming the same streams in different orders (or an append and a
 * batch) then wait for each other instead of deadlocking (found after deadlock_timeout, a second).
 */
const APPEND_LOCKING_IN_NAME_ORDER = appendFunction(`
  if jsonb_array_length(p_requests) > 1 then
    perform 1 from (select st.stream_name from es_streams st
                     where st.stream_name = any(array(select q->>'stream' from jsonb_array_elements(p_requests) q))
                     order by st.stream_name
                       for update) locked;
  end if;
`)

/**
 * Several appends in one transaction, each in a subtransaction of its own (a failing one is rolled
 * back alone and reported in its rows: o_error is its SQLSTATE). o_item numbers the appends of the
 * batch from 0.
 */
const APPEND_BATCH_FUNCTION = sql`
create or replace function es_append_batch(p_batch jsonb)
returns table (o_item int, o_stream text, o_version bigint, o_position bigint, o_duplicate boolean,
               o_error text, o_message text, o_detail text, o_constraint text)
language plpgsql as $fn$
declare
  item jsonb;
  i int := 0;
  appended record;
begin
  for item in select value from jsonb_array_elements(p_batch) loop
    begin
      -- a PL/pgSQL set-returning function runs to its end before its first row is read: an append
      -- that fails has returned no row here
      for appended in select * from es_append(item) loop
        o_item := i; o_stream := appended.o_stream; o_version := appended.o_version; o_position := appended.o_position;
        o_duplicate := appended.o_duplicate; o_error := null; o_message := null; o_detail := null; o_constraint := null;
        return next;
      end loop;
    exception when others then
      get stacked diagnostics o_error = returned_sqlstate, o_message = message_text, o_detail = pg_exception_detail, o_constraint = constraint_name;
      o_item := i; o_stream := null; o_version := null; o_position := null; o_duplicate := null;
      return next;
    end;
    i := i + 1;
  end loop;
end
$fn$`

/**
 * es_append_batch's outcomes, each append still succeeding or failing alone, with its work done as
 * sets rather than one append at a time, in two statements whatever the batch's size:
 * - the streams of the batch are locked by one statement, in name order (two batches lock the
 *   streams they share in the same order);
 * - one statement then compares every expected version with the locked versions (an append with a
 *   stream not at its expected version is refused whole: MF001, naming its first such stream, as
 *   es_append does), creates the new streams' rows and moves the others on, and writes every event
 *   of the accepted appends with one INSERT ... SELECT (the refused appends' errors are worked out
 *   by a third statement, only when there are some);
 * - both in one subtransaction: a race the set cannot settle (a stream created, or the same event
 *   ids written, by a concurrent transaction meanwhile; a deadlock) rolls it back, and the set is
 *   tried once more (an append whose ids are recorded now goes to the loop, as a duplicate); when
 *   that fails too, every append of the batch goes through the loop below instead.
 * The rare appends a set cannot decide go through es_append one at a time, after the others, each in
 * a subtransaction of its own (es_append_batch over them): those the caller names in p_aside (an
 * append naming a stream or an event id that an earlier append of the batch names: the caller sees
 * that without a round trip; one it misses is either decided as though it came first or fails the
 * set's unique keys and goes to the loop with the rest), and one with an event id already recorded (a retry, which es_append answers as a
 * duplicate, or a clash, MF002).
 */
const APPEND_SET_FUNCTION = sql`
create or replace function es_append_set(p_batch jsonb, p_aside int[])
returns table (o_item int, o_stream text, o_version bigint, o_position bigint, o_duplicate boolean,
               o_error text, o_message text, o_detail text, o_constraint text)
language plpgsql
-- planned once per session (until the tables' statistics change): its statements take arrays, whose
-- custom plans cost as much as the whole append. Planned on a table still small (a new database),
-- a generic plan would scan it whole for each id or stream and keep doing so as it grows: every
-- lookup here has its index, and the planner is told to use it.
-- Without JIT: the planner takes each JSON array for 100 elements, and the costs it multiplies out
-- of them would have every call compile its statements (seconds of CPU for a few rows)
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set jit = off
as $fn$
declare
  looped int[];
  recorded_items int[];
  locked_names text[];
  locked_versions bigint[];
  written_items int[];
  written_streams text[];
  written_versions bigint[];
  written_positions bigint[];
  refused_items int[];
  refused_codes text[];
  refused_messages text[];
  refused_details text[];
  base bigint;
  idx int;
  total int;
  missing_streams int;
  failure text;
  failure_message text;
begin
  looped := coalesce(p_aside, '{}');
  for attempt in 1..2 loop
    begin
      base := pg_current_xact_id()::text::bigint * 1048576;
      idx := coalesce(nullif(current_setting('es.next_index', true), ''), '0')::int;

      -- the existing streams, locked in name order, and their versions: those of the appends left
      -- to the loop too, so that the loop locks none after the others (out of order)
      select coalesce(array_agg(s.stream_name), '{}'), coalesce(array_agg(s.version), '{}')
        into locked_names, locked_versions
        from (select st.stream_name, st.version from es_streams st
               where st.stream_name = any(array(select s.value->>'stream'
                                                  from jsonb_array_elements(p_batch) b, jsonb_array_elements(b.value) s))
               order by st.stream_name
                 for update) s;

      -- a statement of its own, so that it sees what the transactions it waited for above committed.
      -- Each stream of each append: whether it is at the expected version; whether its last event
      -- has a position above this transaction's (its lock came from a transaction with a later xid:
      -- to be retried, see es_append); whether one of its ids is recorded (the append then goes to
      -- the loop; the ids looked up with = any, see es_append)
      with req as (
        select (b.ord - 1)::int as item, s.ord::int as req, s.value->>'stream' as stream,
               jsonb_array_length(s.value->'events') as n, s.value->'events' as events,
               coalesce(l.version, -1) as actual, l.version as locked,
               (s.value->>'expected')::bigint = -2 or ((s.value->>'expected')::bigint = -1 and l.version is null)
                 or ((s.value->>'expected')::bigint = -3 and l.version is not null)
                 or coalesce((s.value->>'expected')::bigint = l.version, false) as fits,
               coalesce(l.version is not null
                        and (select ev.position from es_events ev
                              where ev.stream_name = l.stream order by ev.stream_version desc limit 1) >= base, false) as overtaken,
               exists (select 1 from es_events ev
                        where ev.event_id = any(array(select (x->>'id')::uuid from jsonb_array_elements(s.value->'events') x))) as recorded
          from jsonb_array_elements(p_batch) with ordinality b(value, ord)
         cross join jsonb_array_elements(b.value) with ordinality s(value, ord)
          left join unnest(locked_names, locked_versions) l(stream, version) on l.stream = s.value->>'stream'
         where (b.ord - 1)::int <> all(looped)),
      verdict as (
        select r.*, bool_or(r.recorded) over (partition by r.item) as item_recorded,
               bool_and(r.fits and not r.overtaken) over (partition by r.item) as item_fits
          from req r),
      accepted as (
        select v.*, base + idx + sum(v.n) over (order by v.item, v.req) - 1 as last_position
          from verdict v
         where v.item_fits and not v.item_recorded),
      created as (
        insert into es_streams (stream_name, category, version)
        select a.stream, split_part(a.stream, '-', 1), a.n - 1
          from accepted a where a.locked is null
         order by a.stream
            on conflict (stream_name) do nothing
        returning 1),
      moved as (
        update es_streams st set version = a.actual + a.n
          from accepted a
         where st.stream_name = any(array(select b.stream from accepted b where b.locked is not null))
           and st.stream_name = a.stream and a.locked is not null),
      written as (
        insert into es_events (position, stream_name, category, stream_version, event_id, event_type, data, metadata, tenant_id)
        select a.last_position - a.n + e.ord, a.stream, split_part(a.stream, '-', 1), a.actual + e.ord,
               (e.value->>'id')::uuid, e.value->>'type', e.value->'data', e.value->'metadata',
               e.value->'metadata'->>'tenantId'
          from accepted a, jsonb_array_elements(a.events) with ordinality e(value, ord)
         order by 1)
      select w.missing, w.total, w.items, w.streams, w.versions, w.positions, o.refused, o.recorded
        into missing_streams, total, written_items, written_streams, written_versions, written_positions,
             refused_items, recorded_items
        from (select count(*) filter (where a.locked is null) - (select count(*) from created) as missing,
                     coalesce(sum(a.n), 0) as total,
                     array_agg(a.item order by a.item, a.req) as items, array_agg(a.stream order by a.item, a.req) as streams,
                     array_agg(a.actual + a.n order by a.item, a.req) as versions,
                     array_agg(a.last_position order by a.item, a.req) as positions
                from accepted a) w,
             (select coalesce(array_agg(distinct v.item) filter (where not v.item_recorded and not v.item_fits), '{}') as refused,
                     coalesce(array_agg(distinct v.item) filter (where v.item_recorded), '{}') as recorded
                from verdict v) o;

      -- the refused appends' errors (rare): a stream not at its expected version (MF001, naming the
      -- append's first such stream), unless every id of the append is recorded now (an identical
      -- append committed while this one waited for the lock: retried, it is answered as a
      -- duplicate); else a stream overtaken (MF004)
      if cardinality(refused_items) > 0 then
        select array_agg(f.item), array_agg(f.code), array_agg(f.message), array_agg(f.detail)
          into refused_items, refused_codes, refused_messages, refused_details
          from (select distinct on (r.item) r.item,
                       case when r.fits or r.all_recorded then 'MF004' else 'MF001' end as code,
                       case when r.fits then 'es_append: a later transaction appended to ' || r.stream || ' first; retry'
                            when r.all_recorded then 'es_append: the same events were appended concurrently; retry'
                            else 'es_append: wrong expected version' end as message,
                       case when r.fits or r.all_recorded then null
                            else json_build_object('stream', r.stream, 'expected', r.expected, 'actual', coalesce(r.locked, -1))::text end as detail
                  from (select (b.ord - 1)::int as item, s.ord::int as req, s.value->>'stream' as stream,
                               (s.value->>'expected')::bigint as expected, l.version as locked,
                               (s.value->>'expected')::bigint = -2 or ((s.value->>'expected')::bigint = -1 and l.version is null)
                                 or ((s.value->>'expected')::bigint = -3 and l.version is not null)
                                 or coalesce((s.value->>'expected')::bigint = l.version, false) as fits,
                               coalesce(l.version is not null
                                        and (select ev.position from es_events ev
                                              where ev.stream_name = l.stream order by ev.stream_version desc limit 1) >= base, false) as overtaken,
                               (select count(*) from es_events ev where ev.event_id = any(x.ids)) = cardinality(x.ids) as all_recorded
                          from jsonb_array_elements(p_batch) with ordinality b(value, ord)
                         cross join jsonb_array_elements(b.value) with ordinality s(value, ord)
                         cross join lateral (
                           select array(select (j->>'id')::uuid
                                          from jsonb_array_elements(b.value) q, jsonb_array_elements(q->'events') j) as ids) x
                          left join unnest(locked_names, locked_versions) l(stream, version) on l.stream = s.value->>'stream'
                         where (b.ord - 1)::int = any(refused_items)) r
                 order by r.item, r.fits, not r.overtaken, r.req) f;
      else
        refused_items := null; refused_codes := null; refused_messages := null; refused_details := null;
      end if;
      if missing_streams > 0 then
        raise exception using errcode = 'MF005', message = 'es_append_set: a stream was created concurrently';
      end if;
      if idx + total > 1048576 then
        raise exception using errcode = 'MF003', message = 'es_append: more than 1048576 events in one transaction';
      end if;
      perform set_config('es.next_index', (idx + total)::text, true);
      looped := looped || recorded_items;
      exit;
    exception when others then
      -- nothing of the set was written
      get stacked diagnostics failure = returned_sqlstate, failure_message = message_text;
      raise notice 'es_append_set: the set was rolled back (%: %)', failure, failure_message;
      written_items := null; written_streams := null; written_versions := null; written_positions := null;
      refused_items := null; refused_codes := null; refused_messages := null; refused_details := null;
      if attempt = 2 then
        select array_agg(g) into looped from generate_series(0, jsonb_array_length(p_batch) - 1) g;
      end if;
    end;
  end loop;

  return query
    select w.item, w.stream, w.version, w.position, false, null::text, null::text, null::text, null::text
      from unnest(written_items, written_streams, written_versions, written_positions) w(item, stream, version, position)
    union all
    select f.item, null, null, null, null, f.code, f.message, f.detail, null
      from unnest(refused_items, refused_codes, refused_messages, refused_details) f(item, code, message, detail);

  if cardinality(looped) > 0 then
    -- one at a time, in batch order, each in a subtransaction of its own: es_append_batch's loop
    -- over those appends, its item numbers mapped back to the batch's
    select array_agg(l order by l) into looped from (select distinct l from unnest(looped) l) d;
    return query
      select looped[b.o_item + 1], b.o_stream, b.o_version, b.o_position, b.o_duplicate, b.o_error, b.o_message, b.o_detail, b.o_constraint
        from es_append_batch((select jsonb_agg(p_batch->l order by l) from unnest(looped) l)) b;
  end if;
end
$fn$`

export const eventStoreMigrations: MigrationSet = {
  '20261122080000_event_store': {
    async up(db) {
      await sql`
        create table es_streams (
          stream_name text primary key,
          category text not null,
          version bigint not null
        )`.execute(db)
      await sql`create index es_streams_category on es_streams (category, stream_name)`.execute(db)
      await sql`
        create table es_events (
          position bigint primary key,
          stream_name text not null,
          category text not null,
          stream_version bigint not null,
          event_id uuid not null,
          event_type text not null,
          data jsonb not null,
          metadata jsonb not null,
          tenant_id text,
          recorded_at timestamptz not null default now(),
          constraint es_events_stream_version_key unique (stream_name, stream_version),
          constraint es_events_event_id_key unique (event_id)
        )`.execute(db)
      await sql`create index es_events_type_position on es_events (event_type, position)`.execute(db)
      await APPEND_FUNCTION.execute(db)
    },
    async down(db) {
      await sql`drop function if exists es_append(jsonb)`.execute(db)
      await sql`drop table if exists es_events`.execute(db)
      await sql`drop table if exists es_streams`.execute(db)
    },
  },
  // es_append retries a concurrent identical append as a duplicate, and keeps each stream's
  // positions in version order (MF004); databases migrated before get the new function body
  '20261122083000_event_store_append_order': {
    async up(db) {
      await APPEND_FUNCTION.execute(db)
    },
    async down() {
      // the previous body had the two faults this one fixes: keep the fixed one
    },
  },
  // concurrent appends of one process travel together (group commit)
  '20261222090000_event_store_append_batch': {
    async up(db) {
      await APPEND_BATCH_FUNCTION.execute(db)
    },
    async down(db) {
      await sql`drop function if exists es_append_batch(jsonb)`.execute(db)
    },
  },
  // a batch's appends decided and written as sets (es_append_set), and es_append locking a
  // multi-stream append's streams in name order as the set does; es_append_batch stays for
  // processes still running the previous version
  '20261223090000_event_store_append_set': {
    async up(db) {
      await APPEND_SET_FUNCTION.execute(db)
      await APPEND_LOCKING_IN_NAME_ORDER.execute(db)
    },
    async down(db) {
      await APPEND_FUNCTION.execute(db)
      await sql`drop function if exists es_append_set(jsonb, int[])`.execute(db)
    },
  },
}

const NOTIFY_CHANNEL = 'es_appended'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** bound on the retries of an append that es_append asks to retry (MF004) */
const MAX_APPEND_ATTEMPTS = 50

/**
 * Batches of appends on their way to the server at once. Fewer than the pool's connections (10 by
 * default), so that concurrent appends gather into batches instead of each taking a connection
 * and a commit, and reads keep connections of their own. With 10 writers, 4 measured better than 2
 * (their batches wait less) and than 6 or 10 (more transactions).
 */
export const DEFAULT_APPEND_CALLS_IN_FLIGHT = 4

/** Appends in one batch at most: each is a subtransaction, and PostgreSQL keeps 64 of them cheaply. */
const APPEND_BATCH_LIMIT = 48


interface AppendRow {
  o_stream: string
  o_version: number
  o_position: number
  o_duplicate: boolean
}

interface BatchRow {
  o_item: number
  o_stream: string | null
  o_version: number | null
  o_position: number | null
  o_duplicate: boolean | null
  o_error: string | null
  o_message: string | null
  o_detail: string | null
  o_constraint: string | null
}

interface WaitingAppend {
  json: string
  streams: string[]
  eventIds: string[]
  resolve(rows: AppendRow[]): void
  reject(error: unknown): void
}

/**
 * The appends of a batch that es_append_set must leave to its one-at-a-time loop: those naming a
 * stream or an event id that an earlier append of the batch (or the append itself) names.
 */
function appendsAside(batch: readonly WaitingAppend[]): number[] {
  const streams = new Set<string>()
  const eventIds = new Set<string>()
  const aside: number[] = []
  batch.forEach((waiting, item) => {
    let repeats = waiting.streams.some((stream) => streams.has(stream))
    for (const id of waiting.eventIds) {
      if (eventIds.has(id)) repeats = true
      eventIds.add(id)
    }
    for (const stream of waiting.streams) streams.add(stream)
    if (repeats) aside.push(item)
  })
  return aside
}

function encodeExpected(expected: ExpectedVersion): number {
  if (expected === 'any') return -2
  if (expected === 'no_stream') return -1
  if (expected === 'stream_exists') return -3
  if (!Number.isInteger(expected) || expected < 0) throw new InvalidAppend(`expected version ${expected} is not a version`)
  return expected
}

function decodeExpected(code: number): ExpectedVersion {
  return code === -2 ? 'any' : code === -1 ? 'no_stream' : code === -3 ? 'stream_exists' : code
}

interface EventRow {
  position: number
  stream_name: string
  stream_version: number
  event_id: string
  event_type: string
  data: unknown
  metadata: EventMetadata
  recorded_at: Date
}

const EVENT_COLUMNS = sql.raw('e.position, e.stream_name, e.stream_version, e.event_id, e.event_type, e.data, e.metadata, e.recorded_at')

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    type: row.event_type,
    data: row.data,
    metadata: row.metadata,
    streamName: row.stream_name,
    streamVersion: row.stream_version,
    position: row.position,
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
  }
}

interface PgError {
  code?: string
  detail?: string
  constraint?: string
}

export class PostgresEventStore implements EventStore {
  readonly kind = 'postgres' as const
  readonly #database: SqlDatabase
  readonly #db: Kysely<any>
  readonly #listeners = new Set<(position: number) => void>()
  #unlisten: (() => Promise<void>) | undefined
  #notifyInFlight = false
  #notifyPending: number | undefined
  readonly #callsInFlight: number
  /** names this store's notifications, so that it does not wake its listeners twice for its own appends */
  readonly #notifySender = randomUUID()
  readonly #waiting: WaitingAppend[] = []
  #batchesInFlight = 0

  private constructor(database: SqlDatabase, callsInFlight: number) {
    this.#database = database
    this.#db = database.db
    this.#callsInFlight = callsInFlight
  }

  /**
   * The schema must be migrated first (eventStoreMigrations). `appendCallsInFlight`: how many
   * batches of appends may be on their way to the server at once (see #submit).
   */
  static async open(database: SqlDatabase, options: { appendCallsInFlight?: number } = {}): Promise<PostgresEventStore> {
    const store = new PostgresEventStore(database, Math.max(1, options.appendCallsInFlight ?? DEFAULT_APPEND_CALLS_IN_FLIGHT))
    store.#unlisten = await database.listen(NOTIFY_CHANNEL, (payload) => {
      // "<position> <sender>": this store's own appends woke its listeners already, when they returned
      const [position, sender] = payload.split(' ')
      if (sender !== store.#notifySender) store.#wake(Number(position) || 0)
    })
    return store
  }

  async append(requests: AppendRequest[]): Promise<AppendResult> {
    if (requests.length === 0) throw new InvalidAppend('nothing to append')
    const seen = new Set<string>()
    const payload = requests.map((request) => {
      if (!request.streamName || request.streamName.startsWith('-')) throw new InvalidAppend(`bad stream name "${request.streamName}"`)
      if (seen.has(request.streamName)) throw new InvalidAppend(`stream ${request.streamName} appears twice in one append`)
      seen.add(request.streamName)
      if (request.events.length === 0) throw new InvalidAppend(`no events for stream ${request.streamName}`)
      return {
        stream: request.streamName,
        expected: encodeExpected(request.expectedVersion),
        events: request.events.map((event) => ({ id: event.id, type: event.type, data: event.data, metadata: event.metadata })),
      }
    })
    const json = JSON.stringify(payload)

    let idRaceRetried = false
    for (let attempt = 1; ; attempt++) {
      try {
        const rows = await this.#submit({ json, streams: payload.map((request) => request.stream), eventIds: payload.flatMap((request) => request.events.map((event) => event.id)) })
        const byName = new Map(rows.map((row) => [row.o_stream, row]))
        const result: AppendResult = {
          streams: requests.map((request) => ({ streamName: request.streamName, version: byName.get(request.streamName)?.o_version ?? -1 })),
          lastPosition: Math.max(...rows.map((row) => row.o_position)),
          duplicate: rows.some((row) => row.o_duplicate),
        }
        if (!result.duplicate) this.#announce(result.lastPosition)
        return result
      } catch (error) {
        const pgError = error as PgError
        if (pgError.code === 'MF001') {
          const detail = JSON.parse(pgError.detail ?? '{}') as { stream: string; expected: number; actual: number }
          throw new WrongExpectedVersion(detail.stream, decodeExpected(detail.expected), detail.actual)
        }
        if (pgError.code === 'MF002' || pgError.code === 'MF003') throw new InvalidAppend((error as Error).message)
        // lost a race that a new transaction resolves (see es_append): a duplicate, or a stream whose
        // lock came from a later transaction; the retry has a new xid, above every committed one.
        // A deadlock between two batches (their appends lock streams in different orders) rolled
        // this append back alone: it goes again in a later batch.
        if ((pgError.code === 'MF004' || pgError.code === '40P01') && attempt < MAX_APPEND_ATTEMPTS) continue
        // a concurrent append of the same event ids won the race: the retry sees them and answers as a duplicate
        if (pgError.code === '23505' && pgError.constraint === 'es_events_event_id_key' && !idRaceRetried) {
          idRaceRetried = true
          continue
        }
        if (pgError.code === '23505' && pgError.constraint === 'es_streams_pkey') {
          throw new WrongExpectedVersion(requests[0]!.streamName, requests[0]!.expectedVersion, -1)
        }
        throw error
      }
    }
  }

  /**
   * Sends one append (es_append's argument, as JSON) to the server, with whatever other appends
   * wait beside it: at most APPEND_CALLS_IN_FLIGHT batches are on their way at once, and the
   * appends that arrive meanwhile leave together as the next batch, up to APPEND_BATCH_LIMIT.
   * Resolves with the append's rows, or rejects with its own error (as es_append raised it).
   */
  #submit(append: Pick<WaitingAppend, 'json' | 'streams' | 'eventIds'>): Promise<AppendRow[]> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ ...append, resolve, reject })
      this.#sendBatches()
    })
  }

  #sendBatches(): void {
    while (this.#batchesInFlight < this.#callsInFlight && this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, APPEND_BATCH_LIMIT)
      this.#batchesInFlight++
      void this.#sendBatch(batch).finally(() => {
        this.#batchesInFlight--
        this.#sendBatches()
      })
    }
  }

  async #sendBatch(batch: WaitingAppend[]): Promise<void> {
    if (batch.length === 1) {
      // alone: es_append itself, without the batch's subtransaction (its errors are the append's own)
      const lone = batch[0]!
      try {
        lone.resolve((await sql<AppendRow>`select * from es_append(${lone.json}::jsonb)`.execute(this.#db)).rows)
      } catch (error) {
        lone.reject(error)
      }
      return
    }
    let rows: BatchRow[]
    try {
      const json = `[${batch.map((waiting) => waiting.json).join(',')}]`
      rows = (await sql<BatchRow>`select * from es_append_set(${json}::jsonb, ${appendsAside(batch)}::int[])`.execute(this.#db)).rows
    } catch (error) {
      for (const waiting of batch) waiting.reject(error)
      return
    }
    const byItem: AppendRow[][] = batch.map(() => [])
    const failures = new Map<number, BatchRow>()
    for (const row of rows) {
      if (row.o_error !== null) failures.set(row.o_item, row)
      else byItem[row.o_item]?.push(row as AppendRow)
    }
    batch.forEach((waiting, item) => {
      const failure = failures.get(item)
      if (!failure) return waiting.resolve(byItem[item]!)
      const error = new Error(failure.o_message ?? 'append failed') as Error & PgError
      error.code = failure.o_error ?? undefined
      if (failure.o_detail) error.detail = failure.o_detail
      if (failure.o_constraint) error.constraint = failure.o_constraint
      waiting.reject(error)
    })
  }

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<StreamSlice> {
    const backward = options.direction === 'backward'
    const limit = options.limit ?? 1_000_000
    const from = options.fromVersion ?? (backward ? Number.MAX_SAFE_INTEGER : 0)
    const { rows } = await sql<EventRow & { current_version: number | null }>`
      select s.version as current_version, ${EVENT_COLUMNS}
        from (select ${streamName}::text as name) q
        left join es_streams s on s.stream_name = q.name
        left join lateral (
          select * from es_events ev
           where ev.stream_name = q.name
             and ${backward ? sql`ev.stream_version <= ${from}` : sql`ev.stream_version >= ${from}`}
           order by ev.stream_version ${backward ? sql`desc` : sql`asc`}
           limit ${limit}
        ) e on true`.execute(this.#db)
    const version = rows[0]?.current_version ?? -1
    return { version, events: rows.filter((row) => row.event_id !== null).map(toRecorded) }
  }

  async readStreams(streamNames: readonly string[]): Promise<StreamSlice[]> {
    if (streamNames.length === 0) return []
    const { rows } = await sql<EventRow & { current_version: number | null; ord: string }>`
      select q.ord, s.version as current_version, ${EVENT_COLUMNS}
        from unnest(${[...streamNames]}::text[]) with ordinality q(name, ord)
        left join es_streams s on s.stream_name = q.name
        left join lateral (select * from es_events ev where ev.stream_name = q.name order by ev.stream_version) e on true
       order by q.ord, e.stream_version`.execute(this.#db)
    const slices: StreamSlice[] = streamNames.map(() => ({ version: -1, events: [] }))
    for (const row of rows) {
      const slice = slices[Number(row.ord) - 1]!
      slice.version = row.current_version ?? -1
      if (row.event_id !== null) slice.events.push(toRecorded(row))
    }
    return slices
  }

  async readAll(options: ReadAllOptions = {}): Promise<GlobalSlice> {
    return this.#readGlobal(options, [])
  }

  /** readAll with time bounds (inspection): on metadata.occurredAt, or on recorded_at. */
  async readLog(options: ReadLogOptions): Promise<GlobalSlice> {
    const time = options.timeField === 'recorded_at' ? sql`e.recorded_at` : sql`(e.metadata->>'occurredAt')::timestamptz`
    const bounds: RawBuilder<unknown>[] = []
    if (options.from) bounds.push(sql`${time} >= ${options.from.toISOString()}::timestamptz`)
    if (options.to) bounds.push(sql`${time} < ${options.to.toISOString()}::timestamptz`)
    return this.#readGlobal(options, bounds)
  }

  async listCategories(): Promise<CategorySummary[]> {
    const { rows } = await sql<{ category: string; streams: number; events: number }>`
      select category, count(*)::bigint as streams, sum(version + 1)::bigint as events
        from es_streams group by category order by category`.execute(this.#db)
    return rows.map((row) => ({ category: row.category, streams: Number(row.streams), events: Number(row.events) }))
  }

  async listStreams(options: ListStreamsOptions): Promise<{ streams: StreamSummary[]; total: number }> {
    const where = options.category === undefined ? sql`true` : sql`s.category = ${options.category}`
    const [page, count] = await Promise.all([
      sql<{ stream_name: string; category: string; version: number; position: number; recorded_at: Date | string }>`
        select s.stream_name, s.category, s.version, e.position, e.recorded_at
          from es_streams s
          join es_events e on e.stream_name = s.stream_name and e.stream_version = s.version
         where ${where}
         order by s.category, s.stream_name
         limit ${options.limit ?? 100} offset ${options.offset ?? 0}`.execute(this.#db),
      sql<{ total: number }>`select count(*)::bigint as total from es_streams s where ${where}`.execute(this.#db),
    ])
    return {
      streams: page.rows.map((row) => ({
        streamName: row.stream_name,
        category: row.category,
        version: Number(row.version),
        lastPosition: Number(row.position),
        lastRecordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
      })),
      total: Number(count.rows[0]?.total ?? 0),
    }
  }

  async readEvent(eventId: string): Promise<RecordedEvent | null> {
    if (!UUID.test(eventId)) return null
    const { rows } = await sql<EventRow>`select ${EVENT_COLUMNS} from es_events e where e.event_id = ${eventId}::uuid`.execute(this.#db)
    return rows[0] ? toRecorded(rows[0]) : null
  }

  async #readGlobal(options: ReadAllOptions, extraFilters: RawBuilder<unknown>[]): Promise<GlobalSlice> {
    const after = options.after ?? 0
    const limit = options.limit ?? 1000
    const filters = [sql`e.position > ${after}`, sql`e.position < h.safe_limit`, ...extraFilters]
    if (options.eventTypes) filters.push(sql`e.event_type = any(${[...options.eventTypes]}::text[])`)
    if (options.categories) filters.push(sql`e.category = any(${[...options.categories]}::text[])`)
    if (options.tenantId) filters.push(sql`e.tenant_id = ${options.tenantId}`)
    const { rows } = await sql<EventRow & { safe_limit: number }>`
      select h.safe_limit, x.*
        from (${safeLimitQuery}) h
        left join lateral (
          select ${EVENT_COLUMNS} from es_events e
           where ${sql.join(filters, sql` and `)}
           order by e.position
           limit ${limit}
        ) x on true`.execute(this.#db)
    const events = rows.filter((row) => row.event_id !== null).map(toRecorded)
    const safeHead = (rows[0]?.safe_limit ?? 1) - 1
    const scannedTo = events.length === limit ? events[events.length - 1]!.position : Math.max(after, safeHead)
    return { events, scannedTo }
  }

  async headPosition(): Promise<number> {
    // every committed event, including those a reader must still wait for (an older writer's
    // transaction is open): waiting for the head means waiting for all of them
    const { rows } = await sql<{ head: number }>`select coalesce(max(position), 0) as head from es_events`.execute(this.#db)
    return rows[0]?.head ?? 0
  }

  async countEvents(options: { after?: number; upTo: number; eventTypes?: readonly string[] }): Promise<number> {
    const filters = [sql`position > ${options.after ?? 0}`, sql`position <= ${options.upTo}`]
    if (options.eventTypes) filters.push(sql`event_type = any(${[...options.eventTypes]}::text[])`)
    const { rows } = await sql<{ count: number }>`select count(*)::bigint as count from es_events where ${sql.join(filters, sql` and `)}`.execute(this.#db)
    return Number(rows[0]?.count ?? 0)
  }

  onAppended(listener: (position: number) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.#listeners.clear()
    await this.#unlisten?.()
  }

  #wake(position: number): void {
    for (const listener of this.#listeners) listener(position)
  }

  /**
   * Wake this process's readers at once, and other processes through NOTIFY. NOTIFY is sent
   * outside the writer's transaction (it takes a cluster-wide lock at commit) and coalesced: while
   * one is in flight, later appends only raise the position the next one will carry.
   */
  #announce(position: number): void {
    this.#wake(position)
    if (this.#database.engine !== 'postgres') return
    this.#notifyPending = Math.max(this.#notifyPending ?? 0, position)
    if (this.#notifyInFlight) return
    this.#notifyInFlight = true
    const send = async (): Promise<void> => {
      while (this.#notifyPending !== undefined) {
        const next = this.#notifyPending
        this.#notifyPending = undefined
        await this.#database.notify(NOTIFY_CHANNEL, `${next} ${this.#notifySender}`).catch(() => undefined)
      }
      this.#notifyInFlight = false
    }
    void send()
  }
}
