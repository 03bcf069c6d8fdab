#include "support/process.hpp"
#include "support/projection_scenarios.hpp"

#include <eventcore/sqlite_event_store.hpp>

using namespace testing_support;
using Memory = eventcore::InMemoryEventStore<bank::BankEvent>;
using Sqlite = eventcore::SqliteEventStore<bank::BankEvent>;

namespace {
auto sqlite_in(const TempDir& dir, const std::string& name = "events.db") -> Sqlite {
    auto store = Sqlite::open(dir.file(name));
    if (!store) FAIL(fmt::format("{}", store.error()));
    return std::move(*store);
}
} // namespace

TEST_CASE("subscriptions catch up, then follow live commits (memory)", "[subscription]") {
    Memory store;
    subscription_catches_up_then_follows(store);
}

TEST_CASE("subscriptions catch up, then follow live commits (sqlite)", "[subscription][sqlite]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    subscription_catches_up_then_follows(store);
}

TEST_CASE("a selective subscription makes progress behind events it does not want", "[subscription]") {
    SECTION("memory") {
        Memory store;
        selective_subscription_makes_progress(store);
    }
    SECTION("sqlite") {
        TempDir dir;
        auto store = sqlite_in(dir);
        selective_subscription_makes_progress(store);
    }
}

TEST_CASE("a balance projection equals the fold of the log, and resumes (memory)", "[projection]") {
    Memory store;
    balance_projection_equals_the_fold(store);
}

TEST_CASE("a balance projection equals the fold of the log, and resumes (sqlite)", "[projection][sqlite]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    balance_projection_equals_the_fold(store);
}

TEST_CASE("poison events follow the error policy", "[projection]") {
    for (const auto action : {eventcore::OnError::stop, eventcore::OnError::skip, eventcore::OnError::retry}) {
        DYNAMIC_SECTION("memory, policy " << static_cast<int>(action)) {
            Memory store;
            poison_events_follow_the_policy(store, action);
        }
        DYNAMIC_SECTION("sqlite, policy " << static_cast<int>(action)) {
            TempDir dir;
            auto store = sqlite_in(dir);
            poison_events_follow_the_policy(store, action);
        }
    }
}

TEST_CASE("a projector may take whole batches", "[projection]") {
    SECTION("memory") {
        Memory store;
        batch_projector(store);
    }
    SECTION("sqlite") {
        TempDir dir;
        auto store = sqlite_in(dir);
        batch_projector(store);
    }
}

TEST_CASE("one runner per projection, lag, and a rebuild with progress", "[projection]") {
    SECTION("memory") {
        Memory store;
        one_runner_lag_and_rebuild(store);
    }
    SECTION("sqlite") {
        TempDir dir;
        auto store = sqlite_in(dir);
        one_runner_lag_and_rebuild(store);
    }
}

TEST_CASE("an exactly-once projection keeps its read model in the SQLite file", "[projection][sqlite]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    exactly_once_projection(store, bank::SqlBalanceProjector{});
}

TEST_CASE("projection runners in two processes take turns on one SQLite file", "[projection][sqlite][multi-process]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    auto held = store.lock_projection("shared", std::chrono::milliseconds{0});
    REQUIRE(held);
    // Another process is refused while this one holds the projection, and gets it after.
    const auto try_in_child = [&] {
        return in_child([&] {
            auto other = Sqlite::open(dir.file("events.db"));
            if (!other) return 2;
            return other->lock_projection("shared", std::chrono::milliseconds{0}) ? 0 : 1;
        });
    };
    CHECK(try_in_child() == 1);
    held->reset();
    CHECK(try_in_child() == 0);
}

TEST_CASE("an exactly-once projection killed at random moments applies no event twice (sqlite)",
          "[projection][sqlite][crash]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    exactly_once_survives_kills(store, bank::SqlBalanceProjector{},
                                {EVENTCORE_STORE_WORKER, "project-sqlite", dir.file("events.db")});
}

TEST_CASE("a projection fed by several writer processes equals the fold (sqlite)", "[projection][sqlite][multi-process]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    projection_fed_by_processes(store, [&](int seed) {
        return std::vector<std::string>{EVENTCORE_STORE_WORKER, "sqlite", dir.file("events.db"), "5", "60",
                                        std::to_string(seed)};
    });
}

TEST_CASE("an exactly-once runner that lost its lock is fenced by its checkpoint (sqlite)", "[projection][sqlite]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    lost_lock_is_fenced(store, bank::SqlBalanceProjector{});
}

TEST_CASE("SqlSession on SQLite: one statement per call, and nested writes fail instead of hanging", "[projection][sqlite]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    auto two = store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        auto r = sql.execute("CREATE TABLE a (x INTEGER); CREATE TABLE b (y INTEGER)");
        if (!r) return eventcore::fail(std::move(r).error());
        return {};
    });
    REQUIRE_FALSE(two);
    CHECK(two.error().kind() == eventcore::ErrorKind::validation);
    CHECK_THAT(two.error().message(), Catch::Contains("more than one SQL statement"));

    auto nested = store.transaction([&](eventcore::SqlSession&) -> eventcore::Result<void> {
        auto inner = eventcore::append_to_stream(store, bank::id("account-x"), eventcore::ExpectedVersion::any(),
                                                 {bank::MoneyDeposited{1}});
        if (!inner) return eventcore::fail(std::move(inner).error());
        return {};
    });
    REQUIRE_FALSE(nested);
    CHECK_THAT(nested.error().message(), Catch::Contains("would wait for itself"));
    CHECK(eventcore::load_log(store)->empty());

    SECTION("an in-memory database reports a read nested in a transaction instead of hanging") {
        eventcore::sqlite::Options options;
        options.busy_timeout = std::chrono::milliseconds{50};
        auto memory = Sqlite::open(":memory:", options);
        REQUIRE(memory);
        auto read = memory->transaction([&](eventcore::SqlSession&) -> eventcore::Result<void> {
            auto head = memory->head();
            if (!head) return eventcore::fail(std::move(head).error());
            return {};
        });
        REQUIRE_FALSE(read);
        CHECK(read.error().kind() == eventcore::ErrorKind::timeout);
        CHECK_THAT(read.error().message(), Catch::Contains("waits for itself"));
    }
}
