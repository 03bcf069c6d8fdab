// How long a committed event takes to reach a live subscriber, per store: a writer appends one
// event at a time, pausing between appends so that the subscriber is idle and waiting each
// time; the delay is from the append returning to the subscriber's handler seeing the event.
//
//   bench_subscription_delay [--events N] [--pause-ms N] [--postgres CONNINFO] [--writers 0,64]
// (PostgreSQL also from EVENTCORE_PG; without one, its row is left out.) `--writers` adds
// PostgreSQL rows measured while that many threads commit to streams of their own as fast as
// they can, on the same store.

#include <eventcore/eventcore.hpp>
#include <eventcore/postgres_event_store.hpp>
#include <eventcore/sqlite_event_store.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

struct Ping {
    std::int64_t index;
};
EVENTCORE_EVENT(Ping, index)

using Clock = std::chrono::steady_clock;

struct Settings {
    int events = 200;
    int pause_ms = 5;
    std::string postgres;
    std::vector<int> writers{0};
};

template <class Store>
auto measure(Store& store, const Settings& settings) -> std::vector<double> {
    std::vector<Clock::time_point> committed(static_cast<std::size_t>(settings.events));
    std::vector<Clock::time_point> delivered(static_cast<std::size_t>(settings.events));
    std::atomic<int> seen{0};
    const auto start = store.head().value();
    eventcore::Subscription subscription{store, {.after = start, .stream_prefix = "ping-"}};
    std::jthread subscriber([&](std::stop_token stop) {
        auto ended = subscription.run(stop, [&](auto batch) -> eventcore::Result<void> {
            const auto now = Clock::now();
            for (const auto& e : batch) delivered[static_cast<std::size_t>(e.payload.index)] = now;
            seen += static_cast<int>(batch.size());
            return {};
        });
        if (!ended) fmt::print(stderr, "subscriber: {}\n", ended.error());
    });
    const auto stream = eventcore::StreamId(fmt::format("ping-{}", eventcore::Uuid::v7()));
    for (int i = 0; i < settings.events; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(settings.pause_ms));
        auto r = eventcore::append_to_stream(store, stream, eventcore::ExpectedVersion::any(), {Ping{i}});
        committed[static_cast<std::size_t>(i)] = Clock::now();
        if (!r) {
            fmt::print(stderr, "append: {}\n", r.error());
            std::exit(1);
        }
    }
    const auto deadline = Clock::now() + std::chrono::seconds{30};
    while (seen < settings.events && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds{1});
    subscriber.request_stop();
    std::vector<double> delays;
    for (std::size_t i = 0; i < committed.size(); ++i) {
        // Delivered before the append returned (the subscriber was quicker than the writer's
        // return path): no measurable delay.
        delays.push_back(std::max(0.0, std::chrono::duration<double, std::micro>(delivered[i] - committed[i]).count()));
    }
    std::ranges::sort(delays);
    return delays;
}

auto percentile(const std::vector<double>& sorted, double p) -> double {
    return sorted.empty() ? 0 : sorted[static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1))];
}

void row(const std::string& store, std::string_view wake, const std::vector<double>& delays) {
    fmt::print("| {} | {} | {:.0f} | {:.0f} | {:.0f} |\n", store, wake, percentile(delays, 0.5),
               percentile(delays, 0.99), delays.empty() ? 0.0 : delays.back());
}

} // namespace

int main(int argc, char** argv) {
    Settings settings;
    if (const char* pg = std::getenv("EVENTCORE_PG")) settings.postgres = pg;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--events") settings.events = std::max(1, std::atoi(argv[i + 1]));
        else if (flag == "--pause-ms") settings.pause_ms = std::max(0, std::atoi(argv[i + 1]));
        else if (flag == "--postgres") settings.postgres = argv[i + 1];
        else if (flag == "--writers") {
            settings.writers.clear();
            for (std::string_view rest = argv[i + 1]; !rest.empty();) {
                const auto comma = rest.find(',');
                settings.writers.push_back(std::atoi(std::string(rest.substr(0, comma)).c_str()));
                rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            }
        }
        else {
            fmt::print(stderr, "usage: bench_subscription_delay [--events N] [--pause-ms N] [--postgres CONNINFO] "
                               "[--writers 0,64]\n");
            return 2;
        }
    }
    fmt::print("{} events, one every {} ms; delay from the append returning to the subscriber's handler (us)\n\n",
               settings.events, settings.pause_ms);
    fmt::print("| store | wake-up | p50 | p99 | max |\n|---|---|---:|---:|---:|\n");
    {
        eventcore::InMemoryEventStore<Ping> store;
        row("memory", "condition variable", measure(store, settings));
    }
    {
        const auto path = (std::filesystem::temp_directory_path() / "eventcore-subscription-delay.db").string();
        std::filesystem::remove(path);
        auto store = eventcore::SqliteEventStore<Ping>::open(path).value();
        row("sqlite (same process)", "commit signal", measure(store, settings));
        // A writer in another process is seen through PRAGMA data_version, polled every 2 ms:
        // a second connection to the file stands in for it here (its commits do not signal).
        auto other = eventcore::SqliteEventStore<Ping>::open(path).value();
        const auto start = store.head().value();
        std::vector<double> delays;
        for (int i = 0; i < settings.events; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(settings.pause_ms));
            std::jthread write([&] {
                std::this_thread::sleep_for(std::chrono::milliseconds{1});
                (void)eventcore::append_to_stream(other, eventcore::StreamId::from_static("ping-other"),
                                                  eventcore::ExpectedVersion::any(), {Ping{i}});
            });
            const auto t0 = Clock::now();
            (void)store.wait_for_events(eventcore::GlobalPosition{start.value() + static_cast<std::uint64_t>(i)},
                                        std::chrono::seconds{5});
            delays.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() - 1000.0);
        }
        std::ranges::sort(delays);
        row("sqlite (other connection)", "PRAGMA data_version, 2 ms poll", delays);
        std::filesystem::remove(path);
    }
    for (const int writers : settings.postgres.empty() ? std::vector<int>{} : settings.writers) {
        auto store = eventcore::PostgresEventStore<Ping>::open(
                         settings.postgres,
                         {.schema = "eventcore_bench", .pool_size = static_cast<std::size_t>(writers) + 4})
                         .value();
        std::atomic<bool> stop{false};
        std::vector<std::thread> load;
        for (int w = 0; w < writers; ++w) {
            load.emplace_back([&, w] {
                const auto stream = eventcore::StreamId(fmt::format("load-{}-{}", w, eventcore::Uuid::v7()));
                for (std::int64_t i = 0; !stop; ++i)
                    (void)eventcore::append_to_stream(store, stream, eventcore::ExpectedVersion::any(), {Ping{i}});
            });
        }
        const auto delays = measure(store, settings);
        stop = true;
        for (auto& l : load) l.join();
        row(writers == 0 ? std::string("postgres") : fmt::format("postgres, {} writers committing", writers),
            "LISTEN/NOTIFY", delays);
    }
    return 0;
}
