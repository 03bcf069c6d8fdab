// The 1-stream command of bench_scaling on Emmett's PostgreSQL event store: each of C clients
// (concurrent async loops in one Node process, a pool of C connections) reads its stream, folds
// it, and appends one event with the version it read as the expected version, for T seconds.
// Streams are the clients' own (64 each, used in turn), as in bench_scaling. Prints one JSON line.
//
//   EVENTCORE_PG='key=value conninfo' node bench.mjs CLIENTS SECONDS
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';

const clients = Number(process.argv[2] ?? 1);
const seconds = Number(process.argv[3] ?? 3);
const tag = `${process.pid}-${Date.now()}`;

// libpq's key=value form, which `pg` does not read, as a URI (the password stays out of argv).
const parts = Object.fromEntries(
  (process.env.EVENTCORE_PG ?? '').trim().split(/\s+/).map((kv) => { const i = kv.indexOf('='); return [kv.slice(0, i), kv.slice(i + 1).replace(/^'|'$/g, '')]; }));
const uri = `postgresql://${encodeURIComponent(parts.user ?? '')}:${encodeURIComponent(parts.password ?? '')}@/` +
  `${encodeURIComponent(parts.dbname ?? '')}?host=${encodeURIComponent(parts.host ?? '/tmp')}&port=${parts.port ?? 5432}`;

const store = getPostgreSQLEventStore(uri, { connectionOptions: { pooled: true, max: clients } });
const evolve = (sum, event) => sum + event.data.round;

// Create the schema once, before the clock starts.
await store.appendToStream(`warmup-${tag}`, [{ type: 'Touched', data: { round: 0 } }]);

const latencies = [];
let errors = 0;
let firstError = '';
const until = Date.now() + seconds * 1000;
const started = process.hrtime.bigint();
await Promise.all(Array.from({ length: clients }, async (_, c) => {
  for (let round = 0; Date.now() < until; ++round) {
    const stream = `touch-${tag}-c${c}-s${round % 64}`;
    const t0 = process.hrtime.bigint();
    try {
      const { currentStreamVersion } = await store.aggregateStream(stream, { evolve, initialState: () => 0 });
      await store.appendToStream(stream, [{ type: 'Touched', data: { round } }], { expectedStreamVersion: currentStreamVersion });
      latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
    } catch (e) {
      if (errors++ === 0) firstError = String(e?.message ?? e);
    }
  }
}));
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
await store.close();
latencies.sort((a, b) => a - b);
const at = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] / 1000 : 0;
console.log(JSON.stringify({ side: 'emmett', clients, commands: latencies.length, seconds: elapsed, per_s: latencies.length / elapsed,
  p50_ms: at(0.5), p99_ms: at(0.99), errors, first_error: firstError }));
