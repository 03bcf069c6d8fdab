// The flagship: many threads move money between a few accounts at once. Every transfer is one
// atomic commit to two streams; conflicting transfers are retried on fresh state; at the end
// no money has appeared or vanished, and the log is whole.
//
//   bank_demo [--accounts N] [--threads N] [--transfers N] [--seed N]

#include <eventcore/eventcore.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string_view>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

namespace {

using eventcore::Context;
using eventcore::RecordedEvent;
using eventcore::StreamId;

struct AccountOpened {
    std::int64_t initial_balance;
};
struct MoneyWithdrawn {
    std::int64_t amount;
};
struct MoneyDeposited {
    std::int64_t amount;
};
using BankEvent = std::variant<AccountOpened, MoneyWithdrawn, MoneyDeposited>;

auto delta(const BankEvent& e) -> std::int64_t {
    return std::visit(
        [](const auto& x) -> std::int64_t {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, AccountOpened>) return x.initial_balance;
            if constexpr (std::is_same_v<T, MoneyDeposited>) return x.amount;
            if constexpr (std::is_same_v<T, MoneyWithdrawn>) return -x.amount;
        },
        e);
}

struct Account {
    bool open = false;
    std::int64_t balance = 0;
};

struct OpenAccount {
    StreamId account;
    std::int64_t initial_balance;

    using Event = BankEvent;
    using State = Account;
    static constexpr std::string_view name = "OpenAccount";
    static constexpr auto streams = eventcore::streams(&OpenAccount::account);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        s.open = true;
        s.balance += delta(e.payload);
    }
    void handle(const State& s, Context<OpenAccount>& ctx) const {
        ctx.require(!s.open, "account {} is already open", account);
        ctx.write<&OpenAccount::account>(AccountOpened{initial_balance});
    }
};

struct TransferMoney {
    StreamId from_account;
    StreamId to_account;
    std::int64_t amount;

    struct State {
        Account from;
        Account to;
    };
    using Event = BankEvent;
    static constexpr std::string_view name = "TransferMoney";
    static constexpr auto streams = eventcore::streams(&TransferMoney::from_account, &TransferMoney::to_account);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        Account& a = e.stream == from_account ? s.from : s.to;
        a.open = true;
        a.balance += delta(e.payload);
    }
    void handle(const State& s, Context<TransferMoney>& ctx) const {
        ctx.require(s.from.open && s.to.open, "both accounts must be open");
        ctx.require(s.from.balance >= amount, "insufficient funds in {}: {} < {}", from_account, s.from.balance, amount);
        ctx.write<&TransferMoney::from_account>(MoneyWithdrawn{amount});
        ctx.write<&TransferMoney::to_account>(MoneyDeposited{amount});
    }
};

/// Counts what the executor reports, from every thread.
struct Tally : eventcore::ExecutorObserver {
    std::atomic<long> attempts{0};
    std::atomic<long> conflicts{0};
    std::atomic<long> retries{0};
    std::atomic<long> commits{0};
    void on_attempt(const eventcore::AttemptInfo&) override { ++attempts; }
    void on_conflict(const eventcore::ConflictInfo&) override { ++conflicts; }
    void on_retry(const eventcore::RetryInfo&) override { ++retries; }
    void on_commit(const eventcore::CommitInfo&) override { ++commits; }
};

struct Settings {
    int accounts = 6;
    int threads = 4;
    int transfers = 2000; // per thread
    unsigned seed = 42;
};

auto parse_settings(int argc, char** argv) -> std::optional<Settings> {
    Settings s;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        int* target = flag == "--accounts"    ? &s.accounts
                      : flag == "--threads"   ? &s.threads
                      : flag == "--transfers" ? &s.transfers
                                              : nullptr;
        unsigned seed = 0;
        const bool is_seed = flag == "--seed";
        if ((target == nullptr && !is_seed) || i + 1 >= argc) {
            fmt::print(stderr, "bank_demo: unknown or incomplete option '{}'\n"
                               "usage: bank_demo [--accounts N] [--threads N] [--transfers N] [--seed N]\n",
                       flag);
            return std::nullopt;
        }
        const std::string_view value = argv[++i];
        const auto* end = value.data() + value.size();
        const auto parsed = is_seed ? std::from_chars(value.data(), end, seed) : std::from_chars(value.data(), end, *target);
        if (parsed.ec != std::errc{} || parsed.ptr != end || (!is_seed && *target < 1) || (target == &s.accounts && *target < 2)) {
            fmt::print(stderr, "bank_demo: {} needs a positive whole number{}, got '{}'\n", flag,
                       target == &s.accounts ? " of at least 2" : "", value);
            return std::nullopt;
        }
        if (is_seed) s.seed = seed;
    }
    return s;
}

auto percentile(std::vector<double>& sorted, double p) -> double {
    if (sorted.empty()) return 0;
    const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
    return sorted[index];
}

} // namespace

int main(int argc, char** argv) {
    const auto settings = parse_settings(argc, argv);
    if (!settings) return 2;
    constexpr std::int64_t initial_balance = 1000;

    eventcore::InMemoryEventStore<BankEvent> store;
    auto tally = std::make_shared<Tally>();
    eventcore::CommandExecutor executor{
        store, {.retry = eventcore::RetryPolicy{.max_attempts = 50,
                                                .initial_delay = std::chrono::microseconds{20},
                                                .max_delay = std::chrono::milliseconds{2}},
                .observer = tally}};

    std::vector<StreamId> accounts;
    for (int i = 0; i < settings->accounts; ++i) {
        accounts.emplace_back(fmt::format("account-{}", i + 1));
        if (auto r = executor.execute(OpenAccount{accounts.back(), initial_balance}); !r) {
            fmt::print(stderr, "bank_demo: could not open {}: {}\n", accounts.back(), r.error());
            return 1;
        }
    }

    fmt::print("eventcore bank demo: {} threads, {} transfers each, among {} accounts of {} (in-memory store)\n",
               settings->threads, settings->transfers, settings->accounts, initial_balance);

    std::atomic<long> committed{0};
    std::atomic<long> rejected{0};
    std::atomic<long> failed{0};
    std::mutex latencies_mutex;
    std::vector<double> latencies_us;
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < settings->threads; ++t) {
        workers.emplace_back([&, t] {
            std::mt19937 rng(settings->seed + static_cast<unsigned>(t));
            std::uniform_int_distribution<std::size_t> pick(0, accounts.size() - 1);
            std::uniform_int_distribution<std::int64_t> amount(1, 250);
            std::vector<double> mine;
            mine.reserve(static_cast<std::size_t>(settings->transfers));
            for (int i = 0; i < settings->transfers; ++i) {
                const std::size_t from = pick(rng);
                const std::size_t to = (from + 1 + pick(rng) % (accounts.size() - 1)) % accounts.size();
                const auto t0 = std::chrono::steady_clock::now();
                auto r = executor.execute(TransferMoney{accounts[from], accounts[to], amount(rng)});
                mine.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
                if (r) {
                    ++committed;
                } else if (r.error().is(eventcore::ErrorKind::business_rule)) {
                    ++rejected;
                } else {
                    ++failed;
                    fmt::print(stderr, "transfer failed: {}\n", r.error());
                }
            }
            std::lock_guard lock(latencies_mutex);
            latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
        });
    }
    for (auto& w : workers) w.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::ranges::sort(latencies_us);

    fmt::print("\n{:<34}{:>12}\n", "transfers committed", committed.load());
    fmt::print("{:<34}{:>12}\n", "rejected by a business rule", rejected.load());
    fmt::print("{:<34}{:>12}\n", "failed otherwise", failed.load());
    fmt::print("{:<34}{:>12}\n", "attempts", tally->attempts.load());
    fmt::print("{:<34}{:>12}\n", "version conflicts (retried)", tally->conflicts.load());
    fmt::print("{:<34}{:>12.0f}\n", "commands per second", static_cast<double>(latencies_us.size()) / seconds);
    fmt::print("{:<34}{:>12.1f}\n", "latency p50 (us)", percentile(latencies_us, 0.50));
    fmt::print("{:<34}{:>12.1f}\n", "latency p99 (us)", percentile(latencies_us, 0.99));

    // Check the outcome from the log itself, not from what the threads believe.
    bool sound = failed == 0;
    std::int64_t total = 0;
    fmt::print("\n{:<14}{:>10}{:>10}\n", "account", "balance", "version");
    for (const auto& account : accounts) {
        std::int64_t balance = 0;
        const auto version =
            store.read_stream(account, eventcore::StreamVersion{1}, [&](const auto& e) { balance += delta(e.payload); });
        fmt::print("{:<14}{:>10}{:>10}\n", account, balance, version ? version->value() : 0);
        sound = sound && balance >= 0;
        total += balance;
    }
    const std::int64_t expected_total = initial_balance * settings->accounts;
    fmt::print("{:<14}{:>10}\n", "total", total);

    const auto log = eventcore::load_log(store).value();
    std::map<StreamId, std::uint64_t> versions;
    bool log_whole = log.size() == static_cast<std::size_t>(settings->accounts + 2 * committed);
    for (std::size_t i = 0; i < log.size(); ++i) {
        log_whole = log_whole && log[i].position.value() == i + 1 && log[i].version.value() == ++versions[log[i].stream];
    }
    fmt::print("\nmoney conserved: {} ({} of {})\n", total == expected_total ? "yes" : "NO", total, expected_total);
    fmt::print("global log: {} events, {}\n", log.size(),
               log_whole ? "gap-free, every stream's versions contiguous" : "BROKEN");
    sound = sound && total == expected_total && log_whole;
    return sound ? 0 : 1;
}
