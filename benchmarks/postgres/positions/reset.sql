-- Every run starts from the same state: empty logs, 10 000 existing streams at version 0,
-- and a fresh checkpoint so no run pays for another's full-page writes.
TRUNCATE counter.events, counter.streams, xid.events, xid.streams;
UPDATE counter.log_head SET position = 0;
ALTER SEQUENCE xid.events_position_seq RESTART;
INSERT INTO counter.streams SELECT 'account-' || i, 0 FROM generate_series(1, 10000) AS i;
INSERT INTO xid.streams SELECT 'account-' || i, 0 FROM generate_series(1, 10000) AS i;
VACUUM ANALYZE counter.streams, counter.log_head, counter.events, xid.streams, xid.events;
CHECKPOINT;
-- pg_stat_wal.wal_sync then counts the run's WAL flushes: one per commit means no group commit.
SELECT pg_stat_reset_shared('wal');
