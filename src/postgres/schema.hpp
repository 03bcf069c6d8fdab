#pragma once
// The PostgreSQL schema, as migrations. `{s}` stands for the quoted schema name (validated as a
// plain lower-case identifier before it gets here); every value goes in as a parameter.

#include <cstddef>
#include <string>
#include <string_view>

namespace eventcore::postgres::detail {

/// `text` with `{s}` replaced by the quoted name of `schema` and `{channel}` by the name itself
/// (the notification channel); `schema` is a valid schema name (`validate_schema_name`).
inline auto in_schema(std::string_view text, std::string_view schema) -> std::string {
    std::string out;
    const std::string quoted = '"' + std::string(schema) + '"';
    for (std::size_t i = 0; i < text.size();) {
        if (text.substr(i, 3) == "{s}") {
            out += quoted;
            i += 3;
        } else if (text.substr(i, 9) == "{channel}") {
            out += schema;
            i += 9;
        } else {
            out += text[i++];
        }
    }
    return out;
}

/// Each migration brings the schema from version (index) to version (index + 1).
inline constexpr const char* migrations[] = {
    // 1: streams, events, the position counter, idempotent commands, and the commit function.
    R"sql(
CREATE SCHEMA IF NOT EXISTS {s};

CREATE TABLE {s}.schema_version (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per stream: its version, and the row lock that decides between concurrent writers.
CREATE TABLE {s}.streams (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL
);

CREATE TABLE {s}.events (
    position       bigint      PRIMARY KEY,
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL,
    event_type     text        NOT NULL,
    payload        bytea       NOT NULL,
    event_id       uuid        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    correlation_id uuid        NOT NULL,
    causation_id   uuid        NOT NULL,
    command        text        NOT NULL,
    custom         jsonb,
    commit_last    bigint      NOT NULL,
    UNIQUE (stream_id, version)
);

-- The last global position. Its row lock, taken by every commit that writes events and held to
-- its end, orders commits: positions are gap-free and in commit order, so a reader of the log
-- can never skip an event that commits late (see ADR 8).
CREATE TABLE {s}.log_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    position bigint  NOT NULL
);
INSERT INTO {s}.log_head (position) VALUES (0);

-- Command ids of idempotent executions, and what their commit did.
CREATE TABLE {s}.commands (
    command_id     uuid PRIMARY KEY,
    first_position bigint,
    event_count    integer,
    committed_at   timestamptz,
    streams        jsonb
);

-- A commit's rows (o_kind): 0 an event written, 1 a stream's version after the commit
-- (o_position: its place in the request), 2 a conflict, 3 "this command id was committed
-- before; the rows that follow are that commit's".
CREATE FUNCTION {s}.receipt(p_command_id uuid)
RETURNS TABLE (o_kind smallint, o_stream text, o_version bigint, o_position bigint, o_event_id uuid,
               o_at timestamptz, o_expected_kind smallint, o_expected bigint)
LANGUAGE sql STABLE AS $fn$
    SELECT 3::smallint, NULL::text, NULL::bigint, NULL::bigint, NULL::uuid, c.committed_at, NULL::smallint, NULL::bigint
      FROM {s}.commands c WHERE c.command_id = p_command_id AND c.committed_at IS NOT NULL
    UNION ALL
    SELECT 0::smallint, e.stream_id, e.version, e.position, e.event_id, e.recorded_at, NULL::smallint, NULL::bigint
      FROM {s}.commands c JOIN {s}.events e
        ON e.position >= c.first_position AND e.position < c.first_position + c.event_count
     WHERE c.command_id = p_command_id
    UNION ALL
    SELECT 1::smallint, s.value->>0, (s.value->>1)::bigint, s.ordinality, NULL::uuid, c.committed_at,
           NULL::smallint, NULL::bigint
      FROM {s}.commands c, jsonb_array_elements(c.streams) WITH ORDINALITY AS s(value, ordinality)
     WHERE c.command_id = p_command_id;
$fn$;

-- The whole commit in one call, one round trip: claim the command id, lock and check every
-- stream, take positions, write events, move versions, notify listeners.
CREATE FUNCTION {s}.append_events(
    p_streams       text[],     -- every stream of the commit
    p_kinds         smallint[], -- expectation: 0 any, 1 no stream, 2 stream exists, 3 exact
    p_expected      bigint[],   -- the version for `exact`
    p_written       boolean[],  -- whether the commit writes to the stream
    p_event_streams integer[],  -- for each event, its stream's index in p_streams (1-based)
    p_types         text[],
    p_payloads      bytea[],
    p_event_ids     uuid[],
    p_correlation   uuid[],
    p_causation     uuid[],
    p_commands      text[],
    p_custom        text[],     -- JSON, or NULL
    p_command_id    uuid)
RETURNS TABLE (o_kind smallint, o_stream text, o_version bigint, o_position bigint, o_event_id uuid,
               o_at timestamptz, o_expected_kind smallint, o_expected bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    n_streams  integer := coalesce(array_length(p_streams, 1), 0);
    n_events   integer := coalesce(array_length(p_types, 1), 0);
    actual     bigint[] := array_fill(0::bigint, ARRAY[greatest(n_streams, 1)]);
    written    bigint[] := array_fill(0::bigint, ARRAY[greatest(n_streams, 1)]);
    i          integer;
    v          bigint;
    conflicted boolean := false;
    last_pos   bigint;
    first_pos  bigint;
    committed  timestamptz;
BEGIN
    IF p_command_id IS NOT NULL THEN
        -- A twin with the same id waits here until this transaction ends.
        INSERT INTO {s}.commands (command_id) VALUES (p_command_id) ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RETURN QUERY SELECT * FROM {s}.receipt(p_command_id);
            RETURN;
        END IF;
    END IF;

    -- Lock every stream in one global order (by bytes), so that commits cannot deadlock:
    -- written streams exclusively, read-only ones shared, all held to the end.
    FOR i IN SELECT s.ord FROM unnest(p_streams) WITH ORDINALITY AS s(id, ord) ORDER BY s.id COLLATE "C" LOOP
        IF p_written[i] THEN
            INSERT INTO {s}.streams AS st (stream_id, version) VALUES (p_streams[i], 0) ON CONFLICT DO NOTHING;
            SELECT st.version INTO v FROM {s}.streams st WHERE st.stream_id = p_streams[i] FOR UPDATE;
        ELSE
            SELECT st.version INTO v FROM {s}.streams st WHERE st.stream_id = p_streams[i] FOR SHARE;
            IF NOT FOUND THEN
                -- A row to lock, so that the stream cannot appear behind our back.
                INSERT INTO {s}.streams AS st (stream_id, version) VALUES (p_streams[i], 0) ON CONFLICT DO NOTHING;
                SELECT st.version INTO v FROM {s}.streams st WHERE st.stream_id = p_streams[i] FOR SHARE;
            END IF;
        END IF;
        actual[i] := v;
        IF NOT (p_kinds[i] = 0 OR (p_kinds[i] = 1 AND v = 0) OR (p_kinds[i] = 2 AND v > 0)
                OR (p_kinds[i] = 3 AND v = p_expected[i])) THEN
            conflicted := true;
            o_kind := 2; o_stream := p_streams[i]; o_version := v; o_position := NULL; o_event_id := NULL;
            o_at := NULL; o_expected_kind := p_kinds[i]; o_expected := p_expected[i];
            RETURN NEXT;
        END IF;
    END LOOP;

    IF conflicted THEN
        IF p_command_id IS NOT NULL THEN
            DELETE FROM {s}.commands c WHERE c.command_id = p_command_id;
        END IF;
        RETURN;
    END IF;

    committed := clock_timestamp();
    IF n_events > 0 THEN
        UPDATE {s}.log_head SET position = position + n_events RETURNING position INTO last_pos;
        first_pos := last_pos - n_events + 1;
        committed := clock_timestamp();
        FOR i IN 1 .. n_events LOOP
            written[p_event_streams[i]] := written[p_event_streams[i]] + 1;
        END LOOP;
        RETURN QUERY
        INSERT INTO {s}.events AS e (position, stream_id, version, event_type, payload, event_id, recorded_at,
                                     correlation_id, causation_id, command, custom, commit_last)
        SELECT first_pos + x.ord - 1, p_streams[x.si],
               actual[x.si] + row_number() OVER (PARTITION BY x.si ORDER BY x.ord),
               x.ty, x.pl, x.eid, committed, x.corr, x.caus, x.cmd, x.cus::jsonb, last_pos
          FROM unnest(p_event_streams, p_types, p_payloads, p_event_ids, p_correlation, p_causation,
                      p_commands, p_custom) WITH ORDINALITY AS x(si, ty, pl, eid, corr, caus, cmd, cus, ord)
         ORDER BY x.ord
        RETURNING 0::smallint, e.stream_id, e.version, e.position, e.event_id, e.recorded_at,
                  NULL::smallint, NULL::bigint;
        UPDATE {s}.streams st SET version = st.version + w.n
          FROM (SELECT p_streams[k] AS id, written[k] AS n FROM generate_series(1, n_streams) k
                 WHERE written[k] > 0) w
         WHERE st.stream_id = w.id;
        PERFORM pg_notify('{channel}', last_pos::text);
    END IF;

    RETURN QUERY
    SELECT 1::smallint, p_streams[k], actual[k] + written[k], k::bigint, NULL::uuid, committed,
           NULL::smallint, NULL::bigint
      FROM generate_series(1, n_streams) k;

    IF p_command_id IS NOT NULL THEN
        UPDATE {s}.commands c
           SET first_position = coalesce(first_pos, (SELECT h.position + 1 FROM {s}.log_head h)),
               event_count = n_events,
               committed_at = committed,
               streams = (SELECT coalesce(jsonb_agg(jsonb_build_array(p_streams[k], actual[k] + written[k]) ORDER BY k),
                                          '[]'::jsonb)
                            FROM generate_series(1, n_streams) k)
         WHERE c.command_id = p_command_id;
    END IF;
END;
$fn$;
)sql",
    // 2: checkpoints of subscriptions and projections.
    R"sql(
CREATE TABLE {s}.checkpoints (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
)sql",
    // 3: positions from a sequence, taken together with the writer's transaction id under a lock
    // held for microseconds rather than through the commit's WAL flush, and streams locked by
    // advisory locks, which write nothing (ADR 8). A reader of the log reads only what is older
    // than its snapshot's oldest running transaction.
    R"sql(
CREATE SEQUENCE {s}.positions AS bigint MINVALUE 1;
SELECT setval('{s}.positions', greatest(h.position, 1), h.position > 0) FROM {s}.log_head h;
DROP TABLE {s}.log_head;

-- The transaction that wrote the event. Positions and transaction ids are taken together under
-- one lock, so they grow together: what is older than a snapshot's oldest running transaction
-- is a prefix of the log, which no commit can still extend from within.
ALTER TABLE {s}.events ADD COLUMN transaction_id xid8 NOT NULL DEFAULT '0';
ALTER TABLE {s}.events ALTER COLUMN transaction_id SET DEFAULT pg_current_xact_id();

-- Locks the streams of a commit until its transaction ends: exclusively where it writes, shared
-- where it only reads. Advisory locks, in the order of their keys (one order for every writer,
-- so commits cannot deadlock), because they do not give the transaction an id: its positions
-- and its id are taken after its streams are locked, so each stream's versions follow the log.
CREATE FUNCTION {s}.lock_streams(p_streams text[], p_written boolean[])
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    k  bigint;
    ex boolean;
BEGIN
    FOR k, ex IN SELECT hashtextextended(x.id, hashtext('{s}')), bool_or(x.w)
                   FROM unnest(p_streams, p_written) AS x(id, w) GROUP BY 1 ORDER BY 1 LOOP
        IF ex THEN
            PERFORM pg_advisory_xact_lock(k);
        ELSE
            PERFORM pg_advisory_xact_lock_shared(k);
        END IF;
    END LOOP;
END;
$fn$;

-- Takes the transaction id and the positions p_first .. p_first + p_count - 1 (p_first NULL:
-- the next p_count positions) in one step, under a session lock released before this returns,
-- and returns the first. It must be the transaction's first write, which is what makes its id
-- as late as its positions. An import (p_first given) must come after every position handed
-- out; NULL says it does not, and takes nothing.
CREATE FUNCTION {s}.take_positions(p_count bigint, p_first bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    first  bigint;
    handed bigint;
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'eventcore: positions must be taken before the transaction writes anything';
    END IF;
    BEGIN
        PERFORM pg_advisory_lock(1700946689, hashtext('{s}'));
        PERFORM pg_current_xact_id();
        IF p_first IS NULL THEN
            -- One by one: contiguous under the lock, and cheaper than setval, which logs
            -- every call.
            first := nextval('{s}.positions');
            IF p_count > 1 THEN
                PERFORM nextval('{s}.positions') FROM generate_series(2, p_count);
            END IF;
        ELSE
            SELECT CASE WHEN q.is_called THEN q.last_value ELSE q.last_value - 1 END INTO handed FROM {s}.positions q;
            IF p_first > handed THEN
                first := p_first;
                PERFORM setval('{s}.positions', p_first + p_count - 1);
            END IF;
        END IF;
        PERFORM pg_advisory_unlock(1700946689, hashtext('{s}'));
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        -- A session lock outlives the transaction: never leave it held.
        PERFORM pg_advisory_unlock(1700946689, hashtext('{s}'));
        RAISE;
    END;
    RETURN first;
END;
$fn$;

-- The commit of version 1, with no lock shared by every writer held to its end: the command id
-- and the streams are locked, the versions checked, and only then are positions and the
-- transaction id taken. A conflict writes nothing and costs no positions. Live readers are
-- woken by the writer's process, outside the commit.
CREATE OR REPLACE FUNCTION {s}.append_events(
    p_streams       text[],
    p_kinds         smallint[],
    p_expected      bigint[],
    p_written       boolean[],
    p_event_streams integer[],
    p_types         text[],
    p_payloads      bytea[],
    p_event_ids     uuid[],
    p_correlation   uuid[],
    p_causation     uuid[],
    p_commands      text[],
    p_custom        text[],
    p_command_id    uuid)
RETURNS TABLE (o_kind smallint, o_stream text, o_version bigint, o_position bigint, o_event_id uuid,
               o_at timestamptz, o_expected_kind smallint, o_expected bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    n_streams  integer := coalesce(array_length(p_streams, 1), 0);
    n_events   integer := coalesce(array_length(p_types, 1), 0);
    actual     bigint[] := array_fill(0::bigint, ARRAY[greatest(n_streams, 1)]);
    written    bigint[] := array_fill(0::bigint, ARRAY[greatest(n_streams, 1)]);
    i          integer;
    v          bigint;
    conflicted boolean := false;
    first_pos  bigint;
    last_pos   bigint;
    committed  timestamptz;
BEGIN
    IF p_command_id IS NOT NULL THEN
        -- A twin with the same id waits here until this transaction ends, then finds its receipt.
        PERFORM pg_advisory_xact_lock(1700946690, hashtext(p_command_id::text));
        IF EXISTS (SELECT 1 FROM {s}.commands c WHERE c.command_id = p_command_id) THEN
            RETURN QUERY SELECT * FROM {s}.receipt(p_command_id);
            RETURN;
        END IF;
    END IF;

    IF n_streams = 1 THEN
        -- The usual case, without a query.
        IF p_written[1] THEN
            PERFORM pg_advisory_xact_lock(hashtextextended(p_streams[1], hashtext('{s}')));
        ELSE
            PERFORM pg_advisory_xact_lock_shared(hashtextextended(p_streams[1], hashtext('{s}')));
        END IF;
    ELSE
        PERFORM {s}.lock_streams(p_streams, p_written);
    END IF;
    FOR i IN 1 .. n_streams LOOP
        v := coalesce((SELECT st.version FROM {s}.streams st WHERE st.stream_id = p_streams[i]), 0);
        actual[i] := v;
        IF NOT (p_kinds[i] = 0 OR (p_kinds[i] = 1 AND v = 0) OR (p_kinds[i] = 2 AND v > 0)
                OR (p_kinds[i] = 3 AND v = p_expected[i])) THEN
            conflicted := true;
            o_kind := 2; o_stream := p_streams[i]; o_version := v; o_position := NULL; o_event_id := NULL;
            o_at := NULL; o_expected_kind := p_kinds[i]; o_expected := p_expected[i];
            RETURN NEXT;
        END IF;
    END LOOP;
    IF conflicted THEN
        RETURN;
    END IF;

    IF n_events > 0 THEN
        -- As take_positions, inline and without its subtransaction: an error between the lock
        -- and the unlock can only be one that fails this call, and the client closes a
        -- connection whose commit failed, which ends its session and its locks.
        IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
            RAISE EXCEPTION 'eventcore: positions must be taken before the transaction writes anything';
        END IF;
        PERFORM pg_advisory_lock(1700946689, hashtext('{s}'));
        PERFORM pg_current_xact_id();
        first_pos := nextval('{s}.positions');
        IF n_events > 1 THEN
            PERFORM nextval('{s}.positions') FROM generate_series(2, n_events);
        END IF;
        PERFORM pg_advisory_unlock(1700946689, hashtext('{s}'));
        last_pos := first_pos + n_events - 1;
    END IF;
    committed := clock_timestamp();
    IF n_events > 0 THEN
        FOR i IN 1 .. n_events LOOP
            written[p_event_streams[i]] := written[p_event_streams[i]] + 1;
        END LOOP;
        RETURN QUERY
        INSERT INTO {s}.events AS e (position, stream_id, version, event_type, payload, event_id, recorded_at,
                                     correlation_id, causation_id, command, custom, commit_last)
        SELECT first_pos + x.ord - 1, p_streams[x.si],
               actual[x.si] + row_number() OVER (PARTITION BY x.si ORDER BY x.ord),
               x.ty, x.pl, x.eid, committed, x.corr, x.caus, x.cmd, x.cus::jsonb, last_pos
          FROM unnest(p_event_streams, p_types, p_payloads, p_event_ids, p_correlation, p_causation,
                      p_commands, p_custom) WITH ORDINALITY AS x(si, ty, pl, eid, corr, caus, cmd, cus, ord)
         ORDER BY x.ord
        RETURNING 0::smallint, e.stream_id, e.version, e.position, e.event_id, e.recorded_at,
                  NULL::smallint, NULL::bigint;
        FOR i IN 1 .. n_streams LOOP
            IF written[i] > 0 THEN
                INSERT INTO {s}.streams AS st (stream_id, version) VALUES (p_streams[i], actual[i] + written[i])
                    ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version;
            END IF;
        END LOOP;
    END IF;

    RETURN QUERY
    SELECT 1::smallint, p_streams[k], actual[k] + written[k], k::bigint, NULL::uuid, committed,
           NULL::smallint, NULL::bigint
      FROM generate_series(1, n_streams) k;

    IF p_command_id IS NOT NULL THEN
        INSERT INTO {s}.commands (command_id, first_position, event_count, committed_at, streams)
        VALUES (p_command_id,
                coalesce(first_pos, (SELECT CASE WHEN q.is_called THEN q.last_value + 1 ELSE q.last_value END
                                       FROM {s}.positions q)),
                n_events, committed,
                (SELECT coalesce(jsonb_agg(jsonb_build_array(p_streams[k], actual[k] + written[k]) ORDER BY k),
                                 '[]'::jsonb)
                   FROM generate_series(1, n_streams) k));
    END IF;
END;
$fn$;
)sql",
};

} // namespace eventcore::postgres::detail
