-- Two ways to give events a global position, as the PostgreSQL store would write them.
-- Both expose append(streams, types, payloads): one commit, one round trip, one event per
-- array element, positions in request order. The benchmark and the skip demo call it with
-- search_path set to the design's schema.

-- (a) counter: a one-row position counter, taken last, held until COMMIT. Positions are
--     gap-free and in commit order because commits queue on that row.
CREATE SCHEMA counter;

CREATE TABLE counter.streams (stream_id text PRIMARY KEY, version bigint NOT NULL);
CREATE TABLE counter.log_head (position bigint NOT NULL);
INSERT INTO counter.log_head VALUES (0);

CREATE TABLE counter.events (
  position    bigint PRIMARY KEY,
  stream_id   text NOT NULL,
  version     bigint NOT NULL,
  event_type  text NOT NULL,
  payload     jsonb NOT NULL,
  event_id    uuid NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, version)
);

CREATE FUNCTION counter.append(p_streams text[], p_types text[], p_payloads jsonb[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  n        int := cardinality(p_streams);
  ids      text[];
  versions bigint[];
  last_pos bigint;
BEGIN
  -- Lock every written stream (creating it if new), in a fixed order so that multi-stream
  -- commits cannot deadlock. The store would compare these versions with the expected ones.
  WITH locked AS (
    INSERT INTO counter.streams AS s (stream_id, version)
    SELECT DISTINCT id, 0 FROM unnest(p_streams) AS id ORDER BY id
    ON CONFLICT (stream_id) DO UPDATE SET version = s.version
    RETURNING s.stream_id, s.version)
  SELECT array_agg(stream_id), array_agg(version) INTO ids, versions FROM locked;

  -- As late as possible: from here to the end of COMMIT no other commit can run.
  UPDATE counter.log_head SET position = position + n RETURNING position INTO last_pos;

  INSERT INTO counter.events (position, stream_id, version, event_type, payload, event_id)
  SELECT last_pos - n + e.ord,
         e.stream_id,
         l.version + row_number() OVER (PARTITION BY e.stream_id ORDER BY e.ord),
         e.event_type, e.payload, gen_random_uuid()
  FROM unnest(p_streams, p_types, p_payloads) WITH ORDINALITY AS e(stream_id, event_type, payload, ord)
  JOIN unnest(ids, versions) AS l(stream_id, version) USING (stream_id)
  ORDER BY e.ord;

  UPDATE counter.streams AS s SET version = s.version + c.n
  FROM (SELECT id, count(*) AS n FROM unnest(p_streams) AS id GROUP BY id) AS c
  WHERE s.stream_id = c.id;

  RETURN last_pos;
END $$;

-- (b) xid: a bigserial position plus the writing transaction's id. Commits never wait for each
--     other; readers order by (transaction_id, position) and stop below the oldest running
--     transaction (see read-xid.sql).
CREATE SCHEMA xid;

CREATE TABLE xid.streams (stream_id text PRIMARY KEY, version bigint NOT NULL);

CREATE TABLE xid.events (
  position       bigserial PRIMARY KEY,
  transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  stream_id      text NOT NULL,
  version        bigint NOT NULL,
  event_type     text NOT NULL,
  payload        jsonb NOT NULL,
  event_id       uuid NOT NULL,
  recorded_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, version)
);
-- The readers' order; without it every poll sorts the log.
CREATE INDEX ON xid.events (transaction_id, position);

CREATE FUNCTION xid.append(p_streams text[], p_types text[], p_payloads jsonb[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  ids      text[];
  versions bigint[];
  last_pos bigint;
BEGIN
  WITH locked AS (
    INSERT INTO xid.streams AS s (stream_id, version)
    SELECT DISTINCT id, 0 FROM unnest(p_streams) AS id ORDER BY id
    ON CONFLICT (stream_id) DO UPDATE SET version = s.version
    RETURNING s.stream_id, s.version)
  SELECT array_agg(stream_id), array_agg(version) INTO ids, versions FROM locked;

  WITH inserted AS (
    INSERT INTO xid.events (stream_id, version, event_type, payload, event_id)
    SELECT e.stream_id,
           l.version + row_number() OVER (PARTITION BY e.stream_id ORDER BY e.ord),
           e.event_type, e.payload, gen_random_uuid()
    FROM unnest(p_streams, p_types, p_payloads) WITH ORDINALITY AS e(stream_id, event_type, payload, ord)
    JOIN unnest(ids, versions) AS l(stream_id, version) USING (stream_id)
    ORDER BY e.ord
    RETURNING position)
  SELECT max(position) INTO last_pos FROM inserted;

  UPDATE xid.streams AS s SET version = s.version + c.n
  FROM (SELECT id, count(*) AS n FROM unnest(p_streams) AS id GROUP BY id) AS c
  WHERE s.stream_id = c.id;

  RETURN last_pos;
END $$;
