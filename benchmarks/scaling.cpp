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
//
// The connection string comes from the environment (EVENTCORE_PG), never the command line.
// `--process P` makes the streams of process P distinct from those of the others.

#include "baselines.hpp"

#include <eventcore/eventcore.hpp>
#include <eventcore/postgres_event_store.hpp>

#include <fmt/format.h>

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
    throw std::runtime_error(fmt::format("bench_scaling: unknown action {}", a.action));
} catch (const std::exception& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
}
