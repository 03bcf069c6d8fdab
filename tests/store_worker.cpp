// A process that runs transfers on a durable store, for the multi-process and crash tests.
// After each committed transfer it writes "C <command id>" on one line to standard output.
//
//   eventcore_store_worker sqlite PATH ACCOUNTS TRANSFERS SEED
//   eventcore_store_worker postgres CONNINFO SCHEMA ACCOUNTS TRANSFERS SEED
// TRANSFERS 0 means: until killed.
//
// Or it commits deposits as fast as it can, from THREADS threads on streams of their own
// ("burst-TAG-THREAD"), 1 to 3 events a commit, for SECONDS:
//   eventcore_store_worker append-postgres CONNINFO SCHEMA THREADS SECONDS TAG
//
// Or it runs the exactly-once balance projection until killed:
//   eventcore_store_worker project-sqlite PATH
//   eventcore_store_worker project-postgres CONNINFO SCHEMA

#include "support/bank_projection.hpp"

#include <eventcore/postgres_event_store.hpp>
#include <eventcore/sqlite_event_store.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

template <class Store>
auto run(Store& store, int accounts, long transfers, unsigned seed) -> int {
    eventcore::CommandExecutor executor{store, {.retry = eventcore::RetryPolicy{.max_attempts = 200,
                                                                                .initial_delay = std::chrono::microseconds{100},
                                                                                .max_delay = std::chrono::milliseconds{5}}}};
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pick(0, accounts - 1);
    std::uniform_int_distribution<std::int64_t> amount(1, 50);
    for (long i = 0; transfers == 0 || i < transfers; ++i) {
        const int from = pick(rng);
        const int to = (from + 1 + pick(rng) % (accounts - 1)) % accounts;
        const auto id = eventcore::Uuid::v7();
        auto r = executor.execute(bank::TransferMoney{bank::id(fmt::format("account-{}", from)),
                                                      bank::id(fmt::format("account-{}", to)), amount(rng)},
                                  {.command_id = id});
        if (r) {
            const auto line = fmt::format("C {}\n", id);
            if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 4;
        } else if (!r.error().is(eventcore::ErrorKind::business_rule)) {
            std::fprintf(stderr, "worker: %s\n", fmt::format("{}", r.error()).c_str());
            return 5;
        }
    }
    return 0;
}

template <class Store>
auto append_burst(Store& store, int threads, double seconds, const std::string& tag) -> int {
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            const auto stream = bank::id(fmt::format("burst-{}-{}", tag, t));
            for (std::int64_t i = 0; std::chrono::steady_clock::now() < until; ++i) {
                std::vector<bank::BankEvent> events;
                for (std::int64_t e = 0; e <= i % 3; ++e) events.emplace_back(bank::MoneyDeposited{i});
                auto r = eventcore::append_to_stream(store, stream, eventcore::ExpectedVersion::any(), std::move(events));
                if (!r) {
                    std::fprintf(stderr, "worker: %s\n", fmt::format("{}", r.error()).c_str());
                    ++failures;
                    return;
                }
            }
        });
    }
    for (auto& w : workers) w.join();
    return failures == 0 ? 0 : 5;
}

template <class Store>
auto project(Store& store, const bank::SqlBalanceProjector& projector) -> int {
    auto created = store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        projector.create(sql);
        return {};
    });
    if (!created) {
        std::fprintf(stderr, "worker: %s\n", created.error().message().c_str());
        return 3;
    }
    eventcore::ProjectionRunner runner{store, projector, {.name = "sql-balances",
                                                     .stream_prefix = "account-",
                                                     .batch_size = 5,
                                                     // the runner killed before it may hold the
                                                     // lock until its session is seen to be gone
                                                     .wait_for_lock = std::chrono::seconds{30}}};
    auto ended = runner.run(std::stop_token{}); // a token nobody can stop: until killed
    std::fprintf(stderr, "worker: projection ended: %s\n", ended ? "?" : fmt::format("{}", ended.error()).c_str());
    return 6;
}

template <class Store>
auto opened(eventcore::Result<Store> store) -> Store {
    if (!store) {
        std::fprintf(stderr, "worker: %s\n", store.error().message().c_str());
        std::exit(3);
    }
    return std::move(*store);
}

} // namespace

int main(int argc, char** argv) {
    const std::string_view kind = argc > 1 ? argv[1] : "";
    if (kind == "sqlite" && argc == 6) {
        auto store = opened(eventcore::SqliteEventStore<bank::BankEvent>::open(argv[2]));
        return run(store, std::stoi(argv[3]), std::stol(argv[4]), static_cast<unsigned>(std::stoul(argv[5])));
    }
    if (kind == "postgres" && argc == 7) {
        auto store = opened(eventcore::PostgresEventStore<bank::BankEvent>::open(argv[2], {.schema = argv[3]}));
        return run(store, std::stoi(argv[4]), std::stol(argv[5]), static_cast<unsigned>(std::stoul(argv[6])));
    }
    if (kind == "append-postgres" && argc == 7) {
        const int threads = std::stoi(argv[4]);
        auto store = opened(eventcore::PostgresEventStore<bank::BankEvent>::open(
            argv[2], {.schema = argv[3], .pool_size = static_cast<std::size_t>(threads)}));
        return append_burst(store, threads, std::stod(argv[5]), argv[6]);
    }
    if (kind == "project-sqlite" && argc == 3) {
        auto store = opened(eventcore::SqliteEventStore<bank::BankEvent>::open(argv[2]));
        return project(store, bank::SqlBalanceProjector{});
    }
    if (kind == "project-postgres" && argc == 4) {
        auto store = opened(eventcore::PostgresEventStore<bank::BankEvent>::open(argv[2], {.schema = argv[3]}));
        return project(store, bank::postgres_balances(argv[3]));
    }
    std::fprintf(stderr, "usage: eventcore_store_worker sqlite PATH ACCOUNTS TRANSFERS SEED\n"
                         "       eventcore_store_worker postgres CONNINFO SCHEMA ACCOUNTS TRANSFERS SEED\n"
                         "       eventcore_store_worker append-postgres CONNINFO SCHEMA THREADS SECONDS TAG\n"
                         "       eventcore_store_worker project-sqlite PATH\n"
                         "       eventcore_store_worker project-postgres CONNINFO SCHEMA\n");
    return 2;
}
