#pragma once
// The SQLite schema, as migrations. A store records the versions it has in `eventcore_schema`;
// a migration, once released, is never changed: stores exist with it.

namespace eventcore::sqlite::detail {

/// Each migration brings the schema from version (index) to version (index + 1).
inline constexpr const char* migrations[] = {
    // 1: events, idempotent commands.
    R"sql(
CREATE TABLE eventcore_schema (
    version    INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
);
CREATE TABLE events (
    position       INTEGER PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_type     TEXT    NOT NULL,
    payload        BLOB    NOT NULL,
    event_id       BLOB    NOT NULL,
    recorded_at    INTEGER NOT NULL,
    correlation_id BLOB    NOT NULL,
    causation_id   BLOB    NOT NULL,
    command        TEXT    NOT NULL,
    custom         TEXT,
    commit_last    INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_by_stream ON events (stream_id, version);
CREATE TABLE commands (
    command_id     BLOB    PRIMARY KEY,
    first_position INTEGER NOT NULL,
    event_count    INTEGER NOT NULL,
    committed_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE command_streams (
    command_id BLOB    NOT NULL,
    ordinal    INTEGER NOT NULL,
    stream_id  TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (command_id, ordinal)
) WITHOUT ROWID;
)sql",
    // 2: checkpoints of subscriptions and projections.
    R"sql(
CREATE TABLE checkpoints (
    name       TEXT    PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
};

} // namespace eventcore::sqlite::detail
