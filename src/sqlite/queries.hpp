#pragma once
// The SQL the SQLite store runs, other than its schema (schema.hpp): every statement as a named
// constant, and the fragments some are built from, which the source files only put together.
// Texts given to `sqlite3_exec` or `sqlite3_prepare_v2` whole are `const char*`; the others
// `std::string_view`; those with `{}` are format strings.

#include <string_view>

namespace eventcore::sqlite::detail::queries {

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
