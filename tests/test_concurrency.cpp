#include "support/bank.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

using namespace bank;
using eventcore::CommandExecutor;
using eventcore::ErrorKind;
using eventcore::GlobalPosition;
using eventcore::RetryPolicy;
using eventcore::StreamVersion;

namespace {

/// Writes one event to each of two streams in one commit, so they always move together.
struct TouchBoth {
    StreamId a;
    StreamId b;
    using Event = BankEvent;
    using State = int;
    static constexpr auto streams = eventcore::streams(&TouchBoth::a, &TouchBoth::b);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<TouchBoth>& ctx) const {
        ctx.write<&TouchBoth::a>(MoneyDeposited{1});
        ctx.write<&TouchBoth::b>(MoneyDeposited{1});
    }
};

/// Reads both streams and counts what it saw of each; a torn snapshot shows different counts.
struct Observe {
    StreamId a;
    StreamId b;
    std::atomic<long>* torn;
    struct State {
        long in_a = 0;
        long in_b = 0;
    };
    using Event = BankEvent;
    static constexpr auto streams = eventcore::streams(&Observe::a, &Observe::b);
    void apply(State& s, const RecordedEvent<Event>& e) const { (e.stream == a ? s.in_a : s.in_b) += 1; }
    void handle(const State& s, Context<Observe>& ctx) const {
        if (s.in_a != s.in_b || ctx.version(a).value() != static_cast<std::uint64_t>(s.in_a) ||
            ctx.version(b).value() != static_cast<std::uint64_t>(s.in_b))
            ++*torn;
    }
};

} // namespace

TEST_CASE("a handler never sees half of another command's commit", "[concurrency]") {
    Store store;
    // Both writers contend on the same pair: give them room to retry; conflicts are not the point.
    CommandExecutor executor{store, {.retry = RetryPolicy{.max_attempts = 1000,
                                                          .initial_delay = std::chrono::microseconds{10},
                                                          .max_delay = std::chrono::microseconds{500}}}};
    const auto a = id("pair-a");
    const auto b = id("pair-b");
    std::atomic<bool> done{false};
    std::atomic<long> torn{0};
    std::atomic<long> observed{0};
    std::atomic<long> failures{0}; // Catch2 assertions are not thread-safe: count, check after

    std::vector<std::thread> writers;
    for (int w = 0; w < 2; ++w) {
        writers.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) {
                if (!executor.execute(TouchBoth{a, b})) ++failures;
            }
        });
    }
    std::thread reader([&] {
        while (!done) {
            if (!executor.execute(Observe{a, b, &torn})) ++failures;
            ++observed;
        }
    });
    for (auto& w : writers) w.join();
    done = true;
    reader.join();

    CHECK(failures == 0);
    CHECK(torn == 0);
    CHECK(observed > 0);
    CHECK(eventcore::load_stream(store, a)->size() == 4000);
    CHECK(eventcore::load_stream(store, b)->size() == 4000);
}

TEST_CASE("many threads on a few hot accounts: invariants hold", "[concurrency][stress]") {
    constexpr int accounts = 4;
    constexpr int threads = 8;
    constexpr int transfers_per_thread = 400;
    constexpr std::int64_t initial = 1000;

    Store store;
    CommandExecutor executor{store, {.retry = RetryPolicy{.max_attempts = 100,
                                                          .initial_delay = std::chrono::microseconds{20},
                                                          .max_delay = std::chrono::microseconds{2000}}}};
    std::vector<StreamId> ids;
    for (int i = 0; i < accounts; ++i) {
        ids.push_back(id(fmt::format("hot-{}", i)));
        REQUIRE(executor.execute(OpenAccount{ids.back(), initial}));
    }

    std::atomic<long> committed{0};
    std::atomic<long> rejected{0};
    std::atomic<long> exhausted{0};
    std::atomic<long> unexpected{0};
    std::atomic<long> retried{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t));
            std::uniform_int_distribution<int> pick(0, accounts - 1);
            std::uniform_int_distribution<std::int64_t> amount(1, 400);
            for (int i = 0; i < transfers_per_thread; ++i) {
                const int from = pick(rng);
                int to = pick(rng);
                if (to == from) to = (to + 1) % accounts;
                auto r = executor.execute(TransferMoney{ids[static_cast<std::size_t>(from)],
                                                        ids[static_cast<std::size_t>(to)], amount(rng)});
                if (r) {
                    ++committed;
                    if (r->attempts > 1) ++retried;
                } else if (r.error().is(ErrorKind::business_rule)) {
                    ++rejected;
                } else if (r.error().is(ErrorKind::concurrency_exhausted)) {
                    ++exhausted;
                } else {
                    ++unexpected;
                }
            }
        });
    }
    for (auto& w : workers) w.join();

    INFO("committed " << committed << ", rejected " << rejected << ", exhausted " << exhausted << ", retried "
                      << retried);
    CHECK(unexpected == 0);
    CHECK(committed + rejected + exhausted == threads * transfers_per_thread);
    CHECK(committed > 0);

    // Money is conserved and no balance went negative.
    std::int64_t total = 0;
    for (const auto& account : ids) {
        const auto b = balance(store, account);
        CHECK(b >= 0);
        total += b;
    }
    CHECK(total == accounts * initial);

    // The global log is gap-free, each commit's events are contiguous, no event id repeats,
    // and every stream's versions run 1, 2, 3, ... in log order.
    const auto log = eventcore::load_log(store).value();
    CHECK(log.size() == static_cast<std::size_t>(accounts + 2 * committed));
    std::map<StreamId, std::uint64_t> last_version;
    std::set<eventcore::Uuid> event_ids;
    std::set<eventcore::Uuid> finished_commits;
    for (std::size_t i = 0; i < log.size(); ++i) {
        const auto& e = log[i];
        REQUIRE(e.position == GlobalPosition{i + 1});
        REQUIRE(e.version.value() == ++last_version[e.stream]);
        REQUIRE(event_ids.insert(e.metadata.event_id).second);
        const bool continues = i > 0 && log[i - 1].metadata.causation_id == e.metadata.causation_id;
        if (!continues) REQUIRE(finished_commits.insert(e.metadata.causation_id).second);
    }
    for (const auto& account : ids) CHECK(last_version[account] == eventcore::load_stream(store, account)->size());
}
