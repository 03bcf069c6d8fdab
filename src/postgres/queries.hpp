#pragma once
// The statements the PostgreSQL store sends at run time (the schema itself is in schema.hpp).
// `{s}` stands for the quoted schema name and `{channel}` for the plain one, put in by
// `in_schema` (schema.hpp); every value goes in as a parameter ($1, ...). A constant that also
// has replacement fields (`{}`, `{0}`) is a format string for fmt: the fields take the fragments
// (or names) its comment lists, and its schema placeholder is written `{{s}}`, which formatting
// turns into `{s}`. Each constant is one whole literal, so its `data()` ends in a NUL.

#include <string_view>

namespace eventcore::postgres::detail::queries {

// Transactions.

/// Starts a transaction at the connection's default isolation (read committed).
inline constexpr std::string_view begin = "BEGIN";
/// Starts a transaction whose statements all read one snapshot, and write nothing.
inline constexpr std::string_view begin_snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
/// Commits the transaction.
inline constexpr std::string_view commit = "COMMIT";
/// Rolls the transaction back.
inline constexpr std::string_view rollback = "ROLLBACK";
/// Starts savepoint `{}` (a name).
inline constexpr std::string_view savepoint = "SAVEPOINT {}";
/// Undoes what was done since savepoint `{}`.
inline constexpr std::string_view rollback_to_savepoint = "ROLLBACK TO SAVEPOINT {}";
/// Ends savepoint `{}`, keeping what was done since.
inline constexpr std::string_view release_savepoint = "RELEASE SAVEPOINT {}";

// Opening: the schema version and migrations.

/// Whether schema $1 has a schema_version table (count 0 or 1). An ordinary query, whose
/// snapshot is the statement's (see `schema_version_in`).
inline constexpr std::string_view schema_version_table =
    "SELECT count(*)::int4 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND "
    "tablename = 'schema_version'";
/// The schema version recorded in the schema.
inline constexpr std::string_view stored_schema_version =
    "SELECT coalesce(max(version), 0)::int4 FROM {s}.schema_version";
/// The migration lock, key $1, held to the end of the migrating transaction.
inline constexpr std::string_view migration_lock = "SELECT 1 FROM pg_advisory_xact_lock(hashtextextended($1, 0))";
/// Records that the schema is at version `{}`.
inline constexpr std::string_view record_schema_version = "INSERT INTO {{s}}.schema_version (version) VALUES ({})";

// Fragments of the reads.

/// What a reader of the log may read: events older than the oldest transaction still running in
/// its statement's snapshot. Positions and transaction ids grow together (`take_positions`), so
/// this is a prefix of the log that no running commit can still extend (ADR 8).
inline constexpr std::string_view settled = "e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())";

/// In place of `settled` where a read may see all that its snapshot sees (`verify`).
inline constexpr std::string_view unsettled_too = "true";

/// The head: the last position of that prefix.
inline constexpr std::string_view settled_head =
    "coalesce((SELECT e.position FROM {s}.events e WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot()) "
    "ORDER BY e.position DESC LIMIT 1), 0)";

/// The columns `read_event` decodes, in its order.
inline constexpr std::string_view event_columns =
    "e.stream_id, e.version, e.position, e.event_type, e.payload, e.event_id, e.recorded_at, e.correlation_id, "
    "e.causation_id, e.command, e.custom, e.commit_last";

/// The byte comparison of a stream-prefix filter on column `{1}`, parameter `${0}` (see
/// `byte_prefix_filter`).
inline constexpr std::string_view byte_prefix =
    "(${0}::bytea IS NULL OR substring(convert_to({1}, 'UTF8') from 1 for length(${0}::bytea)) = "
    "${0}::bytea)";

// Reads.

/// Every event of the streams $1 (text[]), in log order; `{}`: `event_columns`.
inline constexpr std::string_view read_streams =
    "SELECT {} FROM {{s}}.events e WHERE e.stream_id = ANY($1) "
    "ORDER BY e.position";

/// Stream $1's version, then its events from version $2 (none: one row of NULL events);
/// `{}`: `event_columns`.
inline constexpr std::string_view read_stream =
    "SELECT h.version, {} FROM (SELECT coalesce((SELECT st.version FROM {{s}}.streams st "
    "WHERE st.stream_id = $1), 0) AS version) h LEFT JOIN {{s}}.events e ON e.stream_id = $1 "
    "AND e.version >= $2 ORDER BY e.version";

/// A filtered page of the log after $1 (prefix $2 and $6, types $3, regex $5, at most $4
/// events), the rest of its last commit, and the settled head, in one statement and so one
/// snapshot. `{0}`: `event_columns`, `{1}`: `byte_prefix` on e.stream_id and 6, `{2}`:
/// `settled`, `{3}`: `settled_head`.
inline constexpr std::string_view read_all =
    "WITH page AS (SELECT {0} FROM {{s}}.events e WHERE e.position > $1 AND {2} "
    "AND ($2 = '' OR starts_with(e.stream_id, $2)) AND ($3::text[] IS NULL OR e.event_type = ANY($3)) "
    "AND ($5::text IS NULL OR e.stream_id ~ $5) AND {1} "
    "ORDER BY e.position LIMIT $4), "
    "tail AS (SELECT {0} FROM {{s}}.events e, (SELECT p.position, p.commit_last FROM page p "
    "ORDER BY p.position DESC LIMIT 1) l WHERE e.position > l.position AND e.position <= l.commit_last "
    "AND ($2 = '' OR starts_with(e.stream_id, $2)) AND ($3::text[] IS NULL OR e.event_type = ANY($3)) "
    "AND ($5::text IS NULL OR e.stream_id ~ $5) AND {1}) "
    "SELECT {3}, x.* FROM (SELECT 1) h LEFT JOIN "
    "(SELECT * FROM page UNION ALL SELECT * FROM tail) x ON true ORDER BY x.position";

/// The settled head, then a page of the whole log after $1, at most $2 events; the head is an
/// InitPlan, evaluated once, and the page comes in index order. `{0}`: `event_columns`, `{1}`:
/// `settled`, `{2}`: `settled_head`.
inline constexpr std::string_view read_page =
    "SELECT {2} AS head, {0} FROM {{s}}.events e WHERE e.position > $1 AND {1} "
    "ORDER BY e.position LIMIT $2";

/// The events after $1 up to $2: the rest of a page's last commit; `{0}`: `event_columns`.
inline constexpr std::string_view read_tail =
    "SELECT {0} FROM {{s}}.events e WHERE e.position > $1 AND e.position <= $2 "
    "ORDER BY e.position";

/// The settled head; `{}`: `settled_head`.
inline constexpr std::string_view head = "SELECT {}";

// Commits.

/// The whole commit, in one call (schema.hpp, `append_events`).
inline constexpr std::string_view append =
    "SELECT * FROM {s}.append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// What the commit of command id $1 did, as `append_events` reports it.
inline constexpr std::string_view receipt = "SELECT * FROM {s}.receipt($1)";

// Live readers.

/// Wakes the store's live readers in every process.
inline constexpr std::string_view notify = "NOTIFY {s}";
/// Asks for the store's notifications on this connection.
inline constexpr std::string_view listen = "LISTEN {s}";
/// Set on the notifier's connection (`Database::Impl::notify_loop`).
inline constexpr std::string_view notifier_settings = "SET synchronous_commit = off";

// Checkpoints.

/// Sets checkpoint $1 to $2, answering one row.
inline constexpr std::string_view save_checkpoint =
    "INSERT INTO {s}.checkpoints (name, position) VALUES ($1, $2) ON CONFLICT (name) "
    "DO UPDATE SET position = excluded.position, updated_at = now() RETURNING 1";

/// Moves checkpoint $1 from $2 (none yet, or at $2) to $3, answering a row if it did.
inline constexpr std::string_view advance_new_checkpoint =
    "INSERT INTO {s}.checkpoints AS k (name, position) VALUES ($1, $3) ON CONFLICT (name) DO UPDATE "
    "SET position = excluded.position, updated_at = now() WHERE k.position = $2 RETURNING 1";

/// Moves checkpoint $1 from $2 to $3, answering a row if it did.
inline constexpr std::string_view advance_checkpoint =
    "UPDATE {s}.checkpoints SET position = $3, updated_at = now() WHERE name = $1 AND position = $2 "
    "RETURNING 1";

/// Checkpoint $1's position (no row: none).
inline constexpr std::string_view load_checkpoint = "SELECT position FROM {s}.checkpoints WHERE name = $1";

/// Every checkpoint, by name in byte order.
inline constexpr std::string_view list_checkpoints =
    "SELECT name, position, updated_at FROM {s}.checkpoints ORDER BY name COLLATE \"C\"";

/// Deletes checkpoint $1, answering a row if there was one.
inline constexpr std::string_view delete_checkpoint = "DELETE FROM {s}.checkpoints WHERE name = $1 RETURNING 1";

// A caller's transaction (`Database::transaction`).

/// `save_checkpoint` in a caller's transaction (no row answered).
inline constexpr std::string_view session_save_checkpoint =
    "INSERT INTO {s}.checkpoints (name, position) VALUES ($1, $2) ON CONFLICT (name) "
    "DO UPDATE SET position = excluded.position, updated_at = now()";

/// `advance_new_checkpoint` in a caller's transaction (the count of rows changed says).
inline constexpr std::string_view session_advance_new_checkpoint =
    "INSERT INTO {s}.checkpoints (name, position) VALUES ($1, $3) ON CONFLICT (name) "
    "DO UPDATE SET position = excluded.position, updated_at = now() "
    "WHERE {s}.checkpoints.position = $2";

/// `advance_checkpoint` in a caller's transaction (the count of rows changed says).
inline constexpr std::string_view session_advance_checkpoint =
    "UPDATE {s}.checkpoints SET position = $3, updated_at = now() "
    "WHERE name = $1 AND position = $2";

/// The batch lock of a projection, key $1, held to the end of the transaction.
inline constexpr std::string_view lock_batch = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text";

/// `lock_batch`, and the look `{}` (a `guard`) in the same round trip.
inline constexpr std::string_view lock_batch_and_guard =
    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text, ({})";

/// The oid of schema $1, of its relations, and of its checkpoints table and that table's
/// indexes, each list comma-separated ('0' for none); no row if there is no such schema.
inline constexpr std::string_view schema_relations =
    "SELECT n.oid::text, coalesce(string_agg(c.oid::text, ',') FILTER (WHERE c.oid IS NOT NULL), "
    "'0'), coalesce(string_agg(c.oid::text, ',') FILTER (WHERE c.relname = 'checkpoints' OR "
    "c.oid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class t ON "
    "t.oid = i.indrelid WHERE t.relname = 'checkpoints' AND t.relnamespace = n.oid)), '0') "
    "FROM pg_catalog.pg_namespace n LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid "
    "WHERE n.nspname = $1 GROUP BY n.oid";

/// The first lock this transaction took on the schema, said as what it did, or no row: locks
/// stronger than ACCESS SHARE on its relations, and object locks on the schema itself. `{0}`:
/// the schema's oid, `{1}`: its relations' (see `schema_relations`), `{2}`: empty, or
/// `guard_besides` with the checkpoints table and its indexes.
inline constexpr std::string_view guard =
    "SELECT CASE WHEN l.locktype = 'object' THEN 'create an object' ELSE "
    "format('take %s on %s', l.mode, coalesce(quote_ident(c.relname), 'a relation it dropped')) END "
    "FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_class c ON c.oid = l.relation "
    "WHERE l.pid = pg_catalog.pg_backend_pid() AND l.granted AND ((l.locktype = 'relation' AND "
    "l.mode <> 'AccessShareLock' AND (c.relnamespace = {0} OR l.relation IN ({1})){2}) OR "
    "(l.locktype = 'object' AND l.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND "
    "l.objid = {0})) LIMIT 1";

/// Leaves the relations `{}` (oids, comma-separated) out of `guard`.
inline constexpr std::string_view guard_besides = " AND l.relation NOT IN ({})";

// Projection locks.

/// Takes the session lock of key $1 if it is free: 1 if taken, 0 if not.
inline constexpr std::string_view try_lock_projection = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))::int4";

/// Takes the batch lock of key $1 until the end of the (single-statement) transaction if it is
/// free: 1 if it was, 0 if a batch still holds it.
inline constexpr std::string_view try_lock_batch = "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))::int4";

/// Lets go of the session lock of key $1.
inline constexpr std::string_view unlock_projection = "SELECT pg_advisory_unlock(hashtextextended($1, 0))::int4";

/// Whether this session holds the session lock of key $1 (count 1 or 0).
inline constexpr std::string_view holds_projection_lock =
    "WITH k AS (SELECT hashtextextended($1, 0) AS key) SELECT count(*)::int4 FROM "
    "pg_catalog.pg_locks l, k WHERE l.locktype = 'advisory' AND l.pid = "
    "pg_catalog.pg_backend_pid() AND l.granted AND l.objsubid = 1 AND l.classid = "
    "((k.key >> 32) & 4294967295)::oid AND l.objid = (k.key & 4294967295)::oid";

// Administration.

/// Streams after $1 in byte order (prefix $2 and $5, regex $3, at most $4). The version row says
/// where each stream is (rows at version 0 are only locks of read-only participants); its last
/// event says when it was written. `{}`: `byte_prefix` on st.stream_id and 5.
inline constexpr std::string_view list_streams =
    "SELECT st.stream_id, st.version, e.recorded_at FROM {{s}}.streams st JOIN {{s}}.events e "
    "ON e.stream_id = st.stream_id AND e.version = st.version "
    "WHERE st.version > 0 AND st.stream_id COLLATE \"C\" > $1 "
    "AND ($2 = '' OR starts_with(st.stream_id, $2)) AND {} "
    "AND ($3::text IS NULL OR st.stream_id ~ $3) ORDER BY st.stream_id COLLATE \"C\" LIMIT $4";

/// The counts of events and streams, the settled head, and the first and last recording times;
/// `{}`: `settled_head`.
inline constexpr std::string_view count_events =
    "SELECT count(*)::int8, count(DISTINCT e.stream_id)::int8, "
    "{}, min(e.recorded_at), max(e.recorded_at) FROM {{s}}.events e";

/// The bytes schema $1's tables and materialized views take, with their indexes and TOAST.
inline constexpr std::string_view schema_size =
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')";

/// The count of events of each type, most first.
inline constexpr std::string_view count_event_types =
    "SELECT e.event_type, count(*)::int8 AS n FROM {s}.events e GROUP BY e.event_type "
    "ORDER BY n DESC, e.event_type COLLATE \"C\"";

/// The counts of events and of commits of each day (UTC), in order.
inline constexpr std::string_view count_days =
    "SELECT to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, "
    "count(*)::int8, count(DISTINCT e.commit_last)::int8 FROM {s}.events e "
    "GROUP BY day ORDER BY day";

/// About $2 events after $1 in log order. One statement, one snapshot: the page and the rest of
/// its last commit, settled only (with `settled`), so no later commit can show up before an
/// earlier one. `{0}`: `event_columns`, `{1}`: `settled` or `unsettled_too`.
inline constexpr std::string_view read_log =
    "WITH page AS (SELECT {0} FROM {{s}}.events e WHERE e.position > $1 AND {1} "
    "ORDER BY e.position LIMIT $2) "
    "SELECT * FROM page UNION ALL SELECT {0} FROM {{s}}.events e, (SELECT max(p.position) AS "
    "position, max(p.commit_last) AS commit_last FROM page p) l "
    "WHERE e.position > l.position AND e.position <= l.commit_last ORDER BY 3";

/// Locks streams $1 as a commit does, exclusively where $2 says it writes (schema.hpp).
inline constexpr std::string_view lock_streams = "SELECT {s}.lock_streams($1, $2)";

/// The versions of the streams $1 that exist.
inline constexpr std::string_view stream_versions =
    "SELECT st.stream_id, st.version FROM {s}.streams st WHERE st.stream_id = ANY($1)";

/// The last position handed out (0 for none).
inline constexpr std::string_view positions_handed =
    "SELECT CASE WHEN q.is_called THEN q.last_value ELSE q.last_value - 1 END FROM {s}.positions q";

/// Takes $1 positions from $2 and the transaction id (schema.hpp): NULL if $2 is not after every
/// position handed out.
inline constexpr std::string_view take_positions = "SELECT {s}.take_positions($1, $2)";

/// Writes events as another store recorded them, and moves their streams' versions; answers the
/// counts of events and streams written.
inline constexpr std::string_view import_events =
    "WITH x AS (SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[], $5::bytea[], $6::uuid[], "
    "$7::text[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::int8[]) "
    "AS x(pos, sid, ver, ty, pl, eid, rec, corr, caus, cmd, cus, last)), "
    "ins AS (INSERT INTO {s}.events (position, stream_id, version, event_type, payload, event_id, recorded_at, "
    "correlation_id, causation_id, command, custom, commit_last) "
    "SELECT x.pos, x.sid, x.ver, x.ty, x.pl, x.eid, "
    "x.rec::timestamptz, x.corr, x.caus, x.cmd, x.cus::jsonb, x.last "
    "FROM x ORDER BY x.pos RETURNING 1), "
    "st AS (INSERT INTO {s}.streams AS st (stream_id, version) "
    "SELECT x.sid, max(x.ver) FROM x GROUP BY x.sid "
    "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version RETURNING 1) "
    "SELECT (SELECT count(*) FROM ins)::int8, (SELECT count(*) FROM st)::int8";

// A whole-store snapshot (`verify`).

/// The head of all this snapshot sees, as `read_log` reads it there.
inline constexpr std::string_view snapshot_head = "SELECT coalesce(max(e.position), 0) FROM {s}.events e";

/// Every command record, by id.
inline constexpr std::string_view command_records =
    "SELECT c.command_id, c.first_position, c.event_count::int8, c.committed_at, c.streams "
    "FROM {s}.commands c ORDER BY c.command_id";

} // namespace eventcore::postgres::detail::queries
