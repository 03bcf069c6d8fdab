// eventcore-stress: runs a workload against a store for a while, from several threads and
// processes, optionally through a ChaosStore, then checks that the store kept its promises.
//
//   eventcore-stress transfers --backend sqlite --path bank.db --threads 8 --duration 10
//   eventcore-stress contention --backend postgres --start-postgres --processes 2
//   eventcore-stress throughput --backend memory --chaos 0.3
//
// Prints ops/s, latency percentiles, retries, errors and faults, then PASS or FAIL for each
// invariant; the exit code is 0 when all pass, 1 when one fails, 2 for a usage or setup error.

#include "common/child_process.hpp"

#include <eventcore/eventcore.hpp>
#include <eventcore/json_codec.hpp>
#include <eventcore/postgres_event_store.hpp>
#include <eventcore/sqlite_event_store.hpp>
#include <eventcore/testing/chaos_store.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>


#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace {

using eventcore::Context;
using eventcore::ErrorKind;
using eventcore::RecordedEvent;
using eventcore::StreamId;
using Clock = std::chrono::steady_clock;

// ---- the workload's events and commands ----

struct AccountOpened {
    std::int64_t initial_balance;
};
struct MoneyDeposited {
    std::int64_t amount;
};
struct MoneyWithdrawn {
    std::int64_t amount;
};
EVENTCORE_EVENT(AccountOpened, initial_balance)
EVENTCORE_EVENT(MoneyDeposited, amount)
EVENTCORE_EVENT(MoneyWithdrawn, amount)
using StressEvent = std::variant<AccountOpened, MoneyDeposited, MoneyWithdrawn>;

auto delta(const StressEvent& e) -> std::int64_t {
    if (const auto* o = std::get_if<AccountOpened>(&e)) return o->initial_balance;
    if (const auto* d = std::get_if<MoneyDeposited>(&e)) return d->amount;
    return -std::get<MoneyWithdrawn>(e).amount;
}

struct Balances {
    std::int64_t from = 0;
    std::int64_t to = 0;
};

struct Transfer {
    StreamId from_account;
    StreamId to_account;
    std::int64_t amount;
    using Event = StressEvent;
    using State = Balances;
    static constexpr std::string_view name = "Transfer";
    static constexpr auto streams = eventcore::streams(&Transfer::from_account, &Transfer::to_account);
    void apply(State& s, const RecordedEvent<Event>& e) const {
        (e.stream == from_account ? s.from : s.to) += delta(e.payload);
    }
    void handle(const State& s, Context<Transfer>& ctx) const {
        ctx.require(s.from >= amount, "insufficient funds: {} < {}", s.from, amount);
        ctx.write<&Transfer::from_account>(MoneyWithdrawn{amount});
        ctx.write<&Transfer::to_account>(MoneyDeposited{amount});
    }
};

/// Adds 1 to a stream: the contention and throughput workload.
struct Increment {
    StreamId counter;
    using Event = StressEvent;
    using State = std::int64_t;
    static constexpr std::string_view name = "Increment";
    static constexpr auto streams = eventcore::streams(&Increment::counter);
    void apply(State& s, const RecordedEvent<Event>& e) const { s += delta(e.payload); }
    void handle(const State&, Context<Increment>& ctx) const { ctx.write<&Increment::counter>(MoneyDeposited{1}); }
};

// ---- settings ----

struct Settings {
    std::string scenario;
    std::string backend = "memory";
    std::string path;
    std::string conninfo;
    std::string schema = "eventcore";
    bool start_postgres = false;
    int threads = 4;
    double duration = 5;
    int processes = 1;
    double chaos = 0;
    std::uint64_t seed = 1;
    int accounts = 10;
    std::int64_t opening_balance = 1000;
    // Set for the worker processes a run spawns.
    int worker = -1;
    std::string run_id;
};

constexpr int exit_fail = 1;
constexpr int exit_usage = 2;

/// Where the connection string comes from when no `--conninfo` is given (and how the workers
/// of a multi-process run get theirs).
constexpr const char* conninfo_variable = "EVENTCORE_STRESS_CONNINFO";

auto account(const Settings& s, int i) -> StreamId { return StreamId(fmt::format("{}-account-{}", s.run_id, i)); }
auto counter(const Settings& s) -> StreamId { return StreamId(fmt::format("{}-counter", s.run_id)); }
auto own_stream(const Settings& s, int thread) -> StreamId {
    return StreamId(fmt::format("{}-stream-{}-{}", s.run_id, std::max(s.worker, 0), thread));
}
/// Events each landed command writes.
auto events_per_command(const Settings& s) -> std::size_t {
    return s.scenario == "transfers" || s.scenario == "projection" ? 2 : 1;
}

// ---- statistics ----

/// A latency histogram in buckets 2% wide (microseconds); mergeable across processes.
class Histogram {
public:
    void add(double us) {
        ++counts_[bucket(us)];
        max_ = std::max(max_, us);
        ++total_;
    }
    void merge(const Histogram& other) {
        for (const auto& [b, n] : other.counts_) counts_[b] += n;
        max_ = std::max(max_, other.max_);
        total_ += other.total_;
    }
    [[nodiscard]] auto percentile(double p) const -> double {
        if (total_ == 0) return 0;
        const auto rank = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(total_)));
        std::uint64_t seen = 0;
        for (const auto& [b, n] : counts_) {
            seen += n;
            if (seen >= rank) return std::min(value(b), max_);
        }
        return max_;
    }
    [[nodiscard]] auto max() const -> double { return max_; }
    [[nodiscard]] auto serialize() const -> std::string {
        std::string out = fmt::format("{}", max_);
        for (const auto& [b, n] : counts_) out += fmt::format(" {}:{}", b, n);
        return out;
    }
    static auto parse(std::istream& in) -> Histogram {
        Histogram h;
        in >> h.max_;
        std::string item;
        while (in >> item) {
            const auto colon = item.find(':');
            const auto n = std::stoull(item.substr(colon + 1));
            h.counts_[std::stoi(item.substr(0, colon))] += n;
            h.total_ += n;
        }
        return h;
    }

private:
    static constexpr double step = 1.02;
    static auto bucket(double us) -> int { return us < 1 ? 0 : 1 + static_cast<int>(std::log(us) / std::log(step)); }
    static auto value(int b) -> double { return b == 0 ? 0.5 : std::pow(step, b - 0.5); }
    std::map<int, std::uint64_t> counts_;
    double max_ = 0;
    std::uint64_t total_ = 0;
};

struct Stats {
    std::uint64_t commands = 0;
    std::uint64_t committed = 0;
    std::uint64_t rejected = 0; // business rules
    std::uint64_t attempts = 0;
    std::map<std::string, std::uint64_t> errors; // by kind, business rules left out
    std::uint64_t unexpected = 0;                // errors of a kind no fault explains
    /// Commands reported as writing nothing (every failure but `in_doubt`, rules included):
    /// checked against the log afterwards, none may have landed.
    std::vector<eventcore::Uuid> said_unwritten;
    eventcore::testing::ChaosCounts faults{};
    Histogram latency;
    double seconds = 0;

    void merge(const Stats& o) {
        commands += o.commands;
        committed += o.committed;
        rejected += o.rejected;
        attempts += o.attempts;
        for (const auto& [k, n] : o.errors) errors[k] += n;
        unexpected += o.unexpected;
        said_unwritten.insert(said_unwritten.end(), o.said_unwritten.begin(), o.said_unwritten.end());
        faults.reads += o.faults.reads;
        faults.appends += o.faults.appends;
        faults.conflicts += o.faults.conflicts;
        faults.unavailable += o.faults.unavailable;
        faults.transient += o.faults.transient;
        faults.in_doubt += o.faults.in_doubt;
        faults.delays += o.faults.delays;
        latency.merge(o.latency);
        seconds = std::max(seconds, o.seconds);
    }
    [[nodiscard]] auto failed() const -> std::uint64_t {
        std::uint64_t n = 0;
        for (const auto& [k, c] : errors) n += c;
        return n;
    }

    /// One line per field, for a worker to hand its numbers to the parent.
    [[nodiscard]] auto serialize() const -> std::string {
        std::string out = fmt::format("commands {}\ncommitted {}\nrejected {}\nattempts {}\nunexpected {}\nseconds {}\n",
                                      commands, committed, rejected, attempts, unexpected, seconds);
        out += fmt::format("faults {} {} {} {} {} {} {}\n", faults.reads, faults.appends, faults.conflicts,
                           faults.unavailable, faults.transient, faults.in_doubt, faults.delays);
        for (const auto& [k, n] : errors) out += fmt::format("error {} {}\n", k, n);
        for (const auto& id : said_unwritten) out += fmt::format("unwritten {}\n", id);
        out += "latency " + latency.serialize() + "\n";
        return out;
    }
    static auto parse(const std::string& text) -> Stats {
        Stats s;
        std::istringstream lines(text);
        std::string line;
        while (std::getline(lines, line)) {
            std::istringstream in(line);
            std::string key;
            in >> key;
            if (key == "commands") in >> s.commands;
            else if (key == "committed") in >> s.committed;
            else if (key == "rejected") in >> s.rejected;
            else if (key == "attempts") in >> s.attempts;
            else if (key == "unexpected") in >> s.unexpected;
            else if (key == "seconds") in >> s.seconds;
            else if (key == "faults")
                in >> s.faults.reads >> s.faults.appends >> s.faults.conflicts >> s.faults.unavailable >>
                    s.faults.transient >> s.faults.in_doubt >> s.faults.delays;
            else if (key == "error") {
                std::string kind;
                std::uint64_t n = 0;
                in >> kind >> n;
                s.errors[kind] += n;
            } else if (key == "unwritten") {
                std::string id;
                in >> id;
                if (auto parsed = eventcore::Uuid::parse(id)) s.said_unwritten.push_back(*parsed);
            } else if (key == "latency") s.latency = Histogram::parse(in);
        }
        return s;
    }
};

/// Errors a command may end with in a healthy run: a rule, retries run out, or a failure the
/// store (or the chaos) reports as such. Anything else is a finding.
auto expected_error(const eventcore::Error& e, bool chaos) -> bool {
    if (e.is(ErrorKind::business_rule) || e.is(ErrorKind::concurrency_exhausted) || e.is(ErrorKind::transient))
        return true;
    return chaos && (e.is(ErrorKind::store_unavailable) || e.is(ErrorKind::in_doubt));
}

// ---- the load ----

template <class Store>
auto run_load(Store& store, const Settings& s, eventcore::testing::ChaosCounts (*chaos_counts)(const Store&))
    -> Stats {
    eventcore::CommandExecutor executor{
        store, {.retry = eventcore::RetryPolicy{.max_attempts = 100,
                                                .initial_delay = std::chrono::microseconds{50},
                                                .max_delay = std::chrono::milliseconds{5}}}};
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.duration));
    std::mutex merge;
    Stats total;
    std::vector<std::jthread> threads;
    for (int t = 0; t < s.threads; ++t) {
        threads.emplace_back([&, t] {
            Stats mine;
            std::mt19937_64 rng(s.seed * 1000003 + static_cast<std::uint64_t>(std::max(s.worker, 0) * 1009 + t));
            std::uniform_int_distribution<int> pick(0, s.accounts - 1);
            std::uniform_int_distribution<std::int64_t> amount(1, 100);
            const auto mine_stream = own_stream(s, t);
            const auto shared = counter(s);
            while (Clock::now() < deadline) {
                const auto begun = Clock::now();
                eventcore::Result<eventcore::ExecutionResult> r = eventcore::fail(ErrorKind::validation, "unset");
                const eventcore::ExecuteOptions options{.command_id = eventcore::Uuid::v7()};
                if (s.scenario == "contention") {
                    r = executor.execute(Increment{shared}, options);
                } else if (s.scenario == "throughput") {
                    r = executor.execute(Increment{mine_stream}, options);
                } else {
                    const int from = pick(rng);
                    const int to = (from + 1 + pick(rng) % (s.accounts - 1)) % s.accounts;
                    r = executor.execute(Transfer{account(s, from), account(s, to), amount(rng)}, options);
                }
                mine.latency.add(std::chrono::duration<double, std::micro>(Clock::now() - begun).count());
                ++mine.commands;
                if (r) {
                    ++mine.committed;
                    mine.attempts += r->attempts;
                } else if (r.error().is(ErrorKind::business_rule)) {
                    ++mine.rejected;
                    ++mine.attempts;
                    mine.said_unwritten.push_back(*options.command_id);
                } else {
                    ++mine.errors[std::string(eventcore::to_string(r.error().kind()))];
                    ++mine.attempts;
                    if (!r.error().is(ErrorKind::in_doubt)) mine.said_unwritten.push_back(*options.command_id);
                    if (!expected_error(r.error(), s.chaos > 0)) {
                        if (mine.unexpected++ == 0) fmt::print(stderr, "eventcore-stress: unexpected: {}\n", r.error());
                    }
                }
            }
            const std::scoped_lock lock(merge);
            total.merge(mine);
        });
    }
    threads.clear();
    total.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (chaos_counts != nullptr) total.faults = chaos_counts(store);
    return total;
}

auto chaos_options(const Settings& s) -> eventcore::testing::ChaosOptions {
    // The rate is split among the kinds of fault; every call may also be delayed.
    return {.seed = s.seed * 7919 + static_cast<std::uint64_t>(std::max(s.worker, 0)),
            .conflict_rate = s.chaos * 0.4,
            .unavailable_rate = s.chaos * 0.1,
            .transient_rate = s.chaos * 0.35,
            .in_doubt_rate = s.chaos * 0.15,
            .latency_rate = s.chaos,
            .max_latency = std::chrono::microseconds{500}};
}

template <class Store>
auto load(Store& store, const Settings& s) -> Stats {
    if (s.chaos <= 0) return run_load<Store>(store, s, nullptr);
    eventcore::testing::ChaosStore chaos{store, chaos_options(s)};
    using Chaos = eventcore::testing::ChaosStore<Store>;
    return run_load<Chaos>(chaos, s, [](const Chaos& c) { return c.counts(); });
}

// ---- setup and checks ----

template <class Store>
auto set_up(Store& store, const Settings& s) -> eventcore::Result<void> {
    if (s.scenario != "transfers" && s.scenario != "projection") return {};
    for (int i = 0; i < s.accounts; ++i) {
        auto opened = eventcore::append_to_stream(store, account(s, i), eventcore::ExpectedVersion::no_stream(),
                                                  {AccountOpened{s.opening_balance}});
        if (!opened) return eventcore::fail(std::move(opened).error());
    }
    return {};
}

struct Check {
    std::string name;
    bool passed;
    std::string detail;
};

struct BalanceProjector {
    std::map<std::string, std::int64_t> balances;
    std::uint64_t applied = 0;
    void apply(const RecordedEvent<StressEvent>& e) {
        balances[std::string(e.stream.view())] += delta(e.payload);
        ++applied;
    }
};

template <class Store>
auto check(Store& store, const Settings& s, const Stats& stats) -> std::vector<Check> {
    std::vector<Check> checks;
    checks.push_back({"every command committed or failed with an expected error", stats.unexpected == 0,
                      fmt::format("{} unexpected errors", stats.unexpected)});

    // The whole log: positions 1, 2, 3... up to the head; on PostgreSQL, strictly increasing up
    // to the head, with a gap only where a commit failed after taking its positions.
    const bool gaps_allowed = s.backend == "postgres";
    std::uint64_t expected_position = 0;
    std::uint64_t events_read = 0;
    std::uint64_t unused = 0;
    bool gap_free = true;
    std::string gap;
    std::map<std::string, std::uint64_t> versions;
    bool contiguous = true;
    std::string broken;
    std::map<eventcore::Uuid, std::size_t> by_command;
    std::map<std::string, std::int64_t> folded;
    std::uint64_t run_events = 0;
    const std::string prefix = s.run_id + "-";
    auto page = eventcore::visit_log(store, {}, [&](const RecordedEvent<StressEvent>& e) {
        ++events_read;
        const bool in_order = gaps_allowed ? e.position.value() > expected_position
                                           : e.position.value() == expected_position + 1;
        if (!in_order && gap_free) {
            gap_free = false;
            gap = fmt::format("after position {}, found {}", expected_position, e.position.value());
        }
        if (e.position.value() > expected_position) unused += e.position.value() - expected_position - 1;
        expected_position = std::max(expected_position, e.position.value());
        if (!e.stream.view().starts_with(prefix)) return;
        ++run_events;
        auto& v = versions[std::string(e.stream.view())];
        if (e.version.value() != ++v && contiguous) {
            contiguous = false;
            broken = fmt::format("stream {}: expected version {}, found {}", e.stream, v, e.version.value());
        }
        if (!e.metadata.causation_id.is_nil()) ++by_command[e.metadata.causation_id];
        folded[std::string(e.stream.view())] += delta(e.payload);
    });
    if (!page) {
        checks.push_back({"the log can be read", false, fmt::format("{}", page.error())});
        return checks;
    }
    const auto head = store.head();
    if (head && head->value() != expected_position && gap_free) {
        gap_free = false;
        gap = fmt::format("head {} but the last event read is at {}", head->value(), expected_position);
    }
    if (gaps_allowed) {
        checks.push_back({"global order strictly increasing to the head", gap_free,
                          gap_free ? fmt::format("{} events, positions 1..{} ({} unused)", events_read,
                                                 expected_position, unused)
                                   : gap});
    } else {
        checks.push_back({"global order gap-free", gap_free,
                          gap_free ? fmt::format("positions 1..{}", expected_position) : gap});
    }
    // Each stream's version, as the store reports it, is its last event's.
    for (const auto& [stream, v] : versions) {
        auto reported = eventcore::stream_version(store, StreamId(stream));
        if (contiguous && (!reported || reported->value() != v)) {
            contiguous = false;
            broken = fmt::format("stream {}: {} events but version {}", stream, v,
                                 reported ? reported->value() : 0);
        }
    }
    checks.push_back({"versions contiguous", contiguous,
                      contiguous ? fmt::format("{} streams", versions.size()) : broken});

    // No lost or duplicated event: every command that landed has all its events, once; at least
    // every command reported committed landed, and at most those plus the ones reported in doubt.
    const auto per = events_per_command(s);
    std::size_t torn = 0;
    for (const auto& [command, n] : by_command) torn += n == per ? 0 : 1;
    const auto landed = by_command.size();
    const auto doubted = stats.errors.contains("in_doubt") ? stats.errors.at("in_doubt") : 0;
    const bool whole = torn == 0 && landed >= stats.committed && landed <= stats.committed + doubted;
    checks.push_back({"no lost or duplicated event", whole,
                      fmt::format("{} commands landed ({} reported committed, {} in doubt), {} with a wrong event count",
                                  landed, stats.committed, doubted, torn)});
    // Nothing reported as not written landed: a caller retrying it under a new id would apply it twice.
    std::size_t lied = 0;
    for (const auto& id : stats.said_unwritten) lied += by_command.contains(id) ? 1U : 0U;
    checks.push_back({"nothing reported failed landed", lied == 0,
                      fmt::format("{} of {} commands reported failed or rejected landed", lied,
                                  stats.said_unwritten.size())});

    if (s.scenario == "transfers" || s.scenario == "projection") {
        std::int64_t total = 0;
        for (int i = 0; i < s.accounts; ++i) total += folded[std::string(account(s, i).view())];
        const auto expected = s.opening_balance * s.accounts;
        checks.push_back({"money conserved", total == expected, fmt::format("{} of {}", total, expected)});
    }
    if (s.scenario == "contention") {
        const auto v = versions[std::string(counter(s).view())];
        checks.push_back({"the shared stream counts every landed command", v == landed,
                          fmt::format("version {}, {} commands", v, landed)});
    }
    if (s.scenario == "projection") {
        BalanceProjector projector;
        eventcore::ProjectionRunner runner{store, projector,
                                           {.name = s.run_id + "-balances", .stream_prefix = s.run_id + "-account-"}};
        auto caught_up = runner.catch_up();
        bool equal = caught_up.has_value() && projector.applied == run_events;
        for (const auto& [stream, balance] : folded) equal = equal && projector.balances[stream] == balance;
        checks.push_back({"projection equals fold", equal,
                          caught_up ? fmt::format("{} events projected, {} in the log", projector.applied, run_events)
                                    : fmt::format("{}", caught_up.error())});
    }
    return checks;
}

// ---- processes ----

auto self_path() -> std::string { return std::filesystem::read_symlink("/proc/self/exe").string(); }

/// Spawns the workers (this program with `--worker`), waits for all of them, and merges their
/// numbers.
auto run_workers(const Settings& s) -> std::optional<Stats> {
    std::vector<std::thread> waiting;
    std::vector<std::pair<int, std::string>> results(static_cast<std::size_t>(s.processes));
    for (int p = 0; p < s.processes; ++p) {
        std::vector<std::string> argv{self_path(), s.scenario, "--backend", s.backend, "--threads",
                                      std::to_string(s.threads), "--duration", fmt::format("{}", s.duration),
                                      "--chaos", fmt::format("{}", s.chaos), "--seed", std::to_string(s.seed),
                                      "--accounts", std::to_string(s.accounts), "--worker", std::to_string(p),
                                      "--run-id", s.run_id};
        if (s.backend == "sqlite") argv.insert(argv.end(), {"--path", s.path});
        // The connection string may hold a password: the environment, which only this user can
        // read, hands it over; a command line would show it to everyone (`ps`).
        std::vector<std::string> env;
        if (s.backend == "postgres") {
            argv.insert(argv.end(), {"--schema", s.schema});
            env.push_back(fmt::format("{}={}", conninfo_variable, s.conninfo));
        }
        waiting.emplace_back([&results, p, argv, env] {
            results[static_cast<std::size_t>(p)] = eventcore::detail::Child(argv, env).finish();
        });
    }
    for (auto& t : waiting) t.join();
    Stats total;
    for (std::size_t p = 0; p < results.size(); ++p) {
        if (results[p].first != 0) {
            fmt::print(stderr, "eventcore-stress: worker {} exited with {}\n", p, results[p].first);
            return std::nullopt;
        }
        total.merge(Stats::parse(results[p].second));
    }
    return total;
}

// ---- the report ----

auto ms(double us) -> std::string { return us < 1000 ? fmt::format("{:.0f} us", us) : fmt::format("{:.2f} ms", us / 1000); }

auto report(const Settings& s, const Stats& stats, const std::vector<Check>& checks) -> int {
    std::string where = s.backend;
    if (s.backend == "sqlite") where += fmt::format(" ({})", s.path);
    fmt::print("eventcore-stress {}: {} backend, {} process{} x {} threads, {:.1f} s{}\n", s.scenario, where,
               s.processes, s.processes == 1 ? "" : "es", s.threads, stats.seconds,
               s.chaos > 0 ? fmt::format(", chaos {}", s.chaos) : "");
    fmt::print("  commands    {} ({} committed, {} rejected by rules, {} failed)\n", stats.commands, stats.committed,
               stats.rejected, stats.failed());
    fmt::print("  throughput  {:.0f} commands/s\n", stats.seconds > 0 ? static_cast<double>(stats.commands) / stats.seconds : 0);
    fmt::print("  latency     p50 {}  p95 {}  p99 {}  max {}\n", ms(stats.latency.percentile(0.5)),
               ms(stats.latency.percentile(0.95)), ms(stats.latency.percentile(0.99)), ms(stats.latency.max()));
    fmt::print("  retries     {:.3f} per command ({} attempts)\n",
               stats.commands > 0 ? static_cast<double>(stats.attempts - stats.commands) / static_cast<double>(stats.commands) : 0,
               stats.attempts);
    std::string errors;
    for (const auto& [k, n] : stats.errors) errors += fmt::format("{}{}: {}", errors.empty() ? "" : ", ", k, n);
    fmt::print("  errors      {}\n", errors.empty() ? "none" : errors);
    if (s.chaos > 0) {
        const auto& f = stats.faults;
        fmt::print("  faults      {} injected ({} conflicts, {} transient, {} unavailable, {} in doubt), {} delays, "
                   "over {} reads and {} appends\n",
                   f.faults(), f.conflicts, f.transient, f.unavailable, f.in_doubt, f.delays, f.reads, f.appends);
    }
    bool all = true;
    fmt::print("  invariants\n");
    for (const auto& c : checks) {
        fmt::print("    {}  {} ({})\n", c.passed ? "PASS" : "FAIL", c.name, c.detail);
        all = all && c.passed;
    }
    fmt::print("RESULT {}\n", all ? "PASS" : "FAIL");
    return all ? 0 : exit_fail;
}

template <class Store>
auto run_with(Store& store, Settings& s) -> int {
    if (s.worker >= 0) {
        const auto stats = load(store, s);
        fmt::print("{}", stats.serialize());
        return 0;
    }
    if (auto ready = set_up(store, s); !ready) {
        fmt::print(stderr, "eventcore-stress: setting up failed: {}\n", ready.error());
        return exit_usage;
    }
    Stats stats;
    if (s.processes > 1) {
        auto merged = run_workers(s);
        if (!merged) return exit_fail;
        stats = std::move(*merged);
    } else {
        stats = load(store, s);
    }
    return report(s, stats, check(store, s, stats));
}

template <class Store>
auto opened(eventcore::Result<Store> store) -> Store {
    if (!store) {
        fmt::print(stderr, "eventcore-stress: cannot open the store: {}\n", store.error());
        std::exit(exit_usage);
    }
    return std::move(*store);
}

/// The project's throwaway PostgreSQL script: `EVENTCORE_POSTGRES_SCRIPT`, the installed copy
/// next to this program, or the source tree's.
auto postgres_script() -> std::string {
    if (const char* env = std::getenv("EVENTCORE_POSTGRES_SCRIPT")) return env;
    const auto installed = std::filesystem::path(self_path()).parent_path().parent_path() / "share/eventcore/postgres";
    if (std::filesystem::exists(installed)) return installed.string();
#ifdef EVENTCORE_SOURCE_POSTGRES_SCRIPT
    return EVENTCORE_SOURCE_POSTGRES_SCRIPT;
#else
    return "script/postgres";
#endif
}

/// A PostgreSQL server started for this run, stopped when it ends.
class ThrowawayServer {
public:
    ThrowawayServer() {
        std::string pattern = "/tmp/eventcore-stress-pg-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = pattern;
        const auto [code, out] = eventcore::detail::Child({postgres_script(), "start", dir_}).finish();
        if (code != 0) {
            (void)eventcore::detail::Child({postgres_script(), "stop", dir_}).finish();
            throw std::runtime_error(fmt::format("{} start failed ({})", postgres_script(), code));
        }
        std::ifstream in(dir_ + "/conninfo");
        std::getline(in, conninfo_);
    }
    ThrowawayServer(const ThrowawayServer&) = delete;
    auto operator=(const ThrowawayServer&) -> ThrowawayServer& = delete;
    ~ThrowawayServer() { (void)eventcore::detail::Child({postgres_script(), "stop", dir_}).finish(); }
    [[nodiscard]] auto conninfo() const -> const std::string& { return conninfo_; }

private:
    std::string dir_;
    std::string conninfo_;
};

} // namespace

int main(int argc, char** argv) {
    Settings s;
    CLI::App app{"eventcore-stress: load a store from threads and processes, then check its invariants"};
    app.add_option("scenario", s.scenario,
                   "contention (all threads on one stream), transfers (money between accounts), throughput (a "
                   "stream per thread), projection (transfers, then a projection catches up)")
        ->required()
        ->check(CLI::IsMember({"contention", "transfers", "throughput", "projection"}));
    app.add_option("--backend", s.backend, "memory, sqlite or postgres")
        ->check(CLI::IsMember({"memory", "sqlite", "postgres"}))
        ->capture_default_str();
    app.add_option("--path", s.path, "the SQLite file (created if missing)");
    auto* conninfo_option = app.add_option("--conninfo", s.conninfo,
                   fmt::format("a libpq connection string (also ${}; a password in it shows in `ps`: prefer "
                               "--conninfo-file, the environment, or ~/.pgpass)",
                               conninfo_variable))
        ->envname(conninfo_variable);
    std::string conninfo_file;
    app.add_option("--conninfo-file", conninfo_file, "a file whose first line is the libpq connection string "
                                                     "(as script/postgres writes DIR/conninfo)")
        ->excludes(conninfo_option);
    app.add_option("--schema", s.schema, "the PostgreSQL schema")->capture_default_str();
    app.add_flag("--start-postgres", s.start_postgres, "start a throwaway PostgreSQL server for the run");
    app.add_option("--threads", s.threads, "threads per process")->check(CLI::Range(1, 1024))->capture_default_str();
    app.add_option("--duration", s.duration, "seconds of load")->check(CLI::Range(0.0, 86400.0))->capture_default_str();
    app.add_option("--processes", s.processes, "processes sharing the store (sqlite, postgres)")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    app.add_option("--chaos", s.chaos, "fault rate per store call through a ChaosStore, 0 to 1")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    app.add_option("--seed", s.seed, "seed of the workload and the faults")->capture_default_str();
    app.add_option("--accounts", s.accounts, "accounts for transfers")->check(CLI::Range(2, 1000000))->capture_default_str();
    app.add_option("--worker", s.worker, "(internal) run as worker N of a multi-process run")->group("");
    app.add_option("--run-id", s.run_id, "(internal) the run's stream prefix")->group("");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : exit_usage;
    }

    if (!conninfo_file.empty()) {
        std::ifstream in(conninfo_file);
        if (!in) {
            fmt::print(stderr, "eventcore-stress: cannot read --conninfo-file '{}': {}\n", conninfo_file,
                       std::strerror(errno));
            return exit_usage;
        }
        std::getline(in, s.conninfo);
        if (s.conninfo.empty()) {
            fmt::print(stderr, "eventcore-stress: --conninfo-file '{}' holds no connection string\n", conninfo_file);
            return exit_usage;
        }
    }
    if (s.processes > 1 && s.backend == "memory") {
        fmt::print(stderr, "eventcore-stress: --processes needs a shared store: --backend sqlite or postgres\n");
        return exit_usage;
    }
    if (s.run_id.empty()) s.run_id = "stress-" + fmt::format("{}", eventcore::Uuid::v7()).substr(24);
    try {
        if (s.backend == "memory") {
            eventcore::InMemoryEventStore<StressEvent> store;
            return run_with(store, s);
        }
        if (s.backend == "sqlite") {
            if (s.path.empty()) {
                fmt::print(stderr, "eventcore-stress: --backend sqlite needs --path FILE\n");
                return exit_usage;
            }
            auto store = opened(eventcore::SqliteEventStore<StressEvent>::open(
                s.path, {.busy_timeout = std::chrono::milliseconds{30000},
                         .max_connections = static_cast<std::size_t>(s.threads) + 1}));
            return run_with(store, s);
        }
        std::optional<ThrowawayServer> server;
        if (s.start_postgres) {
            server.emplace();
            s.conninfo = server->conninfo();
        }
        if (s.conninfo.empty()) {
            fmt::print(stderr, "eventcore-stress: --backend postgres needs --conninfo or --start-postgres\n");
            return exit_usage;
        }
        auto store = opened(eventcore::PostgresEventStore<StressEvent>::open(
            s.conninfo, {.schema = s.schema, .pool_size = static_cast<std::size_t>(s.threads) + 1}));
        return run_with(store, s);
    } catch (const std::exception& e) {
        fmt::print(stderr, "eventcore-stress: {}\n", e.what());
        return exit_usage;
    }
}
