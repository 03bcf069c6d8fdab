#!/usr/bin/env bash
# Measures the global-position designs of docs/adr/0008-postgres-global-positions.md on a
# throwaway server (script/postgres) and prints medians.
#   benchmarks/postgres/positions/run.sh
#   RUNS=5 DURATION=20 CLIENTS="1 2 4 8 16" EVENTS="1 10" benchmarks/postgres/positions/run.sh
#
# Designs: counter = (a), a one-row counter held until COMMIT; xid = (b), bigserial + xid8;
# counter-async = (a) with synchronous_commit = off, to show what the WAL flush costs (a).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bin=/usr/lib/postgresql/15/bin
runs=${RUNS:-5} duration=${DURATION:-20} clients=${CLIENTS:-1 2 4 8 16} events=${EVENTS:-1 10}
designs="counter xid counter-async"

dir=$(mktemp -d /tmp/eventcore-positions.XXXXXX)
trap '"$root/script/postgres" stop "$dir"' EXIT
"$root/script/postgres" start "$dir"
conninfo=$(cat "$dir/conninfo")
sql() { psql "$conninfo" -qAtX -v ON_ERROR_STOP=1 "$@"; }
sql -f "$here/schema.sql"

# The WAL flush every commit waits for; (a) cannot commit faster than one flush at a time.
echo "== fsync of one 8 kB write (pg_test_fsync)"
fsync=$("$bin/pg_test_fsync" -s 2 -f "$dir/fsync.test")
grep -m1 -E '^ +fdatasync' <<<"$fsync"
rm -f "$dir/fsync.test"

echo "== a plain bigserial reader skips, design (b)'s does not"
"$here/skip-demo.sh" "$conninfo"

echo "== pgbench, $duration s per run, $runs runs (run design events clients tps ms flushes/commit)"
results=$dir/results
for run in $(seq "$runs"); do
  for e in $events; do
    for c in $clients; do
      # The designs run back to back, so that the machine's drift (its fsync time varies by
      # several times from minute to minute) hits them alike; the ratio column pairs them.
      for design in $designs; do
        case $design in
          counter-async) options="-c search_path=counter -c synchronous_commit=off" ;;
          *) options="-c search_path=$design" ;;
        esac
        sql -f "$here/reset.sql" >/dev/null
        out=$(PGOPTIONS="$options" "$bin/pgbench" -n -M prepared -c "$c" -j $((c < 2 ? c : 2)) \
          -T "$duration" -f "$here/append-$e.pgbench" "$conninfo" 2>&1) || { echo "$out" >&2; exit 1; }
        tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
        ms=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
        commits=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
        flushes=$(sql -c "SELECT round(wal_sync / $commits.0, 2) FROM pg_stat_wal")
        echo "$run $design $e $c $tps $ms $flushes" | tee -a "$results"
      done
    done
  done
done

echo
echo "== medians: commits/s, average latency (ms), WAL flushes per commit; xid/counter = median of paired tps ratios"
awk -v designs="$designs" '
  function median(list,   v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  { k = $3 " " $4; tps[$2, k] = tps[$2, k] " " $5; ms[$2, k] = ms[$2, k] " " $6; fl[$2, k] = fl[$2, k] " " $7
    t[$1, $2, k] = $5; if (!(k in seen)) { seen[k]; keys[++nk] = k } }
  END {
    nd = split(designs, d, " ")
    printf "%-7s %-8s", "events", "clients"
    for (i = 1; i <= nd; i++) printf " | %17s %6s %7s", d[i] " tps", "ms", "flushes"
    printf " | %s\n", "xid/counter"
    for (x = 1; x <= nk; x++) {
      k = keys[x]; split(k, ec, " "); printf "%-7s %-8s", ec[1], ec[2]
      for (i = 1; i <= nd; i++) printf " | %17.0f %6.2f %7.2f", median(tps[d[i], k]), median(ms[d[i], k]), median(fl[d[i], k])
      r = ""; for (run = 1; (run, "counter", k) in t; run++) r = r " " t[run, "xid", k] / t[run, "counter", k]
      printf " | %11.2f\n", median(r)
    }
  }' "$results"
