// Projections do what they say, on PostgreSQL: the lock is let go at once and checked before
// each batch, checkpoints never move back, one projector runs unchanged on SQLite and
// PostgreSQL (parameter types, placeholders), and the store's schema is not a read model's.
#include "support/bank.hpp"
#include "support/projection_scenarios.hpp"

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

