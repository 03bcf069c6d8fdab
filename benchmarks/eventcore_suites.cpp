// Google Benchmark suites for the hot paths one at a time (script/bench runs them; the
// stream-count table with percentiles comes from bench_stream_latency):
//
//   Execute/<store>/<streams>      a command over k streams, and the hand-written baseline of the
//   Baseline/<store>/<streams>     same work, each store (PostgreSQL when EVENTCORE_PG is set)
//   Fold/<store>/<events>          read and fold one stream of 10, 100, 1000 events
//   Codec/encode, Codec/decode     the JSON codec, per event
//   Contention/<streams>/threads:k k threads on m hot streams: commands/s and retries per command
//   MemoryPerEvent                 heap bytes per stored event in the in-memory store at 1M events
//
//   bench_eventcore [--benchmark_filter=REGEX] [--benchmark_format=json] ...

#include "baselines.hpp"

#include <eventcore/detail/random.hpp>
#include <eventcore/eventcore.hpp>
#include <eventcore/postgres_event_store.hpp>
#include <eventcore/sqlite_event_store.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace bench {
namespace {

using eventcore::Context;
using eventcore::RecordedEvent;
using eventcore::StreamId;

using Touch = TouchStreams;

/// Reads and folds one stream, writes nothing: what a command pays for its history.
struct FoldOnly {
    StreamId id;

    using Event = TouchEvent;
    using State = std::int64_t;
    static constexpr auto streams = eventcore::streams(&FoldOnly::id);

    void apply(State& sum, const RecordedEvent<Event>& e) const { sum += std::get<Touched>(e.payload).round; }
    void handle(const State& sum, Context<FoldOnly>&) const { benchmark::DoNotOptimize(sum); }
};

auto temp_dir() -> std::filesystem::path {
    auto dir = std::filesystem::temp_directory_path() / fmt::format("eventcore-suites-{}", eventcore::Uuid::v7());
    std::filesystem::create_directories(dir);
    return dir;
}

auto postgres_conninfo() -> std::string {
    const char* pg = std::getenv("EVENTCORE_PG");
    return pg != nullptr ? pg : "";
}

auto sync_of(std::int64_t code) -> eventcore::sqlite::Synchronous {
    return code == 0 ? eventcore::sqlite::Synchronous::off
           : code == 1 ? eventcore::sqlite::Synchronous::normal
                       : eventcore::sqlite::Synchronous::full;
}

/// Stream names: ten commands per set of k streams, as in bench_stream_latency.
auto names(std::string_view who, std::int64_t k, std::int64_t set) -> std::vector<std::string> {
    std::vector<std::string> out;
    for (std::int64_t s = 0; s < k; ++s) out.push_back(fmt::format("{}-set{}-s{}", who, set, s));
    return out;
}

auto ids(const std::vector<std::string>& names) -> std::vector<StreamId> { return {names.begin(), names.end()}; }

template <class Store>
void run_execute(benchmark::State& state, Store& store) {
    eventcore::CommandExecutor executor{store};
    const auto k = state.range(0);
    const auto who = fmt::format("lib-{}", eventcore::Uuid::v7());
    std::int64_t i = 0;
    Touch cmd{ids(names(who, k, 0)), 0};
    for (auto _ : state) {
        if (i % 10 == 0) {
            state.PauseTiming();
            cmd = Touch{ids(names(who, k, i / 10)), i};
            state.ResumeTiming();
        }
        if (auto r = executor.execute(cmd); !r) {
            state.SkipWithError(fmt::format("{}", r.error()).c_str());
            break;
        }
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
}

void run_baseline(benchmark::State& state, Baseline& baseline) {
    const auto k = state.range(0);
    const auto who = fmt::format("base-{}", eventcore::Uuid::v7());
    std::int64_t i = 0;
    auto streams = names(who, k, 0);
    for (auto _ : state) {
        if (i % 10 == 0) {
            state.PauseTiming();
            streams = names(who, k, i / 10);
            state.ResumeTiming();
        }
        if (auto r = baseline.touch(streams, i); !r) {
            state.SkipWithError(fmt::format("{}", r.error()).c_str());
            break;
        }
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_Execute_Memory(benchmark::State& state) {
    eventcore::InMemoryEventStore<TouchEvent> store;
    run_execute(state, store);
}
void BM_Baseline_Memory(benchmark::State& state) {
    MemoryBaseline baseline;
    run_baseline(state, baseline);
}

// range(0): streams; range(1): synchronous (0 off, 1 normal, 2 full).
void BM_Execute_Sqlite(benchmark::State& state) {
    const auto dir = temp_dir();
    {
        auto store = eventcore::SqliteEventStore<TouchEvent>::open((dir / "lib.db").string(),
                                                                   {.synchronous = sync_of(state.range(1))})
                         .value();
        run_execute(state, store);
    }
    std::filesystem::remove_all(dir);
}
void BM_Baseline_Sqlite(benchmark::State& state) {
    const auto dir = temp_dir();
    {
        SqliteBaseline baseline((dir / "base.db").string(), sync_of(state.range(1)));
        run_baseline(state, baseline);
    }
    std::filesystem::remove_all(dir);
}

void BM_Execute_Postgres(benchmark::State& state) {
    const auto conninfo = postgres_conninfo();
    if (conninfo.empty()) {
        state.SkipWithError("set EVENTCORE_PG to a connection string");
        for (auto _ : state) {
        }
        return;
    }
    const auto schema = fmt::format("suite_{:x}", eventcore::detail::random_u64() & 0xFFFFFFFFFFFF);
    {
        auto store = eventcore::PostgresEventStore<TouchEvent>::open(conninfo, {.schema = schema}).value();
        run_execute(state, store);
    }
    drop_schema(conninfo, schema);
}
void BM_Baseline_Postgres(benchmark::State& state) {
    const auto conninfo = postgres_conninfo();
    if (conninfo.empty()) {
        state.SkipWithError("set EVENTCORE_PG to a connection string");
        for (auto _ : state) {
        }
        return;
    }
    const auto schema = fmt::format("suite_{:x}_base", eventcore::detail::random_u64() & 0xFFFFFFFFFFFF);
    {
        PostgresBaseline baseline(conninfo, schema, 1);
        run_baseline(state, baseline);
    }
    drop_schema(conninfo, schema);
}

BENCHMARK(BM_Execute_Memory)->Name("Execute/memory")->Arg(1)->Arg(5)->Arg(10)->Arg(50);
BENCHMARK(BM_Baseline_Memory)->Name("Baseline/memory")->Arg(1)->Arg(5)->Arg(10)->Arg(50);
BENCHMARK(BM_Execute_Sqlite)->Name("Execute/sqlite")->ArgsProduct({{1, 5, 10, 50}, {0, 1, 2}})->UseRealTime();
BENCHMARK(BM_Baseline_Sqlite)->Name("Baseline/sqlite")->ArgsProduct({{1, 5, 10, 50}, {0, 1, 2}})->UseRealTime();
BENCHMARK(BM_Execute_Postgres)->Name("Execute/postgres")->Arg(1)->Arg(5)->Arg(10)->Arg(50)->UseRealTime();
BENCHMARK(BM_Baseline_Postgres)->Name("Baseline/postgres")->Arg(1)->Arg(5)->Arg(10)->Arg(50)->UseRealTime();

/// Fold cost: one stream of range(0) events, read and folded per iteration.
template <class Store>
void run_fold(benchmark::State& state, Store& store) {
    const auto n = state.range(0);
    const auto stream = StreamId(fmt::format("fold-{}", eventcore::Uuid::v7()));
    std::vector<TouchEvent> events;
    for (std::int64_t i = 0; i < n; ++i) events.emplace_back(Touched{i});
    if (auto r = eventcore::append_to_stream(store, stream, eventcore::ExpectedVersion::no_stream(), std::move(events)); !r) {
        state.SkipWithError(fmt::format("{}", r.error()).c_str());
        return;
    }
    eventcore::CommandExecutor executor{store};
    for (auto _ : state) {
        if (auto r = executor.execute(FoldOnly{stream}); !r) {
            state.SkipWithError(fmt::format("{}", r.error()).c_str());
            break;
        }
    }
    state.SetItemsProcessed(state.iterations() * n); // items_per_second: events folded per second
}

void BM_Fold_Memory(benchmark::State& state) {
    eventcore::InMemoryEventStore<TouchEvent> store;
    run_fold(state, store);
}
void BM_Fold_Sqlite(benchmark::State& state) {
    const auto dir = temp_dir();
    {
        auto store = eventcore::SqliteEventStore<TouchEvent>::open((dir / "fold.db").string(),
                                                                   {.synchronous = eventcore::sqlite::Synchronous::off})
                         .value();
        run_fold(state, store);
    }
    std::filesystem::remove_all(dir);
}
void BM_Fold_Postgres(benchmark::State& state) {
    const auto conninfo = postgres_conninfo();
    if (conninfo.empty()) {
        state.SkipWithError("set EVENTCORE_PG to a connection string");
        for (auto _ : state) {
        }
        return;
    }
    const auto schema = fmt::format("fold_{:x}", eventcore::detail::random_u64() & 0xFFFFFFFFFFFF);
    {
        auto store = eventcore::PostgresEventStore<TouchEvent>::open(conninfo, {.schema = schema}).value();
        run_fold(state, store);
    }
    drop_schema(conninfo, schema);
}
BENCHMARK(BM_Fold_Memory)->Name("Fold/memory")->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_Fold_Sqlite)->Name("Fold/sqlite")->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_Fold_Postgres)->Name("Fold/postgres")->Arg(10)->Arg(100)->Arg(1000)->UseRealTime();

/// An event with a few fields of the usual kinds, for the codec.
struct OrderPlaced {
    std::string order_id;
    std::string customer;
    std::int64_t amount_cents;
    double discount;
    std::vector<std::string> items;
    std::optional<std::string> note;
};
EVENTCORE_EVENT(OrderPlaced, order_id, customer, amount_cents, discount, items, note)
struct OrderShipped {
    std::string order_id;
};
EVENTCORE_EVENT(OrderShipped, order_id)
using OrderEvent = std::variant<OrderPlaced, OrderShipped>;

auto sample_order() -> OrderEvent {
    return OrderPlaced{"order-000123", "customer-42", 129900, 0.15, {"sku-1", "sku-22", "sku-333"}, std::nullopt};
}

void BM_Codec_Encode(benchmark::State& state) {
    const eventcore::JsonCodec<OrderEvent> codec;
    const auto event = sample_order();
    for (auto _ : state) {
        auto encoded = codec.encode(event);
        benchmark::DoNotOptimize(encoded);
    }
    state.SetItemsProcessed(state.iterations());
}
void BM_Codec_Decode(benchmark::State& state) {
    const eventcore::JsonCodec<OrderEvent> codec;
    const auto encoded = codec.encode(sample_order()).value();
    for (auto _ : state) {
        auto decoded = codec.decode(encoded.type, encoded.payload);
        benchmark::DoNotOptimize(decoded);
    }
    state.SetItemsProcessed(state.iterations());
}
void BM_Codec_DecodeSmall(benchmark::State& state) {
    const eventcore::JsonCodec<TouchEvent> codec;
    const auto encoded = codec.encode(TouchEvent{Touched{42}}).value();
    for (auto _ : state) {
        auto decoded = codec.decode(encoded.type, encoded.payload);
        benchmark::DoNotOptimize(decoded);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Codec_Encode)->Name("Codec/encode");
BENCHMARK(BM_Codec_Decode)->Name("Codec/decode");
BENCHMARK(BM_Codec_DecodeSmall)->Name("Codec/decode_small");

/// Contention: threads run two-stream commands on random pairs of range(0) hot streams of a
/// shared in-memory store; retries per command is the conflict rate, and commands that gave up
/// after 1000 attempts (concurrency_exhausted) are counted, not fatal.
struct ContentionObserver final : eventcore::ExecutorObserver {
    std::atomic<std::uint64_t> retries{0};
    void on_retry(const eventcore::RetryInfo&) override { retries.fetch_add(1, std::memory_order_relaxed); }
};

struct Pair {
    StreamId a;
    StreamId b;
    std::int64_t round;

    using Event = TouchEvent;
    using State = std::int64_t;
    static constexpr auto streams = eventcore::streams(&Pair::a, &Pair::b);

    void apply(State& sum, const RecordedEvent<Event>& e) const { sum += std::get<Touched>(e.payload).round; }
    void handle(const State&, Context<Pair>& ctx) const {
        ctx.write<&Pair::a>(Touched{round});
        ctx.write<&Pair::b>(Touched{round});
    }
};

std::unique_ptr<eventcore::InMemoryEventStore<TouchEvent>> contention_store;
std::shared_ptr<ContentionObserver> contention_observer;
std::atomic<std::uint64_t> contention_exhausted{0};

void BM_Contention(benchmark::State& state) {
    if (state.thread_index() == 0) {
        contention_store = std::make_unique<eventcore::InMemoryEventStore<TouchEvent>>();
        contention_observer = std::make_shared<ContentionObserver>();
    }
    // Google Benchmark starts every thread's loop together, after the setup above.
    const auto m = static_cast<std::uint64_t>(state.range(0));
    std::vector<StreamId> hot;
    for (std::uint64_t s = 0; s < m; ++s) hot.emplace_back(fmt::format("hot-{}", s));
    std::uint64_t commands = 0;
    for (auto _ : state) {
        eventcore::CommandExecutor executor{*contention_store,
                                            {.retry = {.max_attempts = 1000,
                                                       .initial_delay = std::chrono::microseconds{1},
                                                       .max_delay = std::chrono::microseconds{200}},
                                             .observer = contention_observer}};
        const auto x = eventcore::detail::random_u64() % m;
        auto y = eventcore::detail::random_u64() % m;
        if (y == x) y = (y + 1) % m;
        if (auto r = executor.execute(Pair{hot[x], hot[y], 1}); r) {
            ++commands;
        } else if (r.error().is(eventcore::ErrorKind::concurrency_exhausted)) {
            contention_exhausted.fetch_add(1, std::memory_order_relaxed); // part of what is measured
        } else {
            state.SkipWithError(fmt::format("{}", r.error()).c_str());
            break;
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(commands));
    if (state.thread_index() == 0) {
        const auto attempted = static_cast<double>(state.iterations()) * static_cast<double>(state.threads());
        state.counters["retries_per_command"] =
            benchmark::Counter(static_cast<double>(contention_observer->retries.load()) / attempted);
        state.counters["exhausted_per_command"] =
            benchmark::Counter(static_cast<double>(contention_exhausted.exchange(0)) / attempted);
    }
}
// A fixed number of commands per thread: hot streams grow with every command, and each command
// folds all of their history, so runs of different lengths would measure different folds.
BENCHMARK(BM_Contention)->Name("Contention")->Arg(2)->Arg(4)->Arg(16)->ThreadRange(1, 4)->Iterations(2000)->UseRealTime();

/// Heap bytes per stored event, one million of them: 100,000 streams of ten, written ten
/// events per commit, as a command would.
void BM_MemoryPerEvent(benchmark::State& state) {
    constexpr std::size_t events = 1'000'000;
    for (auto _ : state) {
        const auto before = mallinfo2().uordblks;
        auto store = std::make_unique<eventcore::InMemoryEventStore<TouchEvent>>();
        eventcore::CommandExecutor executor{*store};
        for (std::size_t c = 0; c < events / 10; ++c) {
            std::vector<StreamId> streams;
            for (std::size_t s = 0; s < 10; ++s) streams.emplace_back(fmt::format("account-{:07}", (c % 10'000) * 10 + s));
            (void)executor.execute(Touch{std::move(streams), static_cast<std::int64_t>(c)});
        }
        const auto after = mallinfo2().uordblks;
        state.counters["bytes_per_event"] =
            (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(events);
        state.counters["events"] = static_cast<double>(events);
    }
}
BENCHMARK(BM_MemoryPerEvent)->Name("MemoryPerEvent")->Iterations(1)->Unit(benchmark::kMillisecond);

} // namespace
} // namespace bench

BENCHMARK_MAIN();
