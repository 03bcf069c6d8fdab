// A process that runs transfers on an SQLite store, for the multi-process and crash tests.
// After each committed transfer it writes "C <command id>" on one line to standard output.
//
//   eventcore_sqlite_worker DB ACCOUNTS TRANSFERS SEED     (TRANSFERS 0: until killed)

#include "support/bank.hpp"

#include <eventcore/sqlite_event_store.hpp>

#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: eventcore_sqlite_worker DB ACCOUNTS TRANSFERS SEED\n");
        return 2;
    }
    const std::string path = argv[1];
    const int accounts = std::stoi(argv[2]);
    const long transfers = std::stol(argv[3]);
    const unsigned seed = static_cast<unsigned>(std::stoul(argv[4]));

    auto store = eventcore::SqliteEventStore<bank::BankEvent>::open(path);
    if (!store) {
        std::fprintf(stderr, "worker: %s\n", store.error().message().c_str());
        return 3;
    }
    eventcore::CommandExecutor executor{*store, {.retry = eventcore::RetryPolicy{.max_attempts = 200,
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
