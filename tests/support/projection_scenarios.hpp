#pragma once
// Subscription and projection scenarios, run against every store.

#include "bank_projection.hpp"
#include "process.hpp"

#include <eventcore/subscription.hpp>

#include "catch_result.hpp"

#include <atomic>
#include <random>
#include <set>
#include <stop_token>
#include <thread>
#include <vector>

namespace testing_support {

using bank::BankEvent;
using eventcore::ExpectedVersion;
using eventcore::GlobalPosition;
using eventcore::StreamId;

template <class Store>
void open_bank(Store& store, int accounts, std::int64_t initial) {
    eventcore::CommandExecutor executor{store};
    for (int a = 0; a < accounts; ++a)
        REQUIRE(executor.execute(bank::OpenAccount{bank::id(fmt::format("account-{}", a)), initial}));
}

/// Runs random transfers on `threads` threads; returns how many failed for other reasons than a
/// business rule.
template <class Store>
auto run_transfers(Store& store, int accounts, int threads, int per_thread) -> int {
    eventcore::CommandExecutor executor{store, {.retry = eventcore::RetryPolicy{.max_attempts = 200,
                                                                                .initial_delay = std::chrono::microseconds{50},
                                                                                .max_delay = std::chrono::milliseconds{2}}}};
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t) + 11);
            std::uniform_int_distribution<int> pick(0, accounts - 1);
            for (int i = 0; i < per_thread; ++i) {
                const int from = pick(rng);
                const int to = (from + 1 + pick(rng) % (accounts - 1)) % accounts;
                auto r = executor.execute(bank::TransferMoney{bank::id(fmt::format("account-{}", from)),
                                                              bank::id(fmt::format("account-{}", to)), 7});
                if (!r && !r.error().is(eventcore::ErrorKind::business_rule)) ++failures;
            }
        });
    }
    for (auto& w : workers) w.join();
    return failures;
}

/// Catch-up in batches that never split a commit, then live delivery, in order, of everything.
template <class Store>
void subscription_catches_up_then_follows(Store& store) {
    open_bank(store, 4, 100); // 4 commits of one event
    REQUIRE(run_transfers(store, 4, 1, 10) == 0);
    std::vector<eventcore::RecordedEvent<BankEvent>> seen;
    std::vector<std::size_t> batch_sizes;
    bool split = false;
    // How far the follower got: a subscription belongs to the thread that runs it.
    std::atomic<std::uint64_t> reached{0};
    eventcore::Subscription subscription{store, {.batch_size = 3}};
    eventcore::Result<void> ended;
    std::jthread follower([&](std::stop_token stop) {
        ended = subscription.run(stop, [&](auto batch) -> eventcore::Result<void> {
            // A batch ends at the end of a commit: its last event's commit is whole in it.
            const auto& last = batch.back();
            if (std::ranges::count(batch, last.metadata.causation_id,
                                   [](const auto& e) { return e.metadata.causation_id; }) !=
                (std::holds_alternative<bank::AccountOpened>(last.payload) ? 1 : 2))
                split = true;
            batch_sizes.push_back(batch.size());
            seen.insert(seen.end(), batch.begin(), batch.end());
            reached = batch.back().position.value();
            return {};
        });
    });
    // Live: more commits while the follower waits.
    REQUIRE(run_transfers(store, 4, 2, 15) == 0);
    const auto head = store.head().value();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    while (reached.load() < head.value() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    follower.request_stop();
    follower.join(); // run() notices the stop within its check interval
    REQUIRE(ended);

    const auto log = eventcore::load_log(store).value();
    REQUIRE(seen.size() == log.size());
    for (std::size_t i = 0; i < log.size(); ++i) REQUIRE(seen[i].position == log[i].position);
    CHECK_FALSE(split);
    CHECK(std::ranges::all_of(batch_sizes, [](std::size_t n) { return n >= 1 && n <= 4; }));
}

/// A selective subscription moves past any number of events it does not want.
template <class Store>
void selective_subscription_makes_progress(Store& store) {
    for (int i = 0; i < 300; ++i)
        REQUIRE(eventcore::append_to_stream(store, bank::id(fmt::format("noise-{}", i % 7)), ExpectedVersion::any(),
                                            {bank::MoneyDeposited{1}}));
    REQUIRE(eventcore::append_to_stream(store, bank::id("wanted-1"), ExpectedVersion::any(), {bank::MoneyDeposited{5}}));
    eventcore::Subscription subscription{store, {.stream_pattern = eventcore::StreamPattern::parse("wanted-*").value(),
                                                 .batch_size = 10}};
    auto batch = subscription.next();
    REQUIRE(batch);
    REQUIRE(batch->size() == 1);
    CHECK((*batch)[0].stream == bank::id("wanted-1"));
    CHECK(subscription.position() == GlobalPosition{301});
    CHECK(subscription.caught_up());
    auto none = subscription.next(std::chrono::milliseconds{20});
    REQUIRE(none);
    CHECK(none->empty());
}

/// An at-least-once balance projection, fed while transfers run on several threads, equals a
/// fold of the log; stopped half-way and started again, it resumes from its checkpoint.
template <class Store>
void balance_projection_equals_the_fold(Store& store) {
    constexpr int accounts = 5;
    open_bank(store, accounts, 1000);
    bank::BalanceProjector projector;
    eventcore::ProjectionOptions options{.name = "balances", .stream_prefix = "account-", .batch_size = 50};

    {
        eventcore::ProjectionRunner runner{store, projector, options};
        eventcore::Result<eventcore::ProjectionStatus> ran;
        {
            std::jthread projecting([&](std::stop_token stop) { ran = runner.run(stop); });
            REQUIRE(run_transfers(store, accounts, 3, 40) == 0);
        } // the runner stops half-way through the history it will see
        REQUIRE(ran);
    }
    const auto checkpoint = store.load_checkpoint("balances").value();
    REQUIRE(checkpoint.has_value());

    REQUIRE(run_transfers(store, accounts, 3, 40) == 0);
    eventcore::ProjectionRunner again{store, projector, options};
    const auto lag_before = again.status().value().lag();
    CHECK(lag_before > 0);
    auto status = again.catch_up();
    REQUIRE(status);
    CHECK(status->lag() == 0);
    CHECK(status->checkpoint == store.head().value());
    CHECK(projector.snapshot() == bank::folded_balances(store));
    // Resumed: the second run started from the checkpoint, so nothing before it came again.
    for (const auto& [position, count] : projector.applications) {
        INFO("position " << position);
        CHECK(count == 1);
    }
}

/// A poison event under each error policy.
template <class Store>
void poison_events_follow_the_policy(Store& store, eventcore::OnError action) {
    struct Poisoned {
        int failures_left;           // for retry: fail this many times, then succeed
        std::vector<std::uint64_t> applied;
        void apply(const eventcore::RecordedEvent<BankEvent>& e) {
            const auto* d = std::get_if<bank::MoneyDeposited>(&e.payload);
            if (d != nullptr && d->amount == 13 && failures_left-- > 0)
                throw eventcore::Exception(eventcore::Error(eventcore::ErrorKind::projection, "unlucky amount"));
            applied.push_back(e.position.value());
        }
    };
    for (int i = 1; i <= 6; ++i)
        REQUIRE(eventcore::append_to_stream(store, bank::id("p"), ExpectedVersion::any(),
                                            {bank::MoneyDeposited{i == 4 ? 13 : i}}));
    std::vector<eventcore::SkippedEvent> skipped;
    Poisoned projector{action == eventcore::OnError::retry ? 2 : 1'000'000, {}};
    eventcore::ProjectionRunner runner{
        store, projector,
        {.name = "poisoned",
         .on_error = {.action = action, .max_attempts = 3, .initial_delay = std::chrono::milliseconds{1}},
         .on_skip = [&](const eventcore::SkippedEvent& s) { skipped.push_back(s); }}};
    auto outcome = runner.catch_up();
    switch (action) {
    case eventcore::OnError::stop: {
        REQUIRE_FALSE(outcome);
        CHECK(outcome.error().kind() == eventcore::ErrorKind::projection);
        CHECK(outcome.error().stream() == bank::id("p"));
        CHECK(outcome.error().version() == eventcore::StreamVersion{4});
        CHECK_THAT(outcome.error().message(), Catch::Contains("'poisoned'") && Catch::Contains("version 4") &&
                                                  Catch::Contains("position 4") && Catch::Contains("unlucky amount"));
        CHECK(projector.applied == std::vector<std::uint64_t>{1, 2, 3});
        CHECK(store.load_checkpoint("poisoned").value() == GlobalPosition{3});
        break;
    }
    case eventcore::OnError::skip: {
        REQUIRE(outcome);
        CHECK(projector.applied == std::vector<std::uint64_t>{1, 2, 3, 5, 6});
        REQUIRE(skipped.size() == 1);
        CHECK(skipped[0].position == GlobalPosition{4});
        CHECK(skipped[0].error.message() == "unlucky amount");
        REQUIRE(outcome->skipped.size() == 1);
        CHECK(outcome->checkpoint == GlobalPosition{6});
        break;
    }
    case eventcore::OnError::retry: {
        REQUIRE(outcome); // failed twice, then went through on the third attempt
        CHECK(projector.applied == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
        // Fails for good: gives up after max_attempts and stops at the event.
        REQUIRE(eventcore::append_to_stream(store, bank::id("p"), ExpectedVersion::any(), {bank::MoneyDeposited{13}}));
        projector.failures_left = 1'000'000;
        auto exhausted = runner.catch_up();
        REQUIRE_FALSE(exhausted);
        CHECK_THAT(exhausted.error().message(), Catch::Contains("after 3 attempts") && Catch::Contains("position 7"));
        CHECK(store.load_checkpoint("poisoned").value() == GlobalPosition{6});
        break;
    }
    }
}

/// A projector that takes whole batches, and single events when a batch fails.
template <class Store>
void batch_projector(Store& store) {
    struct Batched {
        std::vector<std::size_t> batch_sizes;
        std::vector<std::uint64_t> singles;
        std::int64_t total = 0;
        auto apply_batch(std::span<const eventcore::RecordedEvent<BankEvent>> batch) -> eventcore::Result<void> {
            for (const auto& e : batch) {
                if (std::get<bank::MoneyDeposited>(e.payload).amount == 13)
                    return eventcore::fail(eventcore::ErrorKind::projection, "a 13 in the batch");
            }
            batch_sizes.push_back(batch.size());
            for (const auto& e : batch) total += std::get<bank::MoneyDeposited>(e.payload).amount;
            return {};
        }
        auto apply(const eventcore::RecordedEvent<BankEvent>& e) -> eventcore::Result<void> {
            const auto amount = std::get<bank::MoneyDeposited>(e.payload).amount;
            if (amount == 13) return eventcore::fail(eventcore::ErrorKind::projection, "unlucky amount");
            singles.push_back(e.position.value());
            total += amount;
            return {};
        }
    };
    for (int i = 1; i <= 10; ++i)
        REQUIRE(eventcore::append_to_stream(store, bank::id("b"), ExpectedVersion::any(),
                                            {bank::MoneyDeposited{i == 7 ? 13 : 1}}));
    Batched projector;
    eventcore::ProjectionRunner runner{store, projector,
                                       {.name = "batched", .batch_size = 4, .on_error = {.action = eventcore::OnError::skip}}};
    auto outcome = runner.catch_up();
    REQUIRE(outcome);
    // Batches of 4: [1-4] whole, [5-8] failed and went event by event (7 skipped), [9-10] whole.
    CHECK(projector.batch_sizes == std::vector<std::size_t>{4, 2});
    CHECK(projector.singles == std::vector<std::uint64_t>{5, 6, 8});
    CHECK(projector.total == 9);
    REQUIRE(outcome->skipped.size() == 1);
    CHECK(outcome->skipped[0].position == GlobalPosition{7});
}

/// One active runner per name; lag; a rebuild from zero reports its progress.
template <class Store>
void one_runner_lag_and_rebuild(Store& store) {
    open_bank(store, 3, 10);
    REQUIRE(run_transfers(store, 3, 1, 20) == 0);
    bank::BalanceProjector projector;
    eventcore::ProjectionRunner first{store, projector, {.name = "exclusive"}};
    CHECK(first.status().value().lag() == store.head().value().value());

    {
        auto held = store.lock_projection("exclusive", std::chrono::milliseconds{0});
        REQUIRE(held);
        auto refused = first.catch_up();
        REQUIRE_FALSE(refused);
        CHECK(refused.error().kind() == eventcore::ErrorKind::timeout);
        CHECK_THAT(refused.error().message(), Catch::Contains("'exclusive'") && Catch::Contains("already running"));

        // A runner that waits gets it once the holder lets go.
        eventcore::ProjectionRunner patient{store, projector,
                                            {.name = "exclusive", .wait_for_lock = std::chrono::seconds{30}}};
        std::thread release([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds{50});
            held->reset();
        });
        REQUIRE(patient.catch_up());
        release.join();
    }
    CHECK(first.status().value().lag() == 0);

    std::vector<eventcore::ProjectionProgress> progress;
    eventcore::ProjectionRunner rebuilding{
        store, projector,
        {.name = "exclusive", .batch_size = 7, .on_progress = [&](const auto& p) { progress.push_back(p); }}};
    auto rebuilt = rebuilding.rebuild();
    REQUIRE(rebuilt);
    REQUIRE_FALSE(progress.empty());
    const auto head = store.head().value().value();
    CHECK(progress.back().done == head);
    CHECK(progress.back().total == head);
    CHECK(std::ranges::is_sorted(progress, {}, &eventcore::ProjectionProgress::done));
    CHECK(projector.snapshot() == bank::folded_balances(store));
    for (const auto& [position, count] : projector.applications) CHECK(count == 1); // reset, then applied once
}

/// An exactly-once projection: the read model lives in the store's database and moves in the
/// checkpoint's transaction.
template <class Store>
void exactly_once_projection(Store& store, const bank::SqlBalanceProjector& projector) {
    constexpr int accounts = 4;
    REQUIRE(store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        projector.create(sql);
        return {};
    }));
    open_bank(store, accounts, 500);
    eventcore::ProjectionOptions options{.name = "sql-balances", .stream_prefix = "account-", .batch_size = 20};
    {
        eventcore::ProjectionRunner runner{store, projector, options};
        eventcore::Result<eventcore::ProjectionStatus> ran;
        {
            std::jthread projecting([&](std::stop_token stop) { ran = runner.run(stop); });
            REQUIRE(run_transfers(store, accounts, 2, 30) == 0);
        }
        REQUIRE(ran);
    }
    eventcore::ProjectionRunner again{store, projector, options};
    REQUIRE(again.catch_up());
    CHECK(projector.balances(store) == bank::folded_balances(store));
    CHECK(projector.applied(store) == static_cast<std::int64_t>(eventcore::load_log(store)->size()));
    // A rebuild empties the tables through reset, in the same transaction as the checkpoint.
    REQUIRE(again.rebuild());
    CHECK(projector.balances(store) == bank::folded_balances(store));
}

/// A runner whose projection lock was lost (simulated: another runner moves the checkpoint
/// between two of its batches) finds out at its next commit: that batch rolls back, the
/// runner stops with a `projection` error, and no event is applied twice. The fence is the
/// checkpoint itself, checked in the batch's transaction.
template <class Store>
void lost_lock_is_fenced(Store& store, const bank::SqlBalanceProjector& projector) {
    REQUIRE(store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        projector.create(sql);
        return {};
    }));
    open_bank(store, 4, 100); // 4 events
    REQUIRE(run_transfers(store, 4, 1, 4) == 0); // 8 more
    int batches = 0;
    eventcore::ProjectionOptions options{.name = "fenced", .stream_prefix = "account-", .batch_size = 4};
    options.on_progress = [&](const eventcore::ProjectionProgress&) {
        // After the first batch, "another runner" takes over and gets to position 8.
        if (++batches == 1) REQUIRE(store.save_checkpoint("fenced", eventcore::GlobalPosition{8}));
    };
    eventcore::ProjectionRunner runner{store, projector, options};
    auto ran = runner.catch_up();
    REQUIRE_FALSE(ran);
    CHECK(ran.error().kind() == eventcore::ErrorKind::projection);
    CHECK(ran.error().code() == "EVENTCORE_CHECKPOINT_MOVED");
    CHECK_THAT(ran.error().message(), Catch::Contains("no longer at position 4"));
    CHECK(projector.applied(store) == 4); // the first batch only: the second rolled back
    CHECK(store.load_checkpoint("fenced")->value() == eventcore::GlobalPosition{8});

    SECTION("at the level of the session") {
        auto moved = store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
            return sql.advance_checkpoint("fenced", eventcore::GlobalPosition{8}, eventcore::GlobalPosition{9});
        });
        REQUIRE(moved);
        auto stale = store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
            return sql.advance_checkpoint("fenced", eventcore::GlobalPosition{8}, eventcore::GlobalPosition{12});
        });
        REQUIRE_FALSE(stale);
        CHECK(stale.error().code() == "EVENTCORE_CHECKPOINT_MOVED");
        auto fresh = store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
            return sql.advance_checkpoint("new-one", eventcore::GlobalPosition{}, eventcore::GlobalPosition{3});
        });
        REQUIRE(fresh);
        CHECK(store.load_checkpoint("fenced")->value() == eventcore::GlobalPosition{9});
        CHECK(store.load_checkpoint("new-one")->value() == eventcore::GlobalPosition{3});
    }
}

/// A transaction body that ignores a failed statement and returns success does not commit
/// half of its work.
template <class Store>
void ignored_statement_error_is_not_committed(Store& store, const bank::SqlBalanceProjector& projector,
                                              std::string_view insert_twice) {
    REQUIRE(store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        projector.create(sql);
        return {};
    }));
    auto r = store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        (void)sql.execute(insert_twice, {std::int64_t{1}});
        (void)sql.execute(insert_twice, {std::int64_t{1}}); // fails: the key is taken; ignored
        return {};
    });
    if (r) {
        // SQLite goes on after a failed statement: the first insert stands, alone and whole.
        CHECK(projector.applied(store) == 1);
    } else {
        CHECK_THAT(r.error().message(), Catch::Contains("body returned success anyway"));
        CHECK(projector.applied(store) == 0);
    }
}

/// A balance projection in this process, fed while worker processes run transfers (each worker
/// command line from `worker(seed)`), equals the fold of the log.
template <class Store, class WorkerArgs>
void projection_fed_by_processes(Store& store, WorkerArgs&& worker) {
    constexpr int accounts = 5;
    open_bank(store, accounts, 1000);
    bank::BalanceProjector projector;
    eventcore::ProjectionRunner runner{store, projector, {.name = "balances", .stream_prefix = "account-"}};
    eventcore::Result<eventcore::ProjectionStatus> ran;
    {
        std::jthread projecting([&](std::stop_token stop) { ran = runner.run(stop); });
        std::vector<std::unique_ptr<Child>> workers;
        for (int p = 0; p < 2; ++p) workers.push_back(std::make_unique<Child>(worker(p + 1)));
        for (auto& w : workers) CHECK(w->wait() == 0);
    }
    REQUIRE(ran);
    REQUIRE(runner.catch_up());
    CHECK(projector.snapshot() == bank::folded_balances(store));
    for (const auto& [position, count] : projector.applications) CHECK(count == 1);
}

/// An exactly-once projection in another process, killed (SIGKILL) at random moments while
/// transfers go on; started again each time. At the end no event was applied twice (the
/// `applied` table's key would have stopped it) and the read model equals the fold.
template <class Store>
void exactly_once_survives_kills(Store& store, const bank::SqlBalanceProjector& projector,
                                 const std::vector<std::string>& worker) {
    constexpr int accounts = 4;
    constexpr int kills = 8;
    open_bank(store, accounts, 500);
    // The read model's tables exist before any runner: one killed before it got to create them
    // (a slow start, under a sanitizer) must not leave the last runner without them.
    REQUIRE(store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        projector.create(sql);
        return {};
    }));
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> wait_ms(30, 150);
    for (int k = 0; k < kills; ++k) {
        Child runner(worker);
        std::thread writer([&] { (void)run_transfers(store, accounts, 1, 15); });
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
        runner.kill(SIGKILL);
        CHECK(runner.wait() == 128 + SIGKILL); // killed, not stopped by an error of its own
        writer.join();
    }
    // The last killed runner's lock goes when its database session does; on PostgreSQL that is
    // when the server notices the dead client, so the new runner waits for it.
    eventcore::ProjectionRunner last{store, projector,
                                     {.name = "sql-balances",
                                      .stream_prefix = "account-",
                                      .wait_for_lock = std::chrono::seconds{30}}};
    auto caught_up = last.catch_up();
    REQUIRE(caught_up);
    CHECK(projector.balances(store) == bank::folded_balances(store));
    const auto events = eventcore::load_log(store, eventcore::LogQuery{.stream_prefix = "account-"}).value();
    CHECK(projector.applied(store) == static_cast<std::int64_t>(events.size()));
}

} // namespace testing_support

namespace testing_support {

/// At least once, a runner that lost its lock (simulated: another runner moves the checkpoint
/// to the head between two of its batches) must not move the checkpoint back over that
/// runner's progress: its next save is refused, and the checkpoint never goes backwards.
template <class Store>
void at_least_once_checkpoint_never_moves_back(Store& store) {
    for (int i = 0; i < 12; ++i)
        REQUIRE(eventcore::append_to_stream(store, bank::id("c"), ExpectedVersion::any(), {bank::MoneyDeposited{1}}));
    bank::BalanceProjector projector;
    std::vector<std::uint64_t> stored; // the stored checkpoint after each batch
    int batches = 0;
    eventcore::ProjectionOptions options{.name = "fenced-at-least-once", .batch_size = 4};
    options.on_progress = [&](const eventcore::ProjectionProgress&) {
        if (++batches == 1) REQUIRE(store.save_checkpoint("fenced-at-least-once", GlobalPosition{12}));
        stored.push_back(store.load_checkpoint("fenced-at-least-once").value().value_or(GlobalPosition{}).value());
    };
    eventcore::ProjectionRunner runner{store, projector, options};
    auto ran = runner.catch_up();
    INFO("checkpoints seen after each batch: " << fmt::format("{}", fmt::join(stored, ", ")));
    CHECK(std::ranges::is_sorted(stored));
    REQUIRE_FALSE(ran);
    CHECK(ran.error().kind() == eventcore::ErrorKind::projection);
    CHECK(ran.error().code() == "EVENTCORE_CHECKPOINT_MOVED");
    CHECK_THAT(ran.error().message(), Catch::Contains("no longer at position 4"));
    CHECK(store.load_checkpoint("fenced-at-least-once")->value() == GlobalPosition{12});
}

/// The store's own compare-and-set move of a checkpoint: only from where it is (a missing
/// checkpoint is at 0).
template <class Store>
void checkpoint_compare_and_set(Store& store) {
    REQUIRE(store.advance_checkpoint("cas", GlobalPosition{}, GlobalPosition{3}));
    CHECK(store.load_checkpoint("cas")->value() == GlobalPosition{3});
    auto stale = store.advance_checkpoint("cas", GlobalPosition{}, GlobalPosition{5});
    REQUIRE_FALSE(stale);
    CHECK(stale.error().kind() == eventcore::ErrorKind::projection);
    CHECK(stale.error().code() == "EVENTCORE_CHECKPOINT_MOVED");
    REQUIRE(store.advance_checkpoint("cas", GlobalPosition{3}, GlobalPosition{5}));
    auto behind = store.advance_checkpoint("cas", GlobalPosition{3}, GlobalPosition{9});
    REQUIRE_FALSE(behind);
    CHECK_THAT(behind.error().message(), Catch::Contains("no longer at position 3"));
    CHECK(store.load_checkpoint("cas")->value() == GlobalPosition{5});
    auto missing = store.advance_checkpoint("never-saved", GlobalPosition{2}, GlobalPosition{4});
    REQUIRE_FALSE(missing);
    CHECK_FALSE(store.load_checkpoint("never-saved")->has_value());
    auto bad = store.advance_checkpoint("", GlobalPosition{}, GlobalPosition{1});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().kind() == eventcore::ErrorKind::validation);
}

/// A projector with only `apply_batch` that fails on some events: the runner narrows each
/// failing batch down to the events that fail, so the policy meets exactly those, and every
/// other event is applied once. `poisoned` are positions; `events` go in commits of 16.
template <class Store>
void batch_only_projector_narrows_failures(Store& store, eventcore::OnError action, std::set<std::uint64_t> poisoned,
                                           std::size_t events, std::size_t batch_size) {
    struct BatchOnly {
        std::map<std::uint64_t, int> failures_left; // per poisoned position
        std::vector<std::uint64_t> applied;
        std::map<std::uint64_t, int> alone; // calls with just this (poisoned) event
        auto apply_batch(std::span<const eventcore::RecordedEvent<BankEvent>> batch) -> eventcore::Result<void> {
            std::optional<std::uint64_t> failing;
            for (const auto& e : batch) {
                const auto p = e.position.value();
                if (auto it = failures_left.find(p); it != failures_left.end() && it->second > 0) {
                    --it->second;
                    if (!failing) failing = p;
                }
            }
            if (batch.size() == 1 && failures_left.contains(batch[0].position.value()))
                ++alone[batch[0].position.value()];
            // All or nothing, as a bulk insert in a transaction would be.
            if (failing) return eventcore::fail(eventcore::ErrorKind::projection, "poisoned event at position {}", *failing);
            for (const auto& e : batch) applied.push_back(e.position.value());
            return {};
        }
    };
    for (std::size_t written = 0; written < events; written += 16) {
        std::vector<BankEvent> commit(std::min<std::size_t>(16, events - written), bank::MoneyDeposited{1});
        REQUIRE(eventcore::append_to_stream(store, bank::id("batched"), ExpectedVersion::any(), std::move(commit)));
    }
    const bool recovers = action == eventcore::OnError::retry;
    BatchOnly projector;
    for (const auto p : poisoned) projector.failures_left[p] = recovers ? 2 : 1'000'000;
    std::vector<eventcore::SkippedEvent> skipped;
    const std::string name = fmt::format("batch-only-{}", static_cast<int>(action));
    eventcore::ProjectionRunner runner{
        store, projector,
        {.name = name,
         .batch_size = batch_size,
         .on_error = {.action = action, .max_attempts = 3, .initial_delay = std::chrono::milliseconds{1}},
         .on_skip = [&](const eventcore::SkippedEvent& s) { skipped.push_back(s); }}};
    auto outcome = runner.catch_up();
    std::vector<std::uint64_t> all(events);
    std::iota(all.begin(), all.end(), std::uint64_t{1});
    std::vector<std::uint64_t> healthy;
    std::ranges::copy_if(all, std::back_inserter(healthy), [&](std::uint64_t p) { return !poisoned.contains(p); });
    const std::uint64_t first = *poisoned.begin();
    INFO("policy " << static_cast<int>(action) << ", poisoned " << fmt::format("{}", fmt::join(poisoned, ", ")));
    switch (action) {
    case eventcore::OnError::skip: {
        REQUIRE(outcome);
        CHECK(projector.applied == healthy);
        std::vector<std::uint64_t> skipped_at;
        for (const auto& s : skipped) {
            skipped_at.push_back(s.position.value());
            CHECK(s.error.message() == fmt::format("poisoned event at position {}", s.position.value()));
        }
        CHECK(skipped_at == std::vector<std::uint64_t>(poisoned.begin(), poisoned.end()));
        CHECK(outcome->skipped.size() == poisoned.size());
        CHECK(outcome->applied == healthy.size());
        CHECK(outcome->checkpoint == GlobalPosition{events});
        break;
    }
    case eventcore::OnError::stop: {
        REQUIRE_FALSE(outcome);
        CHECK(outcome.error().kind() == eventcore::ErrorKind::projection);
        CHECK(outcome.error().version() == eventcore::StreamVersion{first});
        CHECK_THAT(outcome.error().message(), Catch::Contains(fmt::format("(position {})", first)) &&
                                                  Catch::Contains(fmt::format("poisoned event at position {}", first)));
        CHECK(projector.applied == std::vector<std::uint64_t>(all.begin(), all.begin() + static_cast<long>(first - 1)));
        CHECK(skipped.empty());
        CHECK(store.load_checkpoint(name).value().value_or(GlobalPosition{}) == GlobalPosition{first - 1});
        break;
    }
    case eventcore::OnError::retry: {
        // Each poisoned event fails twice, then goes through: everything is applied, once.
        REQUIRE(outcome);
        CHECK(projector.applied == all);
        CHECK(skipped.empty());
        CHECK(outcome->checkpoint == GlobalPosition{events});
        // Failing for good: the runner retries that event on its own, max_attempts times, then stops there.
        BatchOnly stubborn;
        for (const auto p : poisoned) stubborn.failures_left[p] = 1'000'000;
        eventcore::ProjectionRunner again{
            store, stubborn,
            {.name = name + "-stubborn",
             .batch_size = batch_size,
             .on_error = {.action = action, .max_attempts = 3, .initial_delay = std::chrono::milliseconds{1}}}};
        auto exhausted = again.catch_up();
        REQUIRE_FALSE(exhausted);
        CHECK_THAT(exhausted.error().message(),
                   Catch::Contains("after 3 attempts") && Catch::Contains(fmt::format("(position {})", first)));
        CHECK(stubborn.alone[first] == 3);
        CHECK(stubborn.applied == std::vector<std::uint64_t>(all.begin(), all.begin() + static_cast<long>(first - 1)));
        CHECK(store.load_checkpoint(name + "-stubborn").value().value_or(GlobalPosition{}) == GlobalPosition{first - 1});
        break;
    }
    }
}

/// One exactly-once projector, unchanged, on SQLite and PostgreSQL: a read model with uuid,
/// jsonb, timestamptz and nullable integer columns, written and read with `$N` parameters
/// whose types the database works out.
struct TypedReadModel {
    std::string table;

    void create(eventcore::SqlSession& sql) const {
        sql.execute(fmt::format("CREATE TABLE {} (id uuid PRIMARY KEY, doc jsonb NOT NULL, at timestamptz NOT NULL, "
                                "amount integer, note text)",
                                table))
            .value();
    }
    [[nodiscard]] static auto at_text(const eventcore::RecordedEvent<BankEvent>& e) -> std::string {
        return fmt::format("2024-05-06T07:08:{:02}.{:06}Z", e.position.value() % 60, e.position.value());
    }
    auto apply(const eventcore::RecordedEvent<BankEvent>& e, eventcore::SqlSession& sql) const -> eventcore::Result<void> {
        const auto amount = bank::balance_delta(e.payload);
        const std::string id = fmt::format("{}", e.metadata.event_id);
        const std::string doc = fmt::format(R"({{"amount": {}, "stream": "{}"}})", amount, e.stream.view());
        const std::string at = at_text(e);
        eventcore::SqlValue maybe_amount = nullptr;
        if (amount % 2 == 0) maybe_amount = amount;
        auto inserted = sql.execute(
            fmt::format("INSERT INTO {} (id, doc, at, amount, note) VALUES ($1, $2, $3, $4, $5)", table),
            {std::string_view(id), std::string_view(doc), std::string_view(at), maybe_amount, nullptr});
        if (!inserted) return eventcore::fail(std::move(inserted).error());
        auto noted = sql.execute(fmt::format("UPDATE {} SET note = $1, amount = coalesce(amount, $2) WHERE id = $3 AND at = $4",
                                             table),
                                 {nullptr, nullptr, std::string_view(id), std::string_view(at)});
        if (!noted) return eventcore::fail(std::move(noted).error());
        if (*noted != 1) return eventcore::fail(eventcore::ErrorKind::projection, "the row of {} was not found", id);
        return {};
    }
};

template <class Store>
void typed_columns_on_every_store(Store& store, const TypedReadModel& model) {
    REQUIRE(store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        model.create(sql);
        return {};
    }));
    for (int i = 1; i <= 6; ++i)
        REQUIRE(eventcore::append_to_stream(store, bank::id("typed"), ExpectedVersion::any(), {bank::MoneyDeposited{i}}));
    eventcore::ProjectionRunner runner{store, model, {.name = "typed"}};
    auto ran = runner.catch_up();
    REQUIRE(ran);
    CHECK(ran->applied == 6);
    const auto log = eventcore::load_log(store).value();
    for (const auto& e : log) {
        const std::string id = fmt::format("{}", e.metadata.event_id);
        const std::string at = TypedReadModel::at_text(e);
        std::vector<std::string> row;
        bool amount_null = false;
        REQUIRE(store.transaction([&](eventcore::SqlSession& sql) {
            return sql.query(fmt::format("SELECT id, doc ->> 'amount', doc ->> 'stream', amount FROM {} "
                                         "WHERE id = $1 AND at = $2",
                                         model.table),
                             {std::string_view(id), std::string_view(at)}, [&](const eventcore::SqlRow& r) {
                                 for (int c = 0; c < 3; ++c) row.emplace_back(r.text(c));
                                 amount_null = r.is_null(3);
                                 if (!amount_null) row.push_back(std::to_string(r.integer(3)));
                             });
        }));
        const auto amount = bank::balance_delta(e.payload);
        INFO("event at position " << e.position.value());
        std::vector<std::string> expected{id, std::to_string(amount), "typed"};
        if (amount % 2 == 0) expected.push_back(std::to_string(amount));
        CHECK(row == expected);
        CHECK(amount_null == (amount % 2 != 0));
    }
}

/// `$N` parameters bind by their number on every store, and what would bind wrongly is refused.
template <class Store>
void placeholders_bind_by_number(Store& store) {
    const auto select = [&](std::string_view sql, std::initializer_list<eventcore::SqlValue> params)
        -> eventcore::Result<std::vector<std::string>> {
        std::vector<std::string> out;
        auto r = store.transaction([&](eventcore::SqlSession& session) {
            return session.query(sql, params, [&](const eventcore::SqlRow& row) {
                for (int c = 0; c < row.columns(); ++c) out.emplace_back(row.is_null(c) ? "NULL" : row.text(c));
            });
        });
        if (!r) return eventcore::fail(std::move(r).error());
        return out;
    };
    using V = std::vector<std::string>;
    CHECK(select("SELECT $2, $1", {std::string_view("a"), std::string_view("b")}).value() == V{"b", "a"});
    CHECK(select("SELECT $1, $1, $2", {std::string_view("a"), std::string_view("b")}).value() == V{"a", "a", "b"});
    CHECK(select("SELECT $3 || $1, $2", {std::string_view("a"), std::string_view("b"), std::string_view("c")}).value() ==
          V{"ca", "b"});
    // Text that only looks like a parameter is left alone.
    CHECK(select("SELECT '$2', $1 /* $3 */", {std::string_view("a")}).value() == V{"$2", "a"});
    CHECK(select("SELECT \"x$2\".v FROM (SELECT $1 AS v) AS \"x$2\"", {std::string_view("a")}).value() == V{"a"});

    const auto refused = [&](std::string_view sql, std::initializer_list<eventcore::SqlValue> params,
                             std::string_view why) {
        INFO(sql);
        auto r = select(sql, params);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind() == eventcore::ErrorKind::validation);
        CHECK_THAT(r.error().message(), Catch::Contains(std::string(why)));
    };
    refused("SELECT $1, $3", {std::string_view("a"), std::string_view("b"), std::string_view("c")}, "$2");
    refused("SELECT $1, $3", {std::string_view("a"), std::string_view("b")}, "$3");
    refused("SELECT $1", {std::string_view("a"), std::string_view("b")}, "2 values");
    refused("SELECT $1, $2", {std::string_view("a")}, "1 value");
    refused("SELECT 1", {std::string_view("a")}, "1 value");
}

} // namespace testing_support
