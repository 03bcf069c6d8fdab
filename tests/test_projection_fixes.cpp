// Projections do what they say, on the in-memory and SQLite stores: fenced at-least-once
// checkpoints, batch projectors narrowed down to the failing event, one placeholder syntax,
// typed read-model columns, reserved names, locks that outlive their store, and a bounded write
// turn. The PostgreSQL side is in test_postgres_projection.cpp.
#include "support/process.hpp"
#include "support/projection_scenarios.hpp"

#include <eventcore/sqlite_event_store.hpp>
#include <eventcore/testing/store_wrapper.hpp>

#include <future>
#include <memory>

using namespace testing_support;
using Memory = eventcore::InMemoryEventStore<bank::BankEvent>;
using Sqlite = eventcore::SqliteEventStore<bank::BankEvent>;

TEST_CASE("an in-memory projection lock may outlive its store", "[projection][fixes]") {
    auto store = std::make_unique<Memory>();
    auto lock = store->lock_projection("outlived", std::chrono::milliseconds{0});
    REQUIRE(lock);
    REQUIRE(lock->held());
    store.reset();
    lock->reset(); // released after the store is gone: nothing of the store is touched
    CHECK_FALSE(lock->held());
}

