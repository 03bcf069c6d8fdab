// The flagship: many threads move money between accounts at once, on a durable SQLite file.
// Every transfer is one atomic commit to two streams; conflicting transfers are retried on
// fresh state; at the end no money has appeared or vanished and the log is whole. Running it
// again continues from what the file holds. Then it measures commands that read and write
// 1, 5, 10 and 50 streams, on PostgreSQL too when a server is given (--postgres CONNINFO, or
// the EVENTCORE_PG environment variable).
//
//   bank_demo [PATH] [--memory] [--postgres CONNINFO] [--accounts N] [--threads N]
//             [--transfers N] [--seed N] [--latency-samples N]

#include <eventcore/eventcore.hpp>
#include <eventcore/projection.hpp>
#include <eventcore/postgres_event_store.hpp>
#include <eventcore/sqlite_event_store.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
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
/// Written by the stream-count measurement, to streams of their own.
struct Touched {
    std::uint32_t round;
};
EVENTCORE_EVENT(AccountOpened, initial_balance)
EVENTCORE_EVENT(MoneyWithdrawn, amount)
EVENTCORE_EVENT(MoneyDeposited, amount)
EVENTCORE_EVENT(Touched, round)
using BankEvent = std::variant<AccountOpened, MoneyWithdrawn, MoneyDeposited, Touched>;

auto delta(const BankEvent& e) -> std::int64_t {
    return eventcore::match(
        e, [](const AccountOpened& o) { return o.initial_balance; },
        [](const MoneyDeposited& d) { return d.amount; }, [](const MoneyWithdrawn& w) { return -w.amount; },
        [](const Touched&) { return std::int64_t{0}; });
}

struct Account {
    bool open = false;
    std::int64_t balance = 0;
    void apply(const BankEvent& e) {
        open = open || std::holds_alternative<AccountOpened>(e);
        balance += delta(e);
    }
};

struct OpenAccount {
    StreamId account;
    std::int64_t initial_balance;

    using Event = BankEvent;
    using State = Account;
    static constexpr std::string_view name = "OpenAccount";
    static constexpr auto streams = eventcore::streams(&OpenAccount::account);

    void apply(State& s, const RecordedEvent<Event>& e) const { s.apply(e.payload); }
    void handle(const State& s, Context<OpenAccount>& ctx) const {
        if (s.open) return; // already there from an earlier run: nothing to do
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
        (e.stream == from_account ? s.from : s.to).apply(e.payload);
    }
    void handle(const State& s, Context<TransferMoney>& ctx) const {
        ctx.require(s.from.open && s.to.open, "both accounts must be open");
        ctx.require(s.from.balance >= amount, "insufficient funds in {}: {} < {}", from_account, s.from.balance, amount);
        ctx.write<&TransferMoney::from_account>(MoneyWithdrawn{amount});
        ctx.write<&TransferMoney::to_account>(MoneyDeposited{amount});
    }
};

/// Reads a set of streams (a list field: all of them read in the first snapshot) and writes one
/// event to each: the shape of the chapter's stream-count table.
struct TouchStreams {
    std::vector<StreamId> touched;
    std::uint32_t round;

    using Event = BankEvent;
    using State = std::uint64_t;
    static constexpr std::string_view name = "TouchStreams";
    static constexpr auto streams = eventcore::streams(&TouchStreams::touched);

    void apply(State& events, const RecordedEvent<Event>&) const { ++events; }
    void handle(const State&, Context<TouchStreams>& ctx) const {
        for (const auto& stream : touched) ctx.write(stream, Touched{round});
    }
};

/// The read model: balances per account, kept by a projection as transfers land. On SQLite it is
/// a table in the same file, written in the checkpoint's transaction (exactly once, and still
/// there next run); in memory it is a map.
struct SqlBalances {
    void create(eventcore::SqlSession& sql) const {
        eventcore::value_or_throw(sql.execute(
            "CREATE TABLE IF NOT EXISTS demo_balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL)"));
    }
    auto apply(const RecordedEvent<BankEvent>& e, eventcore::SqlSession& sql) const -> eventcore::Result<void> {
        auto r = sql.execute("INSERT INTO demo_balances (account, balance) VALUES ($1, $2) ON CONFLICT (account) "
                             "DO UPDATE SET balance = balance + excluded.balance",
                             {e.stream.view(), delta(e.payload)});
        if (!r) return eventcore::fail(std::move(r).error());
        return {};
    }
    template <class Store>
    auto read(Store& store) const -> std::map<StreamId, std::int64_t> {
        std::map<StreamId, std::int64_t> out;
        eventcore::value_or_throw(store.transaction([&](eventcore::SqlSession& sql) {
            return sql.query("SELECT account, balance FROM demo_balances", {},
                             [&](const eventcore::SqlRow& row) { out[StreamId(row.text(0))] = row.integer(1); });
        }));
        return out;
    }
};

struct MemoryBalances {
    std::map<StreamId, std::int64_t> balances;
    void apply(const RecordedEvent<BankEvent>& e) { balances[e.stream] += delta(e.payload); }
    template <class Store>
    auto read(Store&) const -> std::map<StreamId, std::int64_t> {
        return balances;
    }
};

/// Counts what the executor reports, from every thread.
struct Tally : eventcore::ExecutorObserver {
    std::atomic<long> attempts{0};
    std::atomic<long> conflicts{0};
    void on_attempt(const eventcore::AttemptInfo&) override { ++attempts; }
    void on_conflict(const eventcore::ConflictInfo&) override { ++conflicts; }
};

struct Settings {
    std::string path = "eventcore-demo.db";
    bool memory = false;
    std::string postgres; // a connection string: adds PostgreSQL rows to the latency table
    int accounts = 6;
    int threads = 4;
    int transfers = 500; // per thread
    int latency_samples = 200;
    unsigned seed = 42;
};

auto parse_settings(int argc, char** argv) -> std::optional<Settings> {
    Settings s;
    const auto usage = [] {
        fmt::print(stderr, "usage: bank_demo [PATH] [--memory] [--postgres CONNINFO] [--accounts N] [--threads N] "
                           "[--transfers N] [--seed N] [--latency-samples N]\n");
    };
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--memory") {
            s.memory = true;
            continue;
        }
        if (arg == "--postgres") {
            if (i + 1 >= argc) {
                fmt::print(stderr, "bank_demo: --postgres needs a connection string\n");
                return std::nullopt;
            }
            s.postgres = argv[++i];
            continue;
        }
        if (!arg.starts_with("--")) {
            s.path = arg;
            continue;
        }
        int* target = arg == "--accounts"          ? &s.accounts
                      : arg == "--threads"         ? &s.threads
                      : arg == "--transfers"       ? &s.transfers
                      : arg == "--latency-samples" ? &s.latency_samples
                                                   : nullptr;
        const bool is_seed = arg == "--seed";
        if ((target == nullptr && !is_seed) || i + 1 >= argc) {
            fmt::print(stderr, "bank_demo: unknown or incomplete option '{}'\n", arg);
            usage();
            return std::nullopt;
        }
        const std::string_view value = argv[++i];
        int number = 0;
        const auto parsed = std::from_chars(value.data(), value.data() + value.size(), number);
        const int minimum = target == &s.accounts ? 2 : is_seed || target == &s.latency_samples ? 0 : 1;
        if (parsed.ec != std::errc{} || parsed.ptr != value.data() + value.size() || number < minimum) {
            fmt::print(stderr, "bank_demo: {} needs a whole number of at least {}, got '{}'\n", arg, minimum, value);
            return std::nullopt;
        }
        if (is_seed) {
            s.seed = static_cast<unsigned>(number);
        } else {
            *target = number;
        }
    }
    return s;
}

auto percentile(const std::vector<double>& sorted, double p) -> double {
    if (sorted.empty()) return 0;
    return sorted[static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1))];
}

void print_latency_header(const Settings& settings) {
    fmt::print("\nlatency by streams per command (one thread, {} commands each):\n", settings.latency_samples);
    fmt::print("{:<10}{:>8}{:>12}{:>12}{:>14}\n", "store", "streams", "p50 (us)", "p99 (us)", "commands/s");
}

/// The chapter's stream-count table for one store: commands that read and write 1, 5, 10 and
/// 50 streams, one after the other.
template <class Executor>
auto latency_rows(Executor& executor, const Settings& settings, std::string_view label) -> bool {
    const auto run_id = eventcore::Uuid::v7();
    for (const int count : {1, 5, 10, 50}) {
        std::vector<double> samples;
        const auto began = std::chrono::steady_clock::now();
        for (int i = 0; i < settings.latency_samples; ++i) {
            // Ten sets of streams per size, so streams grow as they would in use.
            const auto name = [&](int s) { return fmt::format("latency-{}-{}-{}-{}", run_id, count, i % 10, s); };
            TouchStreams cmd{{}, static_cast<std::uint32_t>(i)};
            for (int s = 0; s < count; ++s) cmd.touched.emplace_back(name(s));
            const auto t0 = std::chrono::steady_clock::now();
            auto r = executor.execute(cmd);
            samples.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
            if (!r) {
                fmt::print(stderr, "latency command failed: {}\n", r.error());
                return false;
            }
        }
        const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
        std::ranges::sort(samples);
        fmt::print("{:<10}{:>8}{:>12.1f}{:>12.1f}{:>14.0f}\n", label, count, percentile(samples, 0.5),
                   percentile(samples, 0.99), static_cast<double>(samples.size()) / took);
    }
    return true;
}

template <class Store>
auto run(Store& store, const Settings& settings, std::string_view label) -> int {
    constexpr std::int64_t initial_balance = 1000;
    auto tally = std::make_shared<Tally>();
    eventcore::CommandExecutor executor{
        store, {.retry = eventcore::RetryPolicy{.max_attempts = 100,
                                                .initial_delay = std::chrono::microseconds{50},
                                                .max_delay = std::chrono::milliseconds{5}},
                .observer = tally}};

    std::vector<StreamId> accounts;
    for (int i = 0; i < settings.accounts; ++i) {
        accounts.emplace_back(fmt::format("account-{}", i + 1));
        if (auto r = executor.execute(OpenAccount{accounts.back(), initial_balance}); !r) {
            fmt::print(stderr, "bank_demo: could not open {}: {}\n", accounts.back(), r.error());
            return 1;
        }
    }
    const auto head_before = store.head().value();

    // The read model follows the transfers live, in its own thread.
    using Balances = std::conditional_t<requires { store.transaction([](eventcore::SqlSession&) {
                                            return eventcore::Result<void>{};
                                        }); },
                                        SqlBalances, MemoryBalances>;
    Balances read_model;
    if constexpr (std::is_same_v<Balances, SqlBalances>) {
        eventcore::value_or_throw(store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
            read_model.create(sql);
            return {};
        }));
    }
    eventcore::ProjectionRunner projection{store, read_model, {.name = "demo-balances", .stream_prefix = "account-"}};
    eventcore::Result<eventcore::ProjectionStatus> projected;
    std::jthread projecting([&](std::stop_token stop) { projected = projection.run(stop); });

    fmt::print("{} threads x {} transfers among {} accounts, a projection keeping balances as they land\n",
               settings.threads, settings.transfers, settings.accounts);
    std::atomic<long> committed{0};
    std::atomic<long> rejected{0};
    std::atomic<long> failed{0};
    std::mutex latencies_mutex;
    std::vector<double> latencies_us;
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < settings.threads; ++t) {
        workers.emplace_back([&, t] {
            std::mt19937 rng(settings.seed + static_cast<unsigned>(t));
            std::uniform_int_distribution<std::size_t> pick(0, accounts.size() - 1);
            std::uniform_int_distribution<std::int64_t> amount(1, 250);
            std::vector<double> mine;
            for (int i = 0; i < settings.transfers; ++i) {
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
    fmt::print("{:<34}{:>12.0f}\n", "transfers per second", static_cast<double>(latencies_us.size()) / seconds);
    fmt::print("{:<34}{:>12.1f}\n", "latency p50 (us)", percentile(latencies_us, 0.50));
    fmt::print("{:<34}{:>12.1f}\n", "latency p99 (us)", percentile(latencies_us, 0.99));

    // Check the outcome from the log itself, not from what the threads believe: every account
    // ever opened, by this run or an earlier one, and the money they were opened with.
    projecting.request_stop();
    projecting.join();
    if (!projected) {
        fmt::print(stderr, "bank_demo: the projection stopped: {}\n", projected.error());
        return 1;
    }
    const auto caught_up = projection.catch_up();
    if (!caught_up) {
        fmt::print(stderr, "bank_demo: the projection failed to catch up: {}\n", caught_up.error());
        return 1;
    }
    const auto projected_balances = read_model.read(store);
    bool sound = failed == 0;
    std::map<StreamId, std::int64_t> balances;
    std::map<StreamId, std::uint64_t> versions;
    std::int64_t opened_with = 0;
    std::size_t events = 0;
    bool log_whole = true;
    auto page = store.read_all(eventcore::LogQuery{.stream_prefix = "account-"}, [&](const RecordedEvent<BankEvent>& e) {
        if (const auto* o = std::get_if<AccountOpened>(&e.payload)) opened_with += o->initial_balance;
        balances[e.stream] += delta(e.payload);
        log_whole = log_whole && e.version.value() == ++versions[e.stream];
        ++events;
    });
    if (!page) {
        fmt::print(stderr, "bank_demo: reading the log: {}\n", page.error());
        return 1;
    }
    std::uint64_t position = 0;
    auto whole = store.read_all(eventcore::LogQuery{}, [&](const RecordedEvent<BankEvent>& e) {
        log_whole = log_whole && e.position.value() == ++position;
    });
    log_whole = log_whole && whole && position == store.head().value().value() &&
                store.head().value().value() == head_before.value() + 2 * static_cast<std::uint64_t>(committed);

    std::int64_t total = 0;
    fmt::print("\n{:<14}{:>10}{:>10}{:>14}\n", "account", "balance", "version", "read model");
    bool read_model_matches = projected_balances.size() == balances.size();
    for (const auto& [account, balance] : balances) {
        const auto it = projected_balances.find(account);
        const auto modelled = it == projected_balances.end() ? std::int64_t{0} : it->second;
        read_model_matches = read_model_matches && modelled == balance;
        fmt::print("{:<14}{:>10}{:>10}{:>14}\n", account, balance, versions[account], modelled);
        sound = sound && balance >= 0;
        total += balance;
    }
    fmt::print("{:<14}{:>10}\n", "total", total);
    fmt::print("\nmoney conserved: {} ({} held, {} opened with)\n", total == opened_with ? "yes" : "NO", total,
               opened_with);
    fmt::print("global log: {} events in all, {}\n", position,
               log_whole ? "gap-free, every stream's versions contiguous" : "BROKEN");
    fmt::print("read model: {} (projection 'demo-balances' at position {}, lag {})\n",
               read_model_matches ? "equals the balances folded from the log" : "DIFFERS from the log",
               caught_up->checkpoint, caught_up->lag());
    sound = sound && total == opened_with && log_whole && read_model_matches;

    if (settings.latency_samples > 0) {
        print_latency_header(settings);
        if (!latency_rows(executor, settings, label)) return 1;
    }
    return sound ? 0 : 1;
}

/// The PostgreSQL rows of the latency table, when a server is configured.
auto postgres_rows(const Settings& settings) -> int {
    auto store = eventcore::PostgresEventStore<BankEvent>::open(settings.postgres, {.schema = "eventcore_demo"});
    if (!store) {
        fmt::print(stderr, "bank_demo: {}\n", store.error());
        return 1;
    }
    eventcore::CommandExecutor executor{*store};
    return latency_rows(executor, settings, "postgres") ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    auto settings = parse_settings(argc, argv);
    if (!settings) return 2;
    if (settings->postgres.empty()) {
        if (const char* pg = std::getenv("EVENTCORE_PG")) settings->postgres = pg;
    }
    int status = 0;
    if (settings->memory) {
        fmt::print("eventcore bank demo on the in-memory store\n");
        eventcore::InMemoryEventStore<BankEvent> store;
        status = run(store, *settings, "memory");
    } else {
        auto store = eventcore::SqliteEventStore<BankEvent>::open(settings->path);
        if (!store) {
            fmt::print(stderr, "bank_demo: {}\n", store.error());
            return 1;
        }
        std::error_code ec;
        const auto absolute = std::filesystem::absolute(settings->path, ec);
        fmt::print("eventcore bank demo on SQLite file {} (synchronous = full; {} events already there)\n",
                   ec ? settings->path : absolute.string(), store->head().value());
        status = run(*store, *settings, "sqlite");
    }
    if (status == 0 && !settings->postgres.empty() && settings->latency_samples > 0) status = postgres_rows(*settings);
    return status;
}
