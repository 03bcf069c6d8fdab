#pragma once
// The SQL the SQLite store runs, other than its schema (schema.hpp): every statement as a named
// constant, and the fragments some are built from, which the source files only put together.
// Whole texts handed to SQLite as C strings are `const char*`; format strings (those with `{}`)
// and texts prepared through `Connection::use(std::string_view)` are `std::string_view`.

#include <string_view>

namespace eventcore::sqlite::detail::queries {

// The store's own statements, each prepared once per connection (`Sql`, see connection.cpp).

/// The columns of an `events` row, in the order `read_row` reads them and `insert_event` binds them.
inline constexpr std::string_view event_columns =
    "stream_id, version, position, event_type, payload, event_id, recorded_at, correlation_id, causation_id, "
    "command, custom, commit_last";
/// A read transaction (its snapshot starts at its first read), a write transaction, and their ends.
inline constexpr const char* begin_deferred = "BEGIN";
inline constexpr const char* begin_immediate = "BEGIN IMMEDIATE";
inline constexpr const char* commit = "COMMIT";
inline constexpr const char* rollback = "ROLLBACK";
/// The events of the streams in the JSON array ?1, in position order ({}: `event_columns`).
inline constexpr std::string_view read_streams =
    "SELECT {} FROM events WHERE position IN (SELECT position FROM events WHERE stream_id IN "
    "(SELECT value FROM json_each(?1))) ORDER BY position";
/// The events of streams ?1, ..., ?k, in position order ({}: `event_columns`; {}: the parameters,
/// each a `listed_stream`).
inline constexpr std::string_view read_listed_streams =
    "SELECT {} FROM events WHERE position IN (SELECT position FROM events WHERE "
    "stream_id IN ({})) ORDER BY position";
/// One parameter of `read_listed_streams`: a comma before all but the first ({}), and its number ({}).
inline constexpr std::string_view listed_stream = "{}?{}";
/// The events of stream ?1, in version order ({}: `event_columns`).
inline constexpr std::string_view read_one_stream = "SELECT {} FROM events WHERE stream_id = ?1 ORDER BY version";
/// The events of stream ?1 from version ?2, in version order ({}: `event_columns`).
inline constexpr std::string_view read_stream_from =
    "SELECT {} FROM events WHERE stream_id = ?1 AND version >= ?2 ORDER BY version";
/// The version of stream ?1 (0 for a stream with no events).
inline constexpr const char* stream_version = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = ?1";
/// The log after ?1, filtered ({}: `event_columns`). The filters are pushed down so that a
/// selective query scans, but does not decode or deliver, what it skips. The prefix (?2, a BLOB
/// or NULL) is compared by bytes, as the other stores do: on BLOBs `substr` and `length` count
/// bytes, on TEXT characters. ?3 is a JSON array of event types or NULL, ?4 a GLOB or NULL.
inline constexpr std::string_view read_all = "SELECT {} FROM events WHERE position > ?1 "
                                             "AND (?2 IS NULL OR substr(CAST(stream_id AS BLOB), 1, length(?2)) = ?2) "
                                             "AND (?3 IS NULL OR event_type IN (SELECT value FROM json_each(?3))) "
                                             "AND (?4 IS NULL OR stream_id GLOB ?4) "
                                             "ORDER BY position";
/// The last position in the log (0 for an empty log).
inline constexpr const char* head = "SELECT coalesce(max(position), 0) FROM events";
/// The idempotency record of command id ?1.
inline constexpr const char* find_command =
    "SELECT first_position, event_count, committed_at FROM commands WHERE command_id = ?1";
/// The events a command wrote: positions ?1 up to (not including) ?2.
inline constexpr const char* command_events =
    "SELECT stream_id, version, position, event_id FROM events WHERE position >= ?1 AND position < ?2 "
    "ORDER BY position";
/// The streams of command id ?1 and their versions after its commit, in the order of its request.
inline constexpr const char* command_streams =
    "SELECT stream_id, version FROM command_streams WHERE command_id = ?1 ORDER BY ordinal";
/// Writes one event, its values bound in the order of `event_columns` ({}: `event_columns`).
inline constexpr std::string_view insert_event =
    "INSERT INTO events ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
/// Records an idempotent command: its id, first position, event count and commit time.
inline constexpr const char* insert_command =
    "INSERT INTO commands (command_id, first_position, event_count, committed_at) VALUES (?1, ?2, ?3, ?4)";
/// Records one stream of an idempotent command: ordinal ?2, stream ?3 at version ?4.
inline constexpr const char* insert_command_stream =
    "INSERT INTO command_streams (command_id, ordinal, stream_id, version) VALUES (?1, ?2, ?3, ?4)";
/// A number that changes when another connection has committed, read without a table.
inline constexpr const char* data_version = "PRAGMA data_version";
/// Sets checkpoint ?1 to position ?2 at time ?3, whatever it was.
inline constexpr const char* save_checkpoint =
    "INSERT INTO checkpoints (name, position, updated_at) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at";
/// Moves checkpoint ?1 from ?2 to ?3 at time ?4, where a missing checkpoint counts as at 0.
inline constexpr const char* advance_checkpoint_from_zero =
    "INSERT INTO checkpoints (name, position, updated_at) VALUES (?1, ?3, ?4) ON CONFLICT (name) DO "
    "UPDATE SET position = excluded.position, updated_at = excluded.updated_at WHERE position = ?2";
/// Moves checkpoint ?1 from ?2 to ?3 at time ?4, only if it is at ?2.
inline constexpr const char* advance_checkpoint =
    "UPDATE checkpoints SET position = ?3, updated_at = ?4 WHERE name = ?1 AND position = ?2";
/// The position of checkpoint ?1.
inline constexpr const char* load_checkpoint = "SELECT position FROM checkpoints WHERE name = ?1";
/// Every checkpoint, by name.
inline constexpr const char* list_checkpoints = "SELECT name, position, updated_at FROM checkpoints ORDER BY name";
/// Deletes checkpoint ?1.
inline constexpr const char* delete_checkpoint = "DELETE FROM checkpoints WHERE name = ?1";

// Opening a database and migrating its schema.

/// The `synchronous` setting of each connection, one text per `Synchronous`.
inline constexpr const char* synchronous_off = "PRAGMA synchronous = OFF";
inline constexpr const char* synchronous_normal = "PRAGMA synchronous = NORMAL";
inline constexpr const char* synchronous_full = "PRAGMA synchronous = FULL";
inline constexpr const char* synchronous_extra = "PRAGMA synchronous = EXTRA";
/// A file database's journal: WAL, so that readers go on while one writer commits.
inline constexpr const char* journal_mode_wal = "PRAGMA journal_mode = WAL";
/// Whether the database holds eventcore's schema table at all.
inline constexpr const char* has_schema_table = "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND "
                                                "name = 'eventcore_schema')";
/// The schema version recorded in the database.
inline constexpr const char* read_schema_version = "SELECT coalesce(max(version), 0) FROM eventcore_schema";
/// Whatever the database holds that is not SQLite's own, in the order it was created.
inline constexpr const char* foreign_objects = "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' "
                                               "ESCAPE '\\' ORDER BY rowid";
/// Records a migration: the version it brought the schema to ({}), and when ({}, microseconds).
inline constexpr std::string_view record_schema_version =
    "INSERT INTO eventcore_schema (version, applied_at) VALUES ({}, {})";

// A caller's transaction (`SqlSession`).

/// The name of a savepoint of `SqlSession::isolated`, by its depth ({}).
inline constexpr std::string_view savepoint_name = "eventcore_{}";
/// Starts, rolls back to, and releases the savepoint named {}.
inline constexpr std::string_view savepoint = "SAVEPOINT {}";
inline constexpr std::string_view rollback_to_savepoint = "ROLLBACK TO {}";
inline constexpr std::string_view release_savepoint = "RELEASE {}";

// Administration (see <eventcore/store_admin.hpp>) and the snapshot of `eventcore verify`.

/// Streams after ?1, filtered by a byte prefix (?2, a BLOB or NULL, as in `read_all`) and a GLOB
/// (?3 or NULL), at most ?4 (-1: all), with their versions and last write times. With one max()
/// in the select list, SQLite takes the bare recorded_at from that row.
inline constexpr std::string_view list_streams =
    "SELECT stream_id, max(version), recorded_at FROM events WHERE stream_id > ?1 "
    "AND (?2 IS NULL OR substr(CAST(stream_id AS BLOB), 1, length(?2)) = ?2) AND (?3 IS NULL OR stream_id GLOB ?3) "
    "GROUP BY stream_id ORDER BY stream_id LIMIT ?4";
/// How many events and streams, the head, and the first and last write times.
inline constexpr std::string_view count_events = "SELECT count(*), count(DISTINCT stream_id), coalesce(max(position), 0), "
                                                 "min(recorded_at), max(recorded_at) FROM events";
/// The size of the database file, in bytes.
inline constexpr std::string_view database_size =
    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()";
/// How many events of each type, the most common first.
inline constexpr std::string_view count_event_types =
    "SELECT event_type, count(*) AS n FROM events GROUP BY event_type ORDER BY n DESC, event_type";
/// How many events and commits each day (UTC).
inline constexpr std::string_view count_events_by_day =
    "SELECT date(recorded_at / 1000000, 'unixepoch') AS day, count(*), count(DISTINCT commit_last) "
    "FROM events GROUP BY day ORDER BY day";
/// The log after ?1, in position order; the columns of `read_row`, in its order.
inline constexpr std::string_view read_log =
    "SELECT stream_id, version, position, event_type, payload, event_id, recorded_at, correlation_id, "
    "causation_id, command, custom, commit_last FROM events WHERE position > ?1 ORDER BY position";
/// Every idempotency record with its stream rows (last column 1), then the stream rows whose
/// record is missing (last column 0), by command id and ordinal.
inline constexpr std::string_view command_records =
    "SELECT c.command_id, c.first_position, c.event_count, c.committed_at, s.ordinal, s.stream_id, s.version, 1 "
    "FROM commands c LEFT JOIN command_streams s ON s.command_id = c.command_id "
    "UNION ALL SELECT s.command_id, NULL, NULL, NULL, s.ordinal, s.stream_id, s.version, 0 "
    "FROM command_streams s WHERE NOT EXISTS (SELECT 1 FROM commands c WHERE c.command_id = s.command_id) "
    "ORDER BY 1, 5";
/// SQLite's integrity check, reporting at most {} problems.
inline constexpr std::string_view integrity_check = "PRAGMA integrity_check({})";

} // namespace eventcore::sqlite::detail::queries
