// Projections do what they say, on PostgreSQL: the lock is let go at once and checked before
// each batch, checkpoints never move back, one projector runs unchanged on SQLite and
// PostgreSQL (parameter types, placeholders), and the store's schema is not a read model's.
#include "support/bank.hpp"
#include "support/projection_scenarios.hpp"

#include <eventcore/detail/random.hpp>
#include <eventcore/postgres_event_store.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stop_token>
#include <thread>

using eventcore::ErrorKind;
using eventcore::ExpectedVersion;
using eventcore::GlobalPosition;

namespace {

using BankStore = eventcore::PostgresEventStore<bank::BankEvent>;

auto conninfo() -> const std::string& {
    static const std::string s = [] {
        const char* dir = std::getenv("EVENTCORE_PG_DIR");
        if (dir == nullptr)
            throw std::runtime_error("EVENTCORE_PG_DIR is not set: run these tests with ctest (the `postgres` "
                                     "fixture starts a server) or script/test");
        std::ifstream in(std::string(dir) + "/conninfo");
        std::string line;
        std::getline(in, line);
        if (line.empty()) throw std::runtime_error(std::string("no conninfo in ") + dir);
        return line;
    }();
    return s;
}

/// Schemas (and read-model tables) of one test, dropped at the end.
class Scratch {
public:
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    auto operator=(const Scratch&) -> Scratch& = delete;
    ~Scratch() {
        PGconn* conn = PQconnectdb(conninfo().c_str());
        for (const auto& drop : drops_)
            PQclear(PQexec(conn, ("SET client_min_messages = warning; " + drop).c_str()));
        PQfinish(conn);
    }
    auto schema() -> std::string {
        auto name = fmt::format("t_{:016x}", eventcore::detail::random_u64());
        drops_.push_back(fmt::format("DROP SCHEMA IF EXISTS \"{}\" CASCADE", name));
        return name;
    }
    /// A table name of the connection's default schema (public), for read models.
    auto table() -> std::string {
        auto name = fmt::format("model_{:016x}", eventcore::detail::random_u64());
        drops_.push_back(fmt::format("DROP TABLE IF EXISTS {}", name));
        return name;
    }

private:
    std::vector<std::string> drops_;
};

auto open_store(const std::string& schema) -> BankStore {
    auto store = BankStore::open(conninfo(), {.schema = schema});
    if (!store) FAIL(fmt::format("{}", store.error()));
    return std::move(*store);
}

} // namespace

TEST_CASE("a dropped projection lock is free at once for another session", "[postgres][projection][fixes]") {
    Scratch scratch;
    const auto schema = scratch.schema();
    auto store = open_store(schema);
    constexpr int tries = 200;
    SECTION("a session that is already open asks right after the drop") {
        PGconn* other = PQconnectdb(conninfo().c_str());
        REQUIRE(PQstatus(other) == CONNECTION_OK);
        const auto ask = [&](const std::string& sql) {
            PGresult* r = PQexec(other, sql.c_str());
            REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
            const std::string answer = PQgetvalue(r, 0, 0);
            PQclear(r);
            return answer;
        };
        const auto key = fmt::format("hashtextextended('eventcore.projection.{}.handover', 0)", schema);
        int refused = 0;
        for (int i = 0; i < tries; ++i) {
            auto held = store.lock_projection("handover", std::chrono::milliseconds{0});
            REQUIRE(held);
            REQUIRE(ask(fmt::format("SELECT pg_try_advisory_lock({})", key)) == "f");
            held->reset();
            if (ask(fmt::format("SELECT pg_try_advisory_lock({})", key)) == "t") {
                REQUIRE(ask(fmt::format("SELECT pg_advisory_unlock({})", key)) == "t");
            } else {
                ++refused;
            }
        }
        PQfinish(other);
        CHECK(refused == 0);
    }
    SECTION("another store takes it over") {
        auto second = open_store(schema);
        int refused = 0;
        for (int i = 0; i < tries / 4; ++i) {
            auto& holder = i % 2 == 0 ? store : second;
            auto& next = i % 2 == 0 ? second : store;
            auto held = holder.lock_projection("handover", std::chrono::milliseconds{0});
            REQUIRE(held);
            held->reset();
            auto taken = next.lock_projection("handover", std::chrono::milliseconds{0}); // at once, no wait
            if (!taken) {
                ++refused;
                INFO(taken.error().message());
                CHECK(taken.error().kind() == ErrorKind::timeout);
            }
        }
        CHECK(refused == 0);
    }
}

namespace {

/// Runs SQL on the server directly, bypassing the store; the rows, `|` between columns.
auto raw_sql(const std::string& sql) -> std::string {
    PGconn* conn = PQconnectdb(conninfo().c_str());
    REQUIRE(PQstatus(conn) == CONNECTION_OK);
    PGresult* r = PQexec(conn, sql.c_str());
    const auto status = PQresultStatus(r);
    std::string out;
    if (status == PGRES_TUPLES_OK) {
        for (int row = 0; row < PQntuples(r); ++row) {
            for (int col = 0; col < PQnfields(r); ++col) out += (col ? "|" : "") + std::string(PQgetvalue(r, row, col));
            out += '\n';
        }
    }
    const std::string error = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(conn);
    INFO(sql << ": " << error);
    REQUIRE((status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK));
    return out;
}

/// The backend holding projection `name`'s lock, or 0.
auto lock_holder(const std::string& schema, const std::string& name) -> int {
    const auto out = raw_sql(fmt::format(
        "WITH k AS (SELECT hashtextextended('eventcore.projection.{}.{}', 0) AS key) "
        "SELECT coalesce(max(l.pid), 0) FROM pg_locks l, k WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.objsubid = 1 AND l.classid = ((k.key >> 32) & 4294967295)::oid AND l.objid = (k.key & 4294967295)::oid",
        schema, name));
    return std::stoi(out);
}

} // namespace

TEST_CASE("a runner whose lock session ends stops before its next batch", "[postgres][projection][fixes]") {
    Scratch scratch;
    const auto schema = scratch.schema();
    auto store = open_store(schema);
    for (int i = 0; i < 5; ++i)
        REQUIRE(eventcore::append_to_stream(store, bank::id("live"), ExpectedVersion::any(), {bank::MoneyDeposited{1}}));
    bank::BalanceProjector projector;
    eventcore::ProjectionRunner runner{store, projector,
                                       {.name = "terminated", .stop_check_interval = std::chrono::milliseconds{20}}};
    eventcore::Result<eventcore::ProjectionStatus> ran;
    std::atomic<bool> ended{false};
    std::jthread running([&](std::stop_token stop) {
        ran = runner.run(stop);
        ended = true;
    });
    const auto applied = [&] {
        std::lock_guard lock(projector.mutex);
        return projector.applications.size();
    };
    const auto wait_until = [](auto&& done) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
        while (!done() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds{5});
        return done();
    };
    REQUIRE(wait_until([&] { return applied() == 5; }));

    // The session holding the lock ends (a restarted server, a proxy's idle timeout): another
    // runner could take the projection now.
    const int holder = lock_holder(schema, "terminated");
    REQUIRE(holder != 0);
    raw_sql(fmt::format("SELECT pg_terminate_backend({})", holder));
    REQUIRE(wait_until([&] { return lock_holder(schema, "terminated") == 0; }));
    {
        auto other_store = open_store(schema);
        CHECK(other_store.lock_projection("terminated", std::chrono::milliseconds{0})); // and let go at once
    }

    for (int i = 0; i < 3; ++i)
        REQUIRE(eventcore::append_to_stream(store, bank::id("live"), ExpectedVersion::any(), {bank::MoneyDeposited{1}}));
    const bool stopped = wait_until([&] { return ended.load(); });
    running.request_stop();
    running.join();
    CHECK(stopped);
    REQUIRE_FALSE(ran);
    CHECK(ran.error().kind() == ErrorKind::projection);
    CHECK(ran.error().code() == "EVENTCORE_PROJECTION_LOCK_LOST");
    CHECK_THAT(ran.error().message(), Catch::Contains("'terminated'") && Catch::Contains("lock"));
    CHECK(applied() == 5); // nothing after the lock was lost
    CHECK(store.load_checkpoint("terminated")->value() == GlobalPosition{5});

    // A new runner takes over from the checkpoint.
    eventcore::ProjectionRunner next{store, projector, {.name = "terminated"}};
    auto caught_up = next.catch_up();
    REQUIRE(caught_up);
    CHECK(applied() == 8);
}

TEST_CASE("PostgreSQL checkpoints never move back", "[postgres][projection][fixes]") {
    Scratch scratch;
    SECTION("an at-least-once runner that lost its lock") {
        auto store = open_store(scratch.schema());
        testing_support::at_least_once_checkpoint_never_moves_back(store);
    }
    SECTION("the store's compare-and-set move") {
        auto store = open_store(scratch.schema());
        testing_support::checkpoint_compare_and_set(store);
    }
}

TEST_CASE("a batch-only projector on PostgreSQL: only the failing events meet the policy",
          "[postgres][projection][fixes]") {
    Scratch scratch;
    for (const auto action : {eventcore::OnError::skip, eventcore::OnError::stop, eventcore::OnError::retry}) {
        DYNAMIC_SECTION("policy " << static_cast<int>(action)) {
            auto store = open_store(scratch.schema());
            testing_support::batch_only_projector_narrows_failures(store, action, {7, 130, 131}, 160, 128);
        }
    }
}

TEST_CASE("PostgreSQL read models with uuid, jsonb, timestamptz and nullable integer columns",
          "[postgres][projection][fixes]") {
    Scratch scratch;
    auto store = open_store(scratch.schema());
    testing_support::typed_columns_on_every_store(store, testing_support::TypedReadModel{scratch.table()});
}

TEST_CASE("SqlSession on PostgreSQL binds $N by number and refuses what would bind wrongly",
          "[postgres][projection][fixes]") {
    Scratch scratch;
    auto store = open_store(scratch.schema());
    testing_support::placeholders_bind_by_number(store);
    // Only PostgreSQL has dollar-quoted strings.
    std::vector<std::string> row;
    REQUIRE(store.transaction([&](eventcore::SqlSession& sql) {
        return sql.query("SELECT $q$ $2 $q$, $1, $$'$3'$$", {std::string_view("a")},
                         [&](const eventcore::SqlRow& r) {
                             for (int c = 0; c < r.columns(); ++c) row.emplace_back(r.text(c));
                         });
    }));
    CHECK(row == std::vector<std::string>{" $2 ", "a", "'$3'"});
    // A text value PostgreSQL cannot hold is refused, not cut short.
    auto nul = store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        auto r = sql.execute("SELECT $1", {std::string_view("a\0b", 3)});
        if (!r) return eventcore::fail(std::move(r).error());
        return {};
    });
    REQUIRE_FALSE(nul);
    CHECK(nul.error().kind() == ErrorKind::validation);
    CHECK_THAT(nul.error().message(), Catch::Contains("$1") && Catch::Contains("NUL"));
}

TEST_CASE("PostgreSQL read models stay out of the store's schema", "[postgres][projection][fixes]") {
    Scratch scratch;
    const auto schema = scratch.schema();
    auto store = open_store(schema);
    REQUIRE(eventcore::append_to_stream(store, bank::id("kept"), ExpectedVersion::any(), {bank::MoneyDeposited{5}}));
    REQUIRE(store.save_checkpoint("kept", GlobalPosition{1}));
    const auto relations = [&] {
        return raw_sql(fmt::format("SELECT c.relname, c.relkind, (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE "
                                   "a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) FROM pg_catalog.pg_class c "
                                   "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{}' "
                                   "ORDER BY c.relname",
                                   schema));
    };
    const auto before = relations();
    const auto run = [&](const std::vector<std::string>& statements) {
        return store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
            for (const auto& s : statements) {
                auto r = sql.execute(s);
                if (!r) return eventcore::fail(std::move(r).error());
            }
            return {};
        });
    };
    const auto q = fmt::format("\"{}\"", schema);
    for (const auto& statements : std::vector<std::vector<std::string>>{
             {fmt::format("CREATE TABLE {}.balances (account text PRIMARY KEY)", q)},
             {fmt::format("CREATE TABLE {}.events_copy AS SELECT * FROM {}.events", q, q)},
             {fmt::format("SET LOCAL search_path = {}", q), "CREATE TABLE balances (account text)"},
             {fmt::format("INSERT INTO {}.checkpoints (name, position) VALUES ('forged', 99)", q)},
             {fmt::format("UPDATE {}.checkpoints SET position = 0", q)},
             {fmt::format("DELETE FROM {}.events", q)},
             {fmt::format("ALTER TABLE {}.events ADD COLUMN extra int", q)},
             {fmt::format("CREATE INDEX ON {}.events (event_type)", q)},
             {fmt::format("DROP TABLE {}.checkpoints", q)},
             {fmt::format("SELECT * FROM {}.streams FOR UPDATE", q)},
         }) {
        INFO(statements.back());
        auto r = run(statements);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind() == ErrorKind::validation);
        CHECK_THAT(r.error().message(), Catch::Contains(schema) && Catch::Contains("reserved") &&
                                            Catch::Contains("rolled back"));
    }
    // Reading the store's tables is fine, and so is a read model in the default schema.
    const auto model = scratch.table();
    REQUIRE(run({fmt::format("CREATE TABLE {} (n bigint)", model),
                 fmt::format("INSERT INTO {} SELECT count(*) FROM {}.events", model, q)}));
    CHECK(raw_sql(fmt::format("SELECT n FROM {}", model)) == "1\n");

    // An exactly-once projector that writes into the store's schema stops, and moves nothing.
    struct Intruder {
        std::string schema;
        auto apply(const eventcore::RecordedEvent<bank::BankEvent>&, eventcore::SqlSession& sql) const
            -> eventcore::Result<void> {
            auto r = sql.execute(fmt::format("INSERT INTO \"{}\".checkpoints (name, position) VALUES ('forged', 1)", schema));
            if (!r) return eventcore::fail(std::move(r).error());
            return {};
        }
    };
    Intruder intruder{schema};
    eventcore::ProjectionRunner runner{store, intruder, {.name = "intruder"}};
    auto ran = runner.catch_up();
    REQUIRE_FALSE(ran);
    CHECK(ran.error().kind() == ErrorKind::validation);

    CHECK(relations() == before); // nothing created, dropped or changed in the store's schema
    CHECK(eventcore::load_log(store)->size() == 1);
    CHECK(store.load_checkpoint("kept")->value() == GlobalPosition{1});
    CHECK_FALSE(store.load_checkpoint("forged")->has_value());
    CHECK_FALSE(store.load_checkpoint("intruder")->has_value());
    REQUIRE(eventcore::append_to_stream(store, bank::id("kept"), ExpectedVersion::exact(eventcore::StreamVersion{1}),
                                        {bank::MoneyDeposited{6}}));
    CHECK(bank::balance(store, bank::id("kept")) == 11);
}
