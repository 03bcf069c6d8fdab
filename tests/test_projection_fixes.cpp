// Projections do what they say, on the in-memory and SQLite stores: fenced at-least-once
// checkpoints, batch projectors narrowed down to the failing event, one placeholder syntax,
// typed read-model columns, reserved names, locks that outlive their store, and a bounded write
// turn. The PostgreSQL side is in test_postgres_projection.cpp.
#include "support/process.hpp"
#include "support/projection_scenarios.hpp"

#include <eventcore/deadline.hpp>
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

TEST_CASE("an at-least-once runner never moves its checkpoint back over another runner's", "[projection][fixes]") {
    SECTION("memory") {
        Memory store;
        at_least_once_checkpoint_never_moves_back(store);
    }
    SECTION("sqlite") {
        TempDir dir;
        auto store = sqlite_in(dir);
        at_least_once_checkpoint_never_moves_back(store);
    }
}

TEST_CASE("stores move checkpoints by compare-and-set", "[projection][fixes]") {
    SECTION("memory") {
        Memory store;
        checkpoint_compare_and_set(store);
    }
    SECTION("sqlite") {
        TempDir dir;
        auto store = sqlite_in(dir);
        checkpoint_compare_and_set(store);
    }
}

namespace {
/// A user's own live store, written before stores had `advance_checkpoint`: still a
/// `LiveEventStore`, and a projection runs on it (its checkpoint saves are not fenced).
class OlderLiveStore {
public:
    using event_type = bank::BankEvent;
    template <class F>
    auto read_streams(std::span<const eventcore::StreamId> ids, F&& f) const {
        return inner_.read_streams(ids, std::forward<F>(f));
    }
    template <class F>
    auto read_stream(const eventcore::StreamId& id, eventcore::StreamVersion from, F&& f) const {
        return inner_.read_stream(id, from, std::forward<F>(f));
    }
    template <class F>
    auto read_all(const eventcore::LogQuery& q, F&& f) const {
        return inner_.read_all(q, std::forward<F>(f));
    }
    auto append(eventcore::AppendRequest<event_type> r) { return inner_.append(std::move(r)); }
    auto find_commit(const eventcore::Uuid& id) const { return inner_.find_commit(id); }
    auto head() const { return inner_.head(); }
    auto wait_for_events(GlobalPosition after, std::chrono::milliseconds t) { return inner_.wait_for_events(after, t); }
    auto save_checkpoint(std::string_view n, GlobalPosition p) {
        ++saves;
        return inner_.save_checkpoint(n, p);
    }
    auto load_checkpoint(std::string_view n) const { return inner_.load_checkpoint(n); }
    auto checkpoints() const { return inner_.checkpoints(); }
    auto delete_checkpoint(std::string_view n) { return inner_.delete_checkpoint(n); }
    auto lock_projection(std::string_view n, std::chrono::milliseconds w) { return inner_.lock_projection(n, w); }
    int saves = 0;

private:
    Memory inner_;
};
static_assert(eventcore::LiveEventStore<OlderLiveStore>);
static_assert(!eventcore::detail::MovesCheckpoints<OlderLiveStore>);
static_assert(eventcore::detail::MovesCheckpoints<Memory>);
static_assert(eventcore::detail::MovesCheckpoints<Sqlite>);
static_assert(eventcore::detail::MovesCheckpoints<eventcore::testing::StoreWrapper<Memory>>);
} // namespace

TEST_CASE("a store without a compare-and-set checkpoint move still runs projections", "[projection][fixes]") {
    OlderLiveStore store;
    for (int i = 0; i < 5; ++i)
        REQUIRE(eventcore::append_to_stream(store, bank::id("old"), eventcore::ExpectedVersion::any(),
                                            {bank::MoneyDeposited{1}}));
    bank::BalanceProjector projector;
    eventcore::ProjectionRunner runner{store, projector, {.name = "older", .batch_size = 2}};
    auto ran = runner.catch_up();
    REQUIRE(ran);
    CHECK(ran->checkpoint == GlobalPosition{5});
    CHECK(store.saves == 3);
}

TEST_CASE("a batch-only projector: a failing batch is narrowed down to the failing events", "[projection][fixes]") {
    struct Case {
        std::set<std::uint64_t> poisoned;
        std::size_t events;
        std::size_t batch_size;
    };
    const std::vector<Case> cases{
        {{7}, 256, 256},             // the reported case: event 7 of a batch of 256
        {{1}, 64, 64},               // the batch's first
        {{64}, 64, 64},              // its last
        {{1, 64, 65, 128}, 160, 64}, // both ends of two batches
        {{100, 101, 102, 103}, 160, 256},
    };
    for (const auto action : {eventcore::OnError::skip, eventcore::OnError::stop, eventcore::OnError::retry}) {
        for (std::size_t c = 0; c < cases.size(); ++c) {
            DYNAMIC_SECTION("memory, policy " << static_cast<int>(action) << ", case " << c) {
                Memory store;
                batch_only_projector_narrows_failures(store, action, cases[c].poisoned, cases[c].events,
                                                      cases[c].batch_size);
            }
            DYNAMIC_SECTION("sqlite, policy " << static_cast<int>(action) << ", case " << c) {
                TempDir dir;
                auto store = sqlite_in(dir);
                batch_only_projector_narrows_failures(store, action, cases[c].poisoned, cases[c].events,
                                                      cases[c].batch_size);
            }
        }
    }
}

TEST_CASE("SQLite read models with uuid, jsonb, timestamptz and nullable integer columns", "[projection][sqlite][fixes]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    typed_columns_on_every_store(store, TypedReadModel{"typed_model"});
}

TEST_CASE("SqlSession on SQLite binds $N by number and refuses what would bind wrongly", "[projection][sqlite][fixes]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    placeholders_bind_by_number(store);

    const auto outcome = [&](std::string_view sql, std::initializer_list<eventcore::SqlValue> params)
        -> eventcore::Result<std::vector<std::string>> {
        std::vector<std::string> out;
        auto r = store.transaction([&](eventcore::SqlSession& session) {
            return session.query(sql, params, [&](const eventcore::SqlRow& row) {
                for (int c = 0; c < row.columns(); ++c) out.emplace_back(row.text(c));
            });
        });
        if (!r) return eventcore::fail(std::move(r).error());
        return out;
    };
    for (const auto& [sql, why] : std::vector<std::pair<std::string, std::string>>{
             {"SELECT ?2, ?1", "?2"}, // SQLite's own numbered form: fine here, refused on PostgreSQL
             {"SELECT ?, ?", "`?`"},
             {"SELECT :first, :second", ":first"},
             {"SELECT @first, @second", "@first"},
             {"SELECT $first, $second", "$first"},
             {"SELECT ?1, $1", "?1"},
             {"SELECT $01, $1", "$01"},
         }) {
        INFO(sql);
        auto r = outcome(sql, {std::string_view("a"), std::string_view("b")});
        REQUIRE_FALSE(r);
        CHECK(r.error().kind() == eventcore::ErrorKind::validation);
        CHECK_THAT(r.error().message(), Catch::Contains(why) && Catch::Contains("$1"));
    }
}

namespace {
/// Runs one statement in a transaction of its own.
auto run_sql(Sqlite& store, std::string_view sql) -> eventcore::Result<void> {
    return store.transaction([&](eventcore::SqlSession& session) -> eventcore::Result<void> {
        auto r = session.execute(sql);
        if (!r) return eventcore::fail(std::move(r).error());
        return {};
    });
}
} // namespace

TEST_CASE("SQLite read models cannot take or change the names the store reserves", "[projection][sqlite][fixes]") {
    TempDir dir;
    auto store = sqlite_in(dir);
    REQUIRE(eventcore::append_to_stream(store, bank::id("kept"), eventcore::ExpectedVersion::any(),
                                        {bank::MoneyDeposited{5}}));
    REQUIRE(store.save_checkpoint("kept", GlobalPosition{1}));
    for (const auto& [sql, name] : std::vector<std::pair<std::string, std::string>>{
             {"CREATE TEMP TABLE events (x INTEGER)", "events"}, // would hide the log from this connection
             {"CREATE TEMP VIEW Checkpoints AS SELECT 1 AS name", "Checkpoints"},
             {"CREATE TABLE eventcore_model (x INTEGER)", "eventcore_model"},
             {"CREATE TABLE IF NOT EXISTS commands (x INTEGER)", "commands"},
             {"CREATE INDEX by_type ON events (event_type)", "events"},
             {"CREATE TRIGGER on_append AFTER INSERT ON events BEGIN SELECT 1; END", "events"},
             {"DROP TABLE checkpoints", "checkpoints"},
             {"ALTER TABLE events ADD COLUMN extra INTEGER", "events"},
             {"DELETE FROM events", "events"},
             {"UPDATE checkpoints SET position = 0", "checkpoints"},
             {"INSERT INTO command_streams VALUES (x'00', 0, 'a', 1)", "command_streams"},
             {"DELETE FROM eventcore_schema", "eventcore_schema"},
         }) {
        INFO(sql);
        auto r = run_sql(store, sql);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind() == eventcore::ErrorKind::validation);
        CHECK_THAT(r.error().message(), Catch::Contains(fmt::format("'{}'", name)) && Catch::Contains("reserved"));
    }
    // A read model of its own, beside the store's tables, reading them.
    REQUIRE(run_sql(store, "CREATE TABLE model (x INTEGER)"));
    REQUIRE(run_sql(store, "CREATE TEMP TABLE scratch (x INTEGER)"));
    REQUIRE(run_sql(store, "INSERT INTO model SELECT count(*) FROM events"));
    REQUIRE(run_sql(store, "CREATE INDEX model_x ON model (x)"));
    // A trigger on a read model that would write to the store's tables is refused when it fires.
    REQUIRE(run_sql(store, "CREATE TRIGGER sneaky AFTER INSERT ON model BEGIN DELETE FROM events; END"));
    auto fired = run_sql(store, "INSERT INTO model VALUES (2)");
    REQUIRE_FALSE(fired);
    CHECK_THAT(fired.error().message(), Catch::Contains("'events'") && Catch::Contains("reserved"));

    // Nothing of the store was touched: the log, the checkpoint, and reads through every connection.
    for (int i = 0; i < 8; ++i) CHECK(eventcore::load_log(store)->size() == 1);
    CHECK(store.load_checkpoint("kept")->value() == GlobalPosition{1});
    REQUIRE(eventcore::append_to_stream(store, bank::id("kept"), eventcore::ExpectedVersion::exact(eventcore::StreamVersion{1}),
                                        {bank::MoneyDeposited{6}}));
    CHECK(bank::balance(store, bank::id("kept")) == 11);
}

// Before the fix the release touched the freed store: a use-after-free that AddressSanitizer
// reports (the asan run of CI), and that a plain build may or may not survive.
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

TEST_CASE("SQLite's write turn is bounded by the call's deadline when it comes before the busy timeout",
          "[sqlite][fixes]") {
    TempDir dir;
    eventcore::sqlite::Options options;
    options.busy_timeout = std::chrono::seconds{30};
    auto store = sqlite_in(dir, options);
    std::promise<std::pair<eventcore::Result<eventcore::CommitReceipt>, std::chrono::steady_clock::duration>> appended;
    auto done = appended.get_future();
    std::thread writer;
    auto body = store.transaction([&](eventcore::SqlSession&) -> eventcore::Result<void> {
        writer = std::thread([&] {
            const auto started = std::chrono::steady_clock::now();
            const eventcore::DeadlineScope bound(started + std::chrono::milliseconds{100});
            auto r = eventcore::append_to_stream(store, bank::id("waiting"), eventcore::ExpectedVersion::any(),
                                                 {bank::MoneyDeposited{1}});
            appended.set_value({std::move(r), std::chrono::steady_clock::now() - started});
        });
        (void)done.wait_for(std::chrono::seconds{10});
        return {};
    });
    writer.join();
    REQUIRE(body);
    auto [r, waited] = done.get();
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == eventcore::ErrorKind::timeout);
    CHECK(waited < std::chrono::seconds{10}); // not the busy timeout, nor the body's 10 s
    CHECK(eventcore::load_log(store)->empty());
}
