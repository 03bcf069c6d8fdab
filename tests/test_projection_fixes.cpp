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

namespace {
auto sqlite_in(const TempDir& dir, eventcore::sqlite::Options options = {}) -> Sqlite {
    auto store = Sqlite::open(dir.file("events.db"), options);
    if (!store) FAIL(fmt::format("{}", store.error()));
    return std::move(*store);
}
} // namespace

TEST_CASE("an in-memory projection lock may outlive its store", "[projection][fixes]") {
    auto store = std::make_unique<Memory>();
    auto lock = store->lock_projection("outlived", std::chrono::milliseconds{0});
    REQUIRE(lock);
    REQUIRE(lock->held());
    store.reset();
    lock->reset(); // released after the store is gone: nothing of the store is touched
    CHECK_FALSE(lock->held());
}

TEST_CASE("SQLite's write turn is bounded by the busy timeout", "[sqlite][fixes]") {
    TempDir dir;
    eventcore::sqlite::Options options;
    options.busy_timeout = std::chrono::milliseconds{100};
    auto store = sqlite_in(dir, options);
    std::promise<eventcore::Result<eventcore::CommitReceipt>> appended;
    auto done = appended.get_future();
    std::thread writer;
    // A transaction body that holds the write turn (a projector batch blocked on I/O, say) until
    // the append on another thread has returned, or for 10 s at most.
    auto body = store.transaction([&](eventcore::SqlSession&) -> eventcore::Result<void> {
        writer = std::thread([&] {
            appended.set_value(eventcore::append_to_stream(store, bank::id("waiting"), eventcore::ExpectedVersion::any(),
                                                           {bank::MoneyDeposited{1}}));
        });
        (void)done.wait_for(std::chrono::seconds{10});
        return {};
    });
    writer.join();
    REQUIRE(body);
    auto r = done.get();
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == eventcore::ErrorKind::transient);
    CHECK_THAT(r.error().message(), Catch::Contains(dir.file("events.db")) && Catch::Contains("100 ms"));
    CHECK(eventcore::load_log(store)->empty()); // not written
    // The turn is free again once the body is done.
    REQUIRE(eventcore::append_to_stream(store, bank::id("waiting"), eventcore::ExpectedVersion::any(),
                                        {bank::MoneyDeposited{1}}));
}
