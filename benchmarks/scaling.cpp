// One side of the PostgreSQL scaling table: C client threads, each on streams of its own (no
// conflicts), run the TouchStreams command (read k streams, fold them, write one event to each
// in one commit) for a fixed time, and the process prints one JSON line: commands, errors,
// seconds, and every command's latency. `script/bench_scaling.py` runs the sides interleaved,
// several processes at once where asked, and writes docs/benchmarks/scaling.{md,json}.
//
//   bench_scaling setup   --side eventcore|raw --schema S
//   bench_scaling run     --side eventcore|raw --schema S --clients C --streams K --seconds T
//                         [--process P] [--start-at UNIX_MS]
//   bench_scaling wal     (prints pg_stat_wal's wal_sync, and the commits counted by pg_stat_database)
//   bench_scaling drop    --schema S
//   bench_scaling catchup --schema S --events N --page P
//                         (fills one stream of N events straight into the table, then reads the
//                         whole log in pages of P: eventcore's read_all, then a raw keyset
//                         SELECT of the same columns; then the one stream with read_stream, and
//                         prints events/s of each and the process's peak memory after each)
//
// The connection string comes from the environment (EVENTCORE_PG), never the command line.
// `--process P` makes the streams of process P distinct from those of the others.

#include "baselines.hpp"

#include <eventcore/eventcore.hpp>
#include <eventcore/postgres_event_store.hpp>

#include <fmt/format.h>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
    std::string action;
    std::string side = "eventcore";
    std::string schema;
    int clients = 1;
    int streams = 1;
    double seconds = 3;
    int process = 0;
    long long start_at_ms = 0;
    long long events = 1'000'000;
    int page = 1000;
};

auto parse(int argc, char** argv) -> Args {
    Args a;
    if (argc < 2) throw std::runtime_error("usage: bench_scaling setup|run|wal|drop [options]");
    a.action = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string_view k = argv[i];
        const std::string v = argv[i + 1];
        if (k == "--side") a.side = v;
        else if (k == "--schema") a.schema = v;
        else if (k == "--clients") a.clients = std::stoi(v);
        else if (k == "--streams") a.streams = std::stoi(v);
        else if (k == "--seconds") a.seconds = std::stod(v);
        else if (k == "--process") a.process = std::stoi(v);
        else if (k == "--start-at") a.start_at_ms = std::stoll(v);
        else if (k == "--events") a.events = std::stoll(v);
        else if (k == "--page") a.page = std::stoi(v);
        else throw std::runtime_error(fmt::format("bench_scaling: unknown option {}", k));
    }
    if (a.side != "eventcore" && a.side != "raw") throw std::runtime_error("bench_scaling: --side is eventcore or raw");
    return a;
}

auto conninfo() -> std::string {
    const char* c = std::getenv("EVENTCORE_PG");
    if (c == nullptr) throw std::runtime_error("bench_scaling: set EVENTCORE_PG to a libpq connection string");
    return c;
}

auto scalar(const std::string& sql) -> std::string {
    PGconn* c = PQconnectdb(conninfo().c_str());
    PGresult* r = PQexec(c, sql.c_str());
    std::string out = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    PQfinish(c);
    return out;
}

/// The streams of client `client` of process `process`: 64 sets of k, used in turn, so that
/// streams grow slowly and every command reads about the same.
auto stream_sets(const Args& a, int client) -> std::vector<std::vector<std::string>> {
    std::vector<std::vector<std::string>> sets(64);
    for (int s = 0; s < 64; ++s) {
        for (int k = 0; k < a.streams; ++k) sets[static_cast<std::size_t>(s)].push_back(fmt::format("p{}-c{}-s{}-k{}", a.process, client, s, k));
    }
    return sets;
}

void wait_for_start(const Args& a) {
    if (a.start_at_ms == 0) return;
    const auto start = std::chrono::system_clock::time_point{std::chrono::milliseconds{a.start_at_ms}};
    std::this_thread::sleep_until(start);
}

struct ClientResult {
    std::vector<double> latencies_us;
    long long errors = 0;
    std::string first_error;
};

template <class Touch>
auto run_clients(const Args& a, Touch touch) -> std::pair<std::vector<ClientResult>, double> {
    std::vector<ClientResult> results(static_cast<std::size_t>(a.clients));
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    wait_for_start(a);
    const auto began = Clock::now();
    for (int c = 0; c < a.clients; ++c) {
        threads.emplace_back([&, c] {
            auto& out = results[static_cast<std::size_t>(c)];
            const auto sets = stream_sets(a, c);
            out.latencies_us.reserve(20000);
            for (std::int64_t round = 0; !stop.load(std::memory_order_relaxed); ++round) {
                const auto t0 = Clock::now();
                auto r = touch(c, sets[static_cast<std::size_t>(round % 64)], round);
                const auto t1 = Clock::now();
                if (r) {
                    out.latencies_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
                } else {
                    if (out.errors++ == 0) out.first_error = r.error().message();
                }
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
    stop = true;
    for (auto& t : threads) t.join();
    return {std::move(results), std::chrono::duration<double>(Clock::now() - began).count()};
}

void print(const Args& a, const std::vector<ClientResult>& results, double seconds) {
    std::size_t commands = 0;
    long long errors = 0;
    std::string first_error;
    std::string latencies;
    for (const auto& r : results) {
        commands += r.latencies_us.size();
        errors += r.errors;
        if (first_error.empty()) first_error = r.first_error;
        for (const double l : r.latencies_us) {
            if (!latencies.empty()) latencies += ',';
            latencies += fmt::format("{:.0f}", l);
        }
    }
    std::string escaped;
    for (const char ch : first_error) {
        if (ch == '"' || ch == '\\') escaped += '\\';
        escaped += (ch == '\n' ? ' ' : ch);
    }
    fmt::print("{{\"side\":\"{}\",\"clients\":{},\"streams\":{},\"process\":{},\"commands\":{},\"errors\":{},"
               "\"first_error\":\"{}\",\"seconds\":{:.3f},\"latencies_us\":[{}]}}\n",
               a.side, a.clients, a.streams, a.process, commands, errors, escaped, seconds, latencies);
}

auto run_eventcore(const Args& a) -> int {
    auto store = eventcore::PostgresEventStore<bench::TouchEvent>::open(
        conninfo(), {.schema = a.schema, .pool_size = static_cast<std::size_t>(a.clients)});
    if (!store) throw std::runtime_error(store.error().message());
    eventcore::CommandExecutor executor{*store};
    auto [results, seconds] = run_clients(a, [&](int, const std::vector<std::string>& streams, std::int64_t round) {
        bench::TouchStreams cmd{{streams.begin(), streams.end()}, round};
        auto r = executor.execute(cmd);
        return r ? eventcore::Result<void>{} : eventcore::Result<void>{tl::unexpect, r.error()};
    });
    print(a, results, seconds);
    return 0;
}

auto run_raw(const Args& a) -> int {
    bench::PostgresBaseline raw(conninfo(), a.schema, a.clients, bench::PostgresBaseline::Positions::sequence,
                                /*create=*/false);
    auto [results, seconds] = run_clients(a, [&](int client, const std::vector<std::string>& streams, std::int64_t round) {
        return raw.touch(client, streams, round);
    });
    print(a, results, seconds);
    return 0;
}

auto peak_rss_mb() -> double {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;
}

auto run_catchup(const Args& a) -> int {
    auto store = eventcore::PostgresEventStore<bench::TouchEvent>::open(conninfo(), {.schema = a.schema});
    if (!store) throw std::runtime_error(store.error().message());
    // Straight into the table: settled (transaction id 0), one commit per event.
    scalar(fmt::format(
        "WITH x AS (INSERT INTO \"{0}\".events (position, stream_id, version, event_type, payload, event_id, recorded_at, "
        "correlation_id, causation_id, command, custom, commit_last, transaction_id) "
        "SELECT g, 'long', g, 'Touched', convert_to('{{\"round\":' || g || '}}', 'UTF8'), gen_random_uuid(), now(), "
        "gen_random_uuid(), gen_random_uuid(), 'TouchStreams', NULL, g, '0' FROM generate_series(1, {1}) g RETURNING 1) "
        "SELECT count(*) FROM x",
        a.schema, a.events));
    scalar(fmt::format("INSERT INTO \"{0}\".streams VALUES ('long', {1}); SELECT setval('\"{0}\".positions', {1}); "
                       "ANALYZE \"{0}\".events",
                       a.schema, a.events));
    const auto baseline_mb = peak_rss_mb();
    const auto timed = [](auto body) {
        const auto t0 = Clock::now();
        const long long n = body();
        return std::pair{n, std::chrono::duration<double>(Clock::now() - t0).count()};
    };
    const auto read_all_pages = [&] {
        long long n = 0;
        eventcore::GlobalPosition after{};
        for (;;) {
            auto page = store->read_all({.after = after, .limit = static_cast<std::size_t>(a.page)},
                                        [&](const eventcore::RecordedEvent<bench::TouchEvent>&) { ++n; });
            if (!page) throw std::runtime_error(page.error().message());
            if (page->count == 0) break;
            after = page->last;
        }
        return n;
    };
    const auto raw_pages = [&] {
        PGconn* c = PQconnectdb(conninfo().c_str());
        const auto sql = fmt::format(
            "SELECT stream_id, version, position, event_type, payload, event_id, recorded_at, correlation_id, "
            "causation_id, command, custom, commit_last FROM \"{}\".events WHERE position > $1 ORDER BY position LIMIT {}",
            a.schema, a.page);
        PQclear(PQprepare(c, "page", sql.c_str(), 1, nullptr));
        long long n = 0;
        std::int64_t after = 0;
        for (;;) {
            const std::string after_text = std::to_string(after);
            const char* values[] = {after_text.c_str()};
            PGresult* r = PQexecPrepared(c, "page", 1, values, nullptr, nullptr, 1);
            const int rows = PQntuples(r);
            for (int row = 0; row < rows; ++row) {
                // Touch what a reader would: the stream, the payload, the position.
                volatile std::size_t sink = static_cast<std::size_t>(PQgetlength(r, row, 0) + PQgetlength(r, row, 4));
                (void)sink;
                std::int64_t pos = 0;
                for (int b = 0; b < 8; ++b) pos = (pos << 8) | static_cast<unsigned char>(PQgetvalue(r, row, 2)[b]);
                after = pos;
            }
            PQclear(r);
            n += rows;
            if (rows == 0) break;
        }
        PQfinish(c);
        return n;
    };
    // Interleaved, A B B A, so that neither side reads a warmer cache.
    auto [lib_n, lib_s1] = timed(read_all_pages);
    const auto lib_mb = peak_rss_mb();
    auto [raw_n, raw_s1] = timed(raw_pages);
    auto [raw_n2, raw_s2] = timed(raw_pages);
    auto [lib_n2, lib_s2] = timed(read_all_pages);
    const double lib_s = (lib_s1 + lib_s2) / 2;
    const double raw_s = (raw_s1 + raw_s2) / 2;
    if (lib_n2 != lib_n || raw_n2 != raw_n) throw std::runtime_error("the two reads of the log differ");
    auto [stream_n, stream_s] = timed([&] {
        long long n = 0;
        auto v = store->read_stream(eventcore::StreamId("long"), eventcore::StreamVersion{1},
                                    [&](const eventcore::RecordedEvent<bench::TouchEvent>&) { ++n; });
        if (!v) throw std::runtime_error(v.error().message());
        return n;
    });
    const auto stream_mb = peak_rss_mb();
    fmt::print("{{\"events\":{},\"page\":{},\"read_all_events\":{},\"read_all_per_s\":{:.0f},\"raw_keyset_events\":{},"
               "\"raw_keyset_per_s\":{:.0f},\"ratio\":{:.3f},\"read_stream_events\":{},\"read_stream_per_s\":{:.0f},"
               "\"peak_mb_before\":{:.1f},\"peak_mb_after_read_all\":{:.1f},\"peak_mb_after_read_stream\":{:.1f}}}\n",
               a.events, a.page, lib_n, static_cast<double>(lib_n) / lib_s, raw_n, static_cast<double>(raw_n) / raw_s,
               (static_cast<double>(lib_n) / lib_s) / (static_cast<double>(raw_n) / raw_s), stream_n,
               static_cast<double>(stream_n) / stream_s, baseline_mb, lib_mb, stream_mb);
    return 0;
}

} // namespace

auto main(int argc, char** argv) -> int try {
    const auto a = parse(argc, argv);
    if (a.action == "wal") {
        fmt::print("{} {}\n", scalar("SELECT wal_sync FROM pg_stat_wal"),
                   scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"));
        return 0;
    }
    if (a.schema.empty()) throw std::runtime_error("bench_scaling: --schema is required");
    if (a.action == "drop") {
        bench::drop_schema(conninfo(), a.schema);
        return 0;
    }
    if (a.action == "setup") {
        if (a.side == "raw") {
            bench::PostgresBaseline raw(conninfo(), a.schema, 1, bench::PostgresBaseline::Positions::sequence);
        } else {
            auto store = eventcore::PostgresEventStore<bench::TouchEvent>::open(conninfo(), {.schema = a.schema});
            if (!store) throw std::runtime_error(store.error().message());
        }
        return 0;
    }
    if (a.action == "run") return a.side == "raw" ? run_raw(a) : run_eventcore(a);
    if (a.action == "catchup") return run_catchup(a);
    throw std::runtime_error(fmt::format("bench_scaling: unknown action {}", a.action));
} catch (const std::exception& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
}
