-- Design (b)'s reader: the page after (:last_tx, :last_pos), stopping below the oldest
-- transaction still running, whose events could yet appear with smaller positions.
SELECT transaction_id, position, stream_id, version
FROM xid.events
WHERE (transaction_id, position) > (:'last_tx'::xid8, :last_pos)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, position
LIMIT 1000;
