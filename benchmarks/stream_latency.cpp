// The chapter's stream-count table, measured: a command that reads k streams, folds their
// events and writes one event to each in one commit, for k = 1, 5, 10, 50, on each store, next
// to a hand-written baseline that does the same work without the library (read the streams,
// then one transaction appending one event per stream with the version check), in the same
// run, alternating blocks of each so that both see the same machine.
//
//   bench_stream_latency [--samples N] [--postgres CONNINFO] [--json FILE] [--markdown FILE]
//                        [--stores memory,sqlite-full,sqlite-normal,sqlite-off,postgres]
//                        [--counts 1,5,10,50]

#include "baselines.hpp"

#include <eventcore/detail/random.hpp>
#include <eventcore/eventcore.hpp>
#include <eventcore/postgres_event_store.hpp>
#include <eventcore/sqlite_event_store.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bench {

using eventcore::Context;
using eventcore::RecordedEvent;
using eventcore::StreamId;

auto make_command(const std::vector<std::string>& names, int round) -> TouchStreams {
    return TouchStreams{{names.begin(), names.end()}, round};
}

struct Row {
    std::string store;
    int streams = 0;
    int clients = 0;
    double p50_us = 0;
    double p99_us = 0;
    double ops_per_s = 0;
    double baseline_ops_per_s = 0;
    double baseline_p50_us = 0;
    /// Library time per command over the baseline's: CPU time per command for a CPU-bound store
    /// (baseline/s over commands/s), median latency otherwise (p50 over baseline p50), which on a
    /// shared machine holds still where block throughputs swing with other processes' turns.
    double ratio_ = 0;
    [[nodiscard]] auto ratio() const -> double { return ratio_; }
};

auto percentile(std::vector<double> v, double p) -> double {
    if (v.empty()) return 0;
    std::ranges::sort(v);
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

/// What a block measured: per-operation latencies (us, when timed one by one), wall time and the
/// clients' CPU time (s).
struct Block {
    std::vector<double> latencies;
    double wall_s = 0;
    double cpu_s = 0;
};

auto thread_cpu_seconds() -> double {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

/// Runs `op(client, i)` for `samples` operations spread over `clients` threads, timing each one
/// (`per_op`) or only the whole (two clock reads per operation are a fifth of a microsecond
/// command: they would pull the library and the baseline together).
auto timed(int clients, int samples, bool per_op, const std::function<void(int, int)>& op) -> Block {
    std::vector<std::vector<double>> per_client(static_cast<std::size_t>(clients));
    std::vector<double> cpu(static_cast<std::size_t>(clients));
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            auto& mine = per_client[static_cast<std::size_t>(c)];
            mine.reserve(static_cast<std::size_t>(samples / clients + 1));
            const double cpu0 = thread_cpu_seconds();
            for (int i = c; i < samples; i += clients) {
                if (per_op) {
                    const auto t0 = std::chrono::steady_clock::now();
                    op(c, i);
                    mine.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
                } else {
                    op(c, i);
                }
            }
            cpu[static_cast<std::size_t>(c)] = thread_cpu_seconds() - cpu0;
        });
    }
    for (auto& t : threads) t.join();
    Block block;
    block.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    for (auto& v : per_client) block.latencies.insert(block.latencies.end(), v.begin(), v.end());
    for (const double c : cpu) block.cpu_s += c;
    return block;
}

/// Stream names for one measurement: each client's commands take sets of `count` streams, ten
/// commands per set, so a command reads 0 to 9 events per stream (4.5 on average) whatever the
/// number of samples: the table measures stream count, not history (bench_eventcore folds).
constexpr int commands_per_set = 10;
auto stream_names(std::string_view who, int count, int client, int set) -> std::vector<std::string> {
    std::vector<std::string> names;
    names.reserve(static_cast<std::size_t>(count));
    for (int s = 0; s < count; ++s) names.push_back(fmt::format("{}-{}-c{}-set{}-s{}", who, count, client, set, s));
    return names;
}

/// Measures the library and the baseline, alternating blocks, and returns the row. Commands and
/// stream names are made before the clock starts: only `execute` and `touch` are timed.
template <class Store>
auto measure(std::string_view label, Store& store, Baseline& baseline, int count, int clients, int samples,
             bool cpu_bound = false) -> Row {
    constexpr int blocks = 10;
    eventcore::CommandExecutor executor{store};
    const auto run_id = eventcore::Uuid::v7();
    const int sets = (samples / blocks + clients) * blocks * 2 / clients / commands_per_set + 2;
    std::vector<std::vector<TouchStreams>> commands(static_cast<std::size_t>(clients));
    std::vector<std::vector<std::vector<std::string>>> names(static_cast<std::size_t>(clients));
    for (int c = 0; c < clients; ++c) {
        for (int set = 0; set < sets; ++set) {
            auto lib = stream_names(fmt::format("lib-{}", run_id), count, c, set);
            commands[static_cast<std::size_t>(c)].push_back(make_command(lib, set));
            names[static_cast<std::size_t>(c)].push_back(stream_names(fmt::format("base-{}", run_id), count, c, set));
        }
    }
    // `i` runs over all clients' commands; i / clients is this client's sequence number.
    const auto set_of = [&](int i) { return static_cast<std::size_t>(i / clients / commands_per_set); };
    const auto library_op = [&](int client, int i) {
        if (auto r = executor.execute(commands[static_cast<std::size_t>(client)][set_of(i)]); !r) {
            fmt::print(stderr, "library command failed: {}\n", r.error());
            std::exit(1);
        }
    };
    const auto baseline_op = [&](int client, int i) {
        const auto set = set_of(i);
        if (auto r = baseline.touch(client, names[static_cast<std::size_t>(client)][set], static_cast<std::int64_t>(set)); !r) {
            fmt::print(stderr, "baseline failed: {}\n", r.error());
            std::exit(1);
        }
    };
    std::vector<double> lib;
    std::vector<double> base;
    std::vector<double> lib_rates;
    std::vector<double> base_rates;
    // Ten blocks of each, alternating, each block's throughput on its own: the medians of those
    // shrug off a block that another process on the machine slowed down. A CPU-bound store
    // (cpu_bound) is measured by the CPU time its thread used, in blocks of their own without
    // per-operation clocks: wall time on a shared machine counts other processes' turns.
    const int n = std::max(clients, samples / blocks);
    const int phases = cpu_bound ? 2 : 1;
    for (int b = 0; b < blocks; ++b) {
        for (int phase = 0; phase < phases; ++phase) {
            const bool per_op = phase == 0;
            const auto offset = (b * phases + phase) * n;
            auto l = timed(clients, n, per_op, [&](int c, int i) { library_op(c, offset + i); });
            auto bl = timed(clients, n, per_op, [&](int c, int i) { baseline_op(c, offset + i); });
            if (per_op) {
                lib.insert(lib.end(), l.latencies.begin(), l.latencies.end());
                base.insert(base.end(), bl.latencies.begin(), bl.latencies.end());
            }
            if (cpu_bound && !per_op) {
                lib_rates.push_back(static_cast<double>(n) / l.cpu_s);
                base_rates.push_back(static_cast<double>(n) / bl.cpu_s);
            } else if (!cpu_bound) {
                lib_rates.push_back(static_cast<double>(n) / l.wall_s);
                base_rates.push_back(static_cast<double>(n) / bl.wall_s);
            }
        }
    }
    Row row{std::string(label), count, clients};
    row.p50_us = percentile(lib, 0.5);
    row.p99_us = percentile(lib, 0.99);
    row.ops_per_s = percentile(lib_rates, 0.5);
    row.baseline_ops_per_s = percentile(base_rates, 0.5);
    row.baseline_p50_us = percentile(base, 0.5);
    if (cpu_bound) {
        row.ratio_ = row.ops_per_s > 0 ? row.baseline_ops_per_s / row.ops_per_s : 0;
    } else {
        row.ratio_ = row.baseline_p50_us > 0 ? row.p50_us / row.baseline_p50_us : 0;
    }
    fmt::print("{:<16}{:>8}{:>8}{:>11.1f}{:>11.1f}{:>12.0f}{:>12.0f}{:>8.2f}{:>12.1f}\n", row.store, row.streams,
               row.clients, row.p50_us, row.p99_us, row.ops_per_s, row.baseline_ops_per_s, row.ratio(),
               row.baseline_p50_us);
    return row;
}

auto samples_for(int count, int samples) -> int {
    // Keep each row's history and time comparable: fewer commands for wide ones.
    return std::max(40, samples / (count >= 50 ? 5 : count >= 10 ? 2 : 1));
}

auto json(const std::vector<Row>& rows) -> std::string {
    std::string out = "[\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        out += fmt::format("  {{\"store\": \"{}\", \"streams\": {}, \"clients\": {}, \"p50_us\": {:.1f}, \"p99_us\": {:.1f}, "
                           "\"ops_per_s\": {:.0f}, \"baseline_ops_per_s\": {:.0f}, \"ratio\": {:.3f}, \"baseline_p50_us\": {:.1f}}}{}\n",
                           r.store, r.streams, r.clients, r.p50_us, r.p99_us, r.ops_per_s, r.baseline_ops_per_s,
                           r.ratio(), r.baseline_p50_us, i + 1 < rows.size() ? "," : "");
    }
    return out + "]\n";
}

auto markdown(const std::vector<Row>& rows) -> std::string {
    std::string out = "| store | streams | clients | p50 (us) | p99 (us) | commands/s | baseline/s | ratio |\n"
                      "|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : rows) {
        out += fmt::format("| {} | {} | {} | {:.1f} | {:.1f} | {:.0f} | {:.0f} | {:.2f} |\n", r.store, r.streams,
                           r.clients, r.p50_us, r.p99_us, r.ops_per_s, r.baseline_ops_per_s, r.ratio());
    }
    return out;
}

} // namespace bench

int main(int argc, char** argv) {
    using namespace bench;
    int samples = 400;
    std::string postgres = std::getenv("EVENTCORE_PG") != nullptr ? std::getenv("EVENTCORE_PG") : "";
    std::string json_path;
    std::string markdown_path;
    std::string stores = "memory,sqlite-full,sqlite-normal,sqlite-off,postgres,postgres-async";
    std::string counts_arg = "1,5,10,50";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--samples") samples = std::max(40, std::atoi(argv[i + 1]));
        else if (flag == "--postgres") postgres = argv[i + 1];
        else if (flag == "--json") json_path = argv[i + 1];
        else if (flag == "--markdown") markdown_path = argv[i + 1];
        else if (flag == "--stores") stores = argv[i + 1];
        else if (flag == "--counts") counts_arg = argv[i + 1];
        else {
            fmt::print(stderr, "usage: bench_stream_latency [--samples N] [--postgres CONNINFO] [--json FILE] "
                               "[--markdown FILE] [--stores LIST] [--counts 1,5,10,50]\n");
            return 2;
        }
    }
    const auto wanted = [&](std::string_view name) { return ("," + stores + ",").find(fmt::format(",{},", name)) != std::string::npos; };

    fmt::print("{:<16}{:>8}{:>8}{:>11}{:>11}{:>12}{:>12}{:>8}{:>12}\n", "store", "streams", "clients", "p50 us",
               "p99 us", "commands/s", "baseline/s", "ratio", "base p50 us");
    std::vector<Row> rows;
    std::vector<int> counts;
    for (std::size_t at = 0; at < counts_arg.size();) {
        const auto comma = std::min(counts_arg.find(',', at), counts_arg.size());
        counts.push_back(std::max(1, std::atoi(counts_arg.substr(at, comma - at).c_str())));
        at = comma + 1;
    }
    if (wanted("memory")) {
        for (const int k : counts) {
            eventcore::InMemoryEventStore<TouchEvent> store;
            MemoryBaseline baseline;
            rows.push_back(measure("memory", store, baseline, k, 1, samples_for(k, samples * 100), true));
        }
    }
    for (const auto& [name, sync] : {std::pair{"sqlite-full", eventcore::sqlite::Synchronous::full},
                                     std::pair{"sqlite-normal", eventcore::sqlite::Synchronous::normal},
                                     std::pair{"sqlite-off", eventcore::sqlite::Synchronous::off}}) {
        if (!wanted(name)) continue;
        const auto dir = std::filesystem::temp_directory_path() / fmt::format("eventcore-bench-{}", eventcore::Uuid::v7());
        std::filesystem::create_directories(dir);
        for (const int k : counts) {
            auto store = eventcore::SqliteEventStore<TouchEvent>::open((dir / fmt::format("lib-{}.db", k)).string(),
                                                                       {.synchronous = sync})
                             .value();
            SqliteBaseline baseline((dir / fmt::format("base-{}.db", k)).string(), sync);
            rows.push_back(measure(name, store, baseline, k, 1, samples_for(k, samples)));
        }
        std::filesystem::remove_all(dir);
    }
    // "postgres" commits durably (synchronous_commit on, the server's setting); "postgres-async"
    // sets it off for the session, which leaves the library's own cost visible past the fsync.
    for (const auto& [name, conninfo] :
         {std::pair{std::string("postgres"), postgres},
          std::pair{std::string("postgres-async"), postgres + " options='-c synchronous_commit=off'"}}) {
        if (!wanted(name) || postgres.empty()) continue;
        for (const int clients : {1, 4}) {
            for (const int k : counts) {
                const auto schema = fmt::format("bench_{:x}", eventcore::detail::random_u64() & 0xFFFFFFFFFFFF);
                auto store = eventcore::PostgresEventStore<TouchEvent>::open(conninfo, {.schema = schema}).value();
                PostgresBaseline baseline(conninfo, schema + "_base", clients);
                rows.push_back(measure(name, store, baseline, k, clients, samples_for(k, samples)));
                baseline.drop();
                drop_schema(conninfo, schema);
            }
        }
    }
    if (!json_path.empty()) std::ofstream(json_path) << json(rows);
    if (!markdown_path.empty()) std::ofstream(markdown_path) << markdown(rows);
    return 0;
}
