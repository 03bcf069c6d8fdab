#!/usr/bin/env bash
# Shows why a plain bigserial log can be skipped, and that design (b)'s reader cannot be:
# A takes position 1 and commits late; B takes position 2 and commits at once; a reader polls
# in between and again after A's commit.
#   skip-demo.sh CONNINFO   (schema.sql loaded; empties xid.events)
set -euo pipefail
cd "$(dirname "$0")"
conninfo=$1
sql() { PGOPTIONS="-c search_path=xid" psql "$conninfo" -qAtX -v ON_ERROR_STOP=1 "$@"; }
naive() { sql -c "SELECT coalesce(string_agg(position::text, ',' ORDER BY position), '-') FROM xid.events WHERE position > $1"; }
snapshot() { sql -v last_tx="$1" -v last_pos="$2" -f read-xid.sql | awk -F'|' '{ p = p sep $2; sep = "," } END { print (p == "" ? "-" : p) }'; }

sql -c "TRUNCATE xid.events; ALTER SEQUENCE xid.events_position_seq RESTART"
sql -c "BEGIN" -c "SELECT append(ARRAY['demo-a'], ARRAY['T'], ARRAY['{}'::jsonb])" -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null &
writer_a=$!
sleep 1
sql -c "SELECT append(ARRAY['demo-b'], ARRAY['T'], ARRAY['{}'::jsonb])" >/dev/null

echo "A holds position 1 uncommitted, B committed position 2"
seen=$(naive 0)
echo "  plain reader, position > 0:             $seen"
echo "  (b) reader, (tx, position) > (0, 0):    $(snapshot 0 0)"
wait "$writer_a"
echo "A committed"
echo "  plain reader, position > ${seen##*,}:             $(naive "${seen##*,}")   <- position 1 is never read"
echo "  (b) reader, (tx, position) > (0, 0):    $(snapshot 0 0)"
