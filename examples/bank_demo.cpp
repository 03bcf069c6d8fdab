// The flagship: many threads move money between accounts at once, on a durable SQLite file.
// First it shows the idea on two transfers: one commit to two streams, told with the versions
// read and written, and two transfers made to race on one account, the loser refused, reading
// again and deciding again. Then the load: every transfer is one atomic commit to two streams;
// conflicting transfers are retried on fresh state; at the end no money has appeared or vanished
// and the log is whole. Running it again continues from what the file holds. Then it measures
// commands that read and write 1, 5, 10 and 50 streams, on PostgreSQL too when a server is given
// (--postgres CONNINFO, or the EVENTCORE_PG environment variable). Two pictures land next to the
// store file: PATH-without-extension + "-latency.svg" (that table) and "-attempts.svg" (attempts
// per transfer in the load).
//
//   bank_demo [PATH] [--memory] [--postgres CONNINFO] [--accounts N] [--threads N]
//             [--transfers N] [--seed N] [--latency-samples N]

#include <eventcore/eventcore.hpp>
#include <eventcore/projection.hpp>
#include <eventcore/postgres_event_store.hpp>
#include <eventcore/sqlite_event_store.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
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
using eventcore::StreamVersion;

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

/// What a transfer saw in each of its attempts, for the demo's story, and a hook that runs once,
/// in the first attempt, between the read and the commit: there a rival may commit first.
struct Witness {
    struct Seen {
        eventcore::StreamVersion from_version;
        eventcore::StreamVersion to_version;
        std::int64_t from_balance;
        std::int64_t to_balance;
    };
    std::vector<Seen> attempts;
    std::function<void()> before_first_commit;
};

struct TransferMoney {
    StreamId from_account;
    StreamId to_account;
    std::int64_t amount;
    Witness* witness = nullptr; // null in the load run

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
        if (witness != nullptr) {
            witness->attempts.push_back(
                {ctx.version(from_account), ctx.version(to_account), s.from.balance, s.to.balance});
            if (witness->attempts.size() == 1 && witness->before_first_commit) witness->before_first_commit();
        }
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

/// The load run's retry policy: at most this many attempts per transfer.
constexpr std::uint32_t max_attempts = 100;

/// Counts what the executor reports about transfers, from every thread.
struct Tally : eventcore::ExecutorObserver {
    std::atomic<long> attempts{0};
    std::atomic<long> conflicts{0};
    std::atomic<long long> backoff_us{0};
    /// Transfers that ended (committed or not) after n attempts, at index n.
    std::array<std::atomic<long>, max_attempts + 1> ended_after{};
    /// The attempts of the last transfer that ended on this thread: hooks run on the thread
    /// executing the command, and a failed execution's result does not carry its attempts.
    static inline thread_local std::uint32_t last_attempts = 0;

    static auto counted(std::string_view command) -> bool { return command == TransferMoney::name; }
    void on_attempt(const eventcore::AttemptInfo& a) override {
        if (counted(a.command)) ++attempts;
    }
    void on_conflict(const eventcore::ConflictInfo& c) override {
        if (counted(c.command)) ++conflicts;
    }
    void on_retry(const eventcore::RetryInfo& r) override {
        if (counted(r.command)) backoff_us += r.delay.count();
    }
    void on_commit(const eventcore::CommitInfo& c) override {
        if (counted(c.command)) ended(c.attempts);
    }
    void on_failure(const eventcore::FailureInfo& f) override {
        if (counted(f.command)) ended(f.attempts);
    }
    void ended(std::uint32_t n) {
        last_attempts = n;
        ++ended_after[std::min(n, max_attempts)];
    }
};

/// Records the version conflicts and retry waits of one execution, for the demo's story.
struct Story : eventcore::ExecutorObserver {
    std::vector<std::pair<std::uint32_t, eventcore::VersionConflict>> conflicts; // with the attempt
    std::vector<std::chrono::microseconds> delays;
    void on_conflict(const eventcore::ConflictInfo& c) override {
        for (const auto& conflict : c.conflicts) conflicts.emplace_back(c.attempt, conflict);
    }
    void on_retry(const eventcore::RetryInfo& r) override { delays.push_back(r.delay); }
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

/// One row of the stream-count table.
struct LatencyRow {
    std::string store;
    int streams;
    double p50_us;
    double p99_us;
};

/// What the demo measured, for its pictures.
struct Figures {
    std::vector<LatencyRow> latency;
    /// Transfers of the load run by the attempts they took (index: attempts).
    std::vector<long> attempts;
    std::string load; // what the load run was, in words
};

/// The chapter's stream-count table for one store: commands that read and write 1, 5, 10 and
/// 50 streams, one after the other. Each row is printed and added to `rows`.
template <class Executor>
auto latency_rows(Executor& executor, const Settings& settings, std::string_view label, std::vector<LatencyRow>& rows)
    -> bool {
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
        rows.push_back({std::string(label), count, percentile(samples, 0.5), percentile(samples, 0.99)});
        fmt::print("{:<10}{:>8}{:>12.1f}{:>12.1f}{:>14.0f}\n", label, count, rows.back().p50_us, rows.back().p99_us,
                   static_cast<double>(samples.size()) / took);
    }
    return true;
}

/// The balance of each of `accounts`, from one snapshot of their streams.
template <class Store>
auto balances_of(Store& store, const std::vector<StreamId>& accounts) -> eventcore::Result<std::vector<std::int64_t>> {
    std::vector<std::int64_t> balances(accounts.size());
    auto read = store.read_streams(accounts, [&](const RecordedEvent<BankEvent>& e) {
        balances[static_cast<std::size_t>(std::ranges::find(accounts, e.stream) - accounts.begin())] += delta(e.payload);
    });
    if (!read) return eventcore::fail(std::move(read).error());
    return balances;
}

/// "MoneyWithdrawn to account-3 (v13), MoneyDeposited to account-4 (v9)": the events a commit
/// wrote, their types read back from the store's log.
template <class Store>
auto describe_writes(Store& store, const std::vector<eventcore::WrittenEvent>& written) -> std::string {
    if (written.empty()) return "nothing";
    std::vector<std::string_view> types(written.size(), "?");
    const auto [first, last] = std::ranges::minmax(written, {}, &eventcore::WrittenEvent::position);
    auto read = store.read_all(eventcore::LogQuery{.after = eventcore::GlobalPosition{first.position.value() - 1},
                                                   .limit = last.position.value() - first.position.value() + 1},
                               [&](const RecordedEvent<BankEvent>& e) {
                                   for (std::size_t i = 0; i < written.size(); ++i) {
                                       if (written[i].event_id == e.metadata.event_id)
                                           types[i] = eventcore::event_type_name_of(e.payload);
                                   }
                               });
    if (!read) fmt::print(stderr, "bank_demo: reading the commit back: {}\n", read.error());
    std::string out;
    for (std::size_t i = 0; i < written.size(); ++i) {
        out += fmt::format("{}{} to {} (v{})", i == 0 ? "" : ", ", types[i], written[i].stream, written[i].version);
    }
    return out;
}

auto positions(const std::vector<eventcore::WrittenEvent>& written) -> std::string {
    if (written.empty()) return "none";
    const auto [first, last] = std::ranges::minmax(written, {}, &eventcore::WrittenEvent::position);
    if (first.position == last.position) return fmt::format("position {}", first.position);
    return fmt::format("positions {}-{}", first.position, last.position);
}

/// Before the load, the idea in a few lines, with the store's own figures: one transfer (the
/// streams it read with their versions, the events it wrote to each, one commit), then two
/// transfers racing on one account. The race is certain, not likely: the loser's first attempt,
/// between its read and its commit, lets a rival commit on the same account. Returns whether
/// everything happened as the executor promises (the loser was refused, read again, saw the
/// rival's version and committed in two attempts).
template <class Store>
auto show_the_idea(Store& store, const std::vector<StreamId>& accounts) -> bool {
    const auto balances = balances_of(store, accounts);
    if (!balances) {
        fmt::print(stderr, "bank_demo: reading the accounts: {}\n", balances.error());
        return false;
    }
    // The richest account pays, so that the story's transfers pass the funds rule on any rerun.
    const auto richest = static_cast<std::size_t>(std::ranges::max_element(*balances) - balances->begin());
    const StreamId& payer = accounts[richest];
    const StreamId& payee = accounts[(richest + 1) % accounts.size()];
    const StreamId& other = accounts[(richest + 2) % accounts.size()];

    fmt::print("\nthe idea, on two transfers:\n\n");
    fmt::print("1. one command reads two streams, decides, and commits to both at once\n");
    eventcore::CommandExecutor plain{store};
    Witness first;
    const TransferMoney transfer{payer, payee, 100, &first};
    auto one = plain.execute(transfer);
    if (!one || first.attempts.empty()) {
        fmt::print(stderr, "bank_demo: the first transfer failed: {}\n", one ? "it never decided" : one.error().message());
        return false;
    }
    const auto& read = first.attempts.back();
    fmt::print("   TransferMoney {} from {} to {}\n", transfer.amount, payer, payee);
    fmt::print("   read   {} @ v{} (balance {}), {} @ v{} (balance {})\n", payer, read.from_version, read.from_balance,
               payee, read.to_version, read.to_balance);
    fmt::print("   wrote  {}\n", describe_writes(store, one->events));
    fmt::print("          in one commit at log {}: both events or neither\n", positions(one->events));

    fmt::print("\n2. two transfers race on {}: the one that commits second is refused, reads again, decides again\n",
               payer);
    Witness loser_saw;
    const TransferMoney rival{payer, payee, 100};
    eventcore::Result<eventcore::ExecutionResult> rival_result = eventcore::fail(eventcore::ErrorKind::validation, "not run");
    loser_saw.before_first_commit = [&] {
        // Another client, on its own thread, commits on the payer's account in between.
        std::thread([&] { rival_result = plain.execute(rival); }).join();
    };
    auto story = std::make_shared<Story>();
    eventcore::CommandExecutor watched{store, {.observer = story}};
    const TransferMoney loser{payer, other, 200, &loser_saw};
    auto two = watched.execute(loser);
    if (!rival_result || !two || loser_saw.attempts.size() < 2) {
        fmt::print(stderr, "bank_demo: the race did not run: rival {}, loser {}\n",
                   rival_result ? "committed" : rival_result.error().message(),
                   two ? fmt::format("took {} attempt(s)", two->attempts) : two.error().message());
        return false;
    }
    const auto& before = loser_saw.attempts[0];
    const auto& again = loser_saw.attempts[1];
    const auto rival_payer = std::ranges::find(rival_result->events, payer, &eventcore::WrittenEvent::stream);
    fmt::print("   TransferMoney {} from {} to {}\n", loser.amount, payer, other);
    fmt::print("   attempt 1  read   {} @ v{} (balance {}), {} @ v{}: enough, so it withdraws {}\n", payer,
               before.from_version, before.from_balance, other, before.to_version, loser.amount);
    fmt::print("              meanwhile TransferMoney {} from {} to {} commits first ({} now @ v{})\n", rival.amount,
               payer, payee, payer, rival_payer == rival_result->events.end() ? StreamVersion{} : rival_payer->version);
    for (const auto& [attempt, conflict] : story->conflicts) {
        fmt::print("              commit refused: version conflict on {} (expected v{}, found v{}); nothing written\n",
                   conflict.stream, conflict.expected.version(), conflict.actual);
    }
    fmt::print("              waited {} us (backoff)\n",
               story->delays.empty() ? std::int64_t{0} : static_cast<std::int64_t>(story->delays.front().count()));
    fmt::print("   attempt 2  read   {} @ v{} (balance {}), {} @ v{}: decided again on the new balance\n", payer,
               again.from_version, again.from_balance, other, again.to_version);
    fmt::print("              wrote  {}\n", describe_writes(store, two->events));
    fmt::print("              in one commit at log {}\n", positions(two->events));
    fmt::print("   committed in {} attempts (ExecutionResult::attempts), after {} version conflict\n", two->attempts,
               story->conflicts.size());

    // What the executor promises, checked on the figures just shown.
    const bool as_promised =
        one->events.size() == 2 && one->events[0].version == read.from_version.next() &&
        one->events[1].version == read.to_version.next() && two->attempts == 2 && story->conflicts.size() == 1 &&
        story->conflicts[0].first == 1 && story->conflicts[0].second.stream == payer &&
        story->conflicts[0].second.expected == eventcore::ExpectedVersion::exact(before.from_version) &&
        rival_payer != rival_result->events.end() && story->conflicts[0].second.actual == rival_payer->version &&
        again.from_version == rival_payer->version && again.from_balance == before.from_balance - rival.amount &&
        two->events.size() == 2 && two->events[0].version == again.from_version.next();
    if (!as_promised) fmt::print("   NOT as the executor promises: see the figures above\n");
    fmt::print("\n");
    return as_promised;
}

template <class Store>
auto run(Store& store, const Settings& settings, std::string_view label, Figures& figures) -> int {
    constexpr std::int64_t initial_balance = 1000;
    auto tally = std::make_shared<Tally>();
    eventcore::CommandExecutor executor{
        store, {.retry = eventcore::RetryPolicy{.max_attempts = max_attempts,
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
    if (!show_the_idea(store, accounts)) return 1;
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
    std::vector<double> first_try_us; // transfers that ended in their first attempt
    std::vector<double> retried_us;   // and those that needed more
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < settings.threads; ++t) {
        workers.emplace_back([&, t] {
            std::mt19937 rng(settings.seed + static_cast<unsigned>(t));
            std::uniform_int_distribution<std::size_t> pick(0, accounts.size() - 1);
            std::uniform_int_distribution<std::int64_t> amount(1, 250);
            std::vector<double> mine;
            std::vector<double> mine_first_try;
            std::vector<double> mine_retried;
            for (int i = 0; i < settings.transfers; ++i) {
                const std::size_t from = pick(rng);
                const std::size_t to = (from + 1 + pick(rng) % (accounts.size() - 1)) % accounts.size();
                const auto t0 = std::chrono::steady_clock::now();
                auto r = executor.execute(TransferMoney{accounts[from], accounts[to], amount(rng)});
                mine.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
                (Tally::last_attempts > 1 ? mine_retried : mine_first_try).push_back(mine.back());
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
            first_try_us.insert(first_try_us.end(), mine_first_try.begin(), mine_first_try.end());
            retried_us.insert(retried_us.end(), mine_retried.begin(), mine_retried.end());
        });
    }
    for (auto& w : workers) w.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::ranges::sort(latencies_us);
    std::ranges::sort(first_try_us);
    std::ranges::sort(retried_us);
    figures.load = fmt::format("{} threads x {} transfers among {} accounts ({})", settings.threads,
                               settings.transfers, settings.accounts, label);
    figures.attempts.assign(tally->ended_after.size(), 0);
    for (std::size_t n = 0; n < tally->ended_after.size(); ++n) figures.attempts[n] = tally->ended_after[n].load();

    fmt::print("\n{:<34}{:>12}\n", "transfers committed", committed.load());
    fmt::print("{:<34}{:>12}\n", "rejected by a business rule", rejected.load());
    fmt::print("{:<34}{:>12}\n", "failed otherwise", failed.load());
    fmt::print("{:<34}{:>12}\n", "attempts", tally->attempts.load());
    fmt::print("{:<34}{:>12}\n", "version conflicts (retried)", tally->conflicts.load());
    // The figures' context: conflicts are the price of contention, paid in retries, not in money.
    if (settings.threads == 1) {
        fmt::print("  One thread: no transfer runs beside another, so none can conflict.\n");
    } else {
        const auto transfers = static_cast<double>(latencies_us.size());
        // Two random pairs of n accounts share one unless the second avoids both of the first's.
        const auto n = static_cast<double>(settings.accounts);
        const double share = 1 - (n - 2) * (n - 3) / (n * (n - 1));
        fmt::print("  Expected: two transfers running at the same time share one of the {} accounts {:.0f}% of the\n"
                   "  time, and then the later commit is refused (nothing written), read again and decided again.\n"
                   "  Cost here: {} extra attempts ({:.2g} per transfer), {:.0f} ms of backoff in all threads; p50\n"
                   "  latency {:.0f} us for the {} transfers done in one attempt, {:.0f} us for the {} that retried.\n",
                   settings.accounts, 100 * share, tally->attempts.load() - static_cast<long>(latencies_us.size()),
                   transfers > 0 ? static_cast<double>(tally->attempts.load()) / transfers - 1 : 0.0,
                   static_cast<double>(tally->backoff_us.load()) / 1000.0, percentile(first_try_us, 0.5),
                   first_try_us.size(), percentile(retried_us, 0.5), retried_us.size());
    }
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
    auto page = eventcore::visit_log(store, {.stream_prefix = "account-"}, [&](const RecordedEvent<BankEvent>& e) {
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
    auto whole = eventcore::visit_log(store, {}, [&](const RecordedEvent<BankEvent>& e) {
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
        if (!latency_rows(executor, settings, label, figures.latency)) return 1;
    }
    return sound ? 0 : 1;
}

/// The PostgreSQL rows of the latency table, when a server is configured.
auto postgres_rows(const Settings& settings, Figures& figures) -> int {
    auto store = eventcore::PostgresEventStore<BankEvent>::open(settings.postgres, {.schema = "eventcore_demo"});
    if (!store) {
        fmt::print(stderr, "bank_demo: {}\n", store.error());
        return 1;
    }
    eventcore::CommandExecutor executor{*store};
    return latency_rows(executor, settings, "postgres", figures.latency) ? 0 : 1;
}

// The pictures: SVG written by hand, in the style of docs/benchmarks/stream-latency.svg (which
// script/bench_report.py draws from the benchmark's rows).

constexpr std::array<std::string_view, 9> colors{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                                 "#8c564b", "#e377c2", "#17becf", "#7f7f7f"};

auto xml_escaped(std::string_view text) -> std::string {
    std::string out;
    for (const char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

/// p50 (solid) and p99 (dashed) latency against streams per command, both on log scales, one
/// colour per store.
auto latency_svg(const std::vector<LatencyRow>& rows, std::string_view subtitle) -> std::string {
    std::vector<int> counts;
    std::vector<std::string> stores;
    double low = 0;
    double high = 0;
    for (const auto& r : rows) {
        if (std::ranges::find(counts, r.streams) == counts.end()) counts.push_back(r.streams);
        if (std::ranges::find(stores, r.store) == stores.end()) stores.push_back(r.store);
        for (const double v : {r.p50_us, r.p99_us}) {
            if (v <= 0) continue;
            low = low == 0 ? v : std::min(low, v);
            high = std::max(high, v);
        }
    }
    std::ranges::sort(counts);
    if (low <= 0) low = high = 1;
    const double lo = std::pow(10.0, std::floor(std::log10(low)));
    double hi = std::pow(10.0, std::ceil(std::log10(high)));
    if (hi <= lo) hi = lo * 10;
    constexpr int width = 860, height = 520, left = 70, right = 250, top = 40, bottom = 60;
    constexpr int pw = width - left - right, ph = height - top - bottom;
    const auto x = [&](int count) {
        if (counts.size() < 2) return left + pw / 2.0;
        const double a = std::log10(counts.front()), b = std::log10(counts.back());
        return left + (std::log10(count) - a) / (b - a) * pw;
    };
    const auto y = [&](double v) {
        return top + ph - (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * ph;
    };

    std::string out = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" font-family=\"sans-serif\" "
        "font-size=\"12\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
        "<text x=\"{2}\" y=\"22\" font-size=\"15\">Command latency by streams per command</text>\n"
        "<text x=\"{3}\" y=\"22\" text-anchor=\"end\" fill=\"#555\">{4}</text>\n",
        width, height, left, left + pw, xml_escaped(subtitle));
    for (double decade = lo; decade <= hi * 1.0001; decade *= 10) {
        for (const double m : {1.0, 2.0, 5.0}) {
            const double v = decade * m;
            if (v < lo || v > hi * 1.0001) continue;
            const auto label = v < 1000 ? fmt::format("{:g} us", v) : fmt::format("{:g} ms", v / 1000);
            out += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#e5e5e5\"/>\n"
                               "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
                               left, y(v), left + pw, left - 6, y(v) + 4, label);
        }
    }
    for (const int c : counts) {
        out += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#e5e5e5\"/>\n"
                           "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
                           x(c), top, top + ph, top + ph + 18, c);
    }
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">streams read and written per command (log "
                       "scale)</text>\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n",
                       left + pw / 2, height - 18, left, top, pw, ph);
    for (std::size_t i = 0; i < stores.size(); ++i) {
        const auto color = colors[i % colors.size()];
        for (const bool p99 : {false, true}) {
            std::string points;
            std::string dots;
            for (const auto& r : rows) {
                const double v = p99 ? r.p99_us : r.p50_us;
                if (r.store != stores[i] || v <= 0) continue;
                points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", x(r.streams), y(v));
                dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", x(r.streams), y(v),
                                    color);
            }
            if (points.empty()) continue;
            out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n{}", points,
                               color, p99 ? " stroke-dasharray=\"5,4\"" : "", dots);
        }
        const int ly = top + 10 + static_cast<int>(i) * 20;
        out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\"/>\n"
                           "<text x=\"{4}\" y=\"{5}\">{6}</text>\n",
                           left + pw + 15, ly, left + pw + 40, color, left + pw + 46, ly + 4, xml_escaped(stores[i]));
    }
    const int ly = top + 10 + static_cast<int>(stores.size()) * 20 + 10;
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333\" stroke-width=\"2\"/>\n"
                       "<text x=\"{3}\" y=\"{4}\">p50</text>\n"
                       "<line x1=\"{0}\" y1=\"{5}\" x2=\"{2}\" y2=\"{5}\" stroke=\"#333\" stroke-width=\"2\" "
                       "stroke-dasharray=\"5,4\"/>\n<text x=\"{3}\" y=\"{6}\">p99</text>\n</svg>\n",
                       left + pw + 15, ly, left + pw + 40, left + pw + 46, ly + 4, ly + 18, ly + 22);
    return out;
}

/// A bar per number of attempts (the last bar gathers the long tail), each labelled with its
/// count of transfers.
auto attempts_svg(const std::vector<long>& ended_after, std::string_view subtitle) -> std::string {
    constexpr std::size_t most_bars = 20;
    std::size_t last = 1;
    long total = 0;
    for (std::size_t n = 1; n < ended_after.size(); ++n) {
        if (ended_after[n] > 0) last = n;
        total += ended_after[n];
    }
    std::vector<std::pair<std::string, long>> bars;
    for (std::size_t n = 1; n <= std::min(last, most_bars); ++n) {
        const bool tail = n == most_bars && last > most_bars;
        long count = 0;
        for (std::size_t k = n; k <= (tail ? last : n); ++k) count += ended_after[k];
        bars.emplace_back(fmt::format("{}{}", n, tail ? "+" : ""), count);
    }
    const long tallest = std::ranges::max(bars, {}, &std::pair<std::string, long>::second).second;
    // A round step for the grid: 1, 2 or 5 times a power of ten, about five lines.
    const double raw = std::max(1.0, static_cast<double>(tallest) / 5);
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    double step = magnitude;
    for (const double m : {1.0, 2.0, 5.0, 10.0}) {
        step = m * magnitude;
        if (step >= raw) break;
    }
    const double ceiling = std::max(step, std::ceil(static_cast<double>(tallest) / step) * step);
    constexpr int width = 860, height = 520, left = 70, right = 40, top = 40, bottom = 60;
    constexpr int pw = width - left - right, ph = height - top - bottom;
    const auto y = [&](double v) { return top + ph - v / ceiling * ph; };
    const double slot = static_cast<double>(pw) / static_cast<double>(bars.size());

    std::string out = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" font-family=\"sans-serif\" "
        "font-size=\"12\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
        "<text x=\"{2}\" y=\"22\" font-size=\"15\">Attempts per transfer: {3} transfers</text>\n"
        "<text x=\"{4}\" y=\"22\" text-anchor=\"end\" fill=\"#555\">{5}</text>\n",
        width, height, left, total, left + pw, xml_escaped(subtitle));
    for (double v = 0; v <= ceiling * 1.0001; v += step) {
        out += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#e5e5e5\"/>\n"
                           "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:.0f}</text>\n",
                           left, y(v), left + pw, left - 6, y(v) + 4, v);
    }
    for (std::size_t i = 0; i < bars.size(); ++i) {
        const double cx = left + slot * (static_cast<double>(i) + 0.5);
        const double bar_top = y(static_cast<double>(bars[i].second));
        out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n"
                           "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" class=\"count\">{}</text>\n"
                           "<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                           cx - slot * 0.35, bar_top, slot * 0.7, top + ph - bar_top, colors[0], cx, bar_top - 4,
                           bars[i].second, cx, top + ph + 18, bars[i].first);
    }
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">attempts (1: no conflict; each more: one "
                       "version conflict, read again and decided again)</text>\n"
                       "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n</svg>\n",
                       left + pw / 2, height - 18, left, top, pw, ph);
    return out;
}

auto write_file(const std::filesystem::path& path, const std::string& text) -> bool {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    bool ok = file != nullptr && std::fwrite(text.data(), 1, text.size(), file) == text.size();
    const int error = errno;
    if (file != nullptr && std::fclose(file) != 0) ok = false;
    if (!ok) fmt::print(stderr, "bank_demo: could not write {}: {}\n", path.string(), std::strerror(error));
    return ok;
}

/// Writes the pictures next to the store file (`PATH` without its extension, then
/// `-latency.svg` and `-attempts.svg`) and prints where they are.
auto write_pictures(const Settings& settings, const Figures& figures) -> bool {
    std::error_code ec;
    auto base = std::filesystem::absolute(settings.path, ec);
    if (ec) base = settings.path;
    base.replace_extension();
    bool ok = true;
    fmt::print("\npictures:\n");
    if (!figures.latency.empty()) {
        auto path = base;
        path += "-latency.svg";
        const bool written = write_file(path, latency_svg(figures.latency, fmt::format("bank demo, {} commands per row",
                                                                                     settings.latency_samples)));
        ok = ok && written;
        if (written) fmt::print("  latency by streams per command  {}\n", path.string());
    }
    if (!figures.attempts.empty()) {
        auto path = base;
        path += "-attempts.svg";
        const bool written = write_file(path, attempts_svg(figures.attempts, figures.load));
        ok = ok && written;
        if (written) fmt::print("  attempts per transfer           {}\n", path.string());
    }
    return ok;
}

} // namespace

int main(int argc, char** argv) {
    auto settings = parse_settings(argc, argv);
    if (!settings) return 2;
    if (settings->postgres.empty()) {
        if (const char* pg = std::getenv("EVENTCORE_PG")) settings->postgres = pg;
    }
    int status = 0;
    Figures figures;
    if (settings->memory) {
        fmt::print("eventcore bank demo on the in-memory store\n");
        eventcore::InMemoryEventStore<BankEvent> store;
        status = run(store, *settings, "memory", figures);
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
        status = run(*store, *settings, "sqlite", figures);
    }
    if (status == 0 && !settings->postgres.empty() && settings->latency_samples > 0)
        status = postgres_rows(*settings, figures);
    if (!write_pictures(*settings, figures) && status == 0) status = 1;
    return status;
}
