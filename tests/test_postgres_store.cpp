// The PostgreSQL store against a real server: the throwaway one ctest starts for the
// `postgres` fixture (script/postgres), found through EVENTCORE_PG_DIR.
#define CATCH_CONFIG_MAIN
#include "support/bank.hpp"
#include "support/contract.hpp"
#include "support/process.hpp"
#include "support/projection_scenarios.hpp"
#include "support/append_property.hpp"

#include <eventcore/detail/random.hpp>
#include <eventcore/postgres_event_store.hpp>
#include "postgres/schema.hpp"
#include <eventcore/sqlite_event_store.hpp>

#include <libpq-fe.h>

#include <array>
#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

using eventcore::ErrorKind;
using eventcore::ExpectedVersion;
using eventcore::GlobalPosition;
using eventcore::PostgresEventStore;
using eventcore::StreamId;
using eventcore::StreamVersion;
using eventcore::testing::ContractEvent;
using eventcore::testing::ContractHarness;

static_assert(eventcore::LiveEventStore<PostgresEventStore<ContractEvent>>);

namespace {

using ContractStore = PostgresEventStore<ContractEvent>;
using BankStore = PostgresEventStore<bank::BankEvent>;

struct Server {
    std::string dir;
    std::string conninfo;
    std::string ctl;
};

auto server() -> const Server& {
    static const Server s = [] {
        const char* dir = std::getenv("EVENTCORE_PG_DIR");
        if (dir == nullptr) {
            throw std::runtime_error("EVENTCORE_PG_DIR is not set: run these tests with ctest (the `postgres` "
                                     "fixture starts a server) or script/test");
        }
        std::ifstream in(std::string(dir) + "/conninfo");
        std::string conninfo;
        std::getline(in, conninfo);
        if (conninfo.empty()) throw std::runtime_error(std::string("no conninfo in ") + dir);
        return Server{dir, conninfo, std::string(dir) + "/ctl"};
    }();
    return s;
}

/// Runs SQL on the server directly, bypassing the store.
auto raw_sql(const std::string& sql) -> std::string {
    PGconn* conn = PQconnectdb(server().conninfo.c_str());
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

/// A schema of its own for one test (a store each), dropped at the end.
class Schemas {
public:
    Schemas() = default;
    Schemas(const Schemas&) = delete;
    auto operator=(const Schemas&) -> Schemas& = delete;
    ~Schemas() {
        for (const auto& name : names_) {
            PGconn* conn = PQconnectdb(server().conninfo.c_str());
            PQclear(PQexec(conn, fmt::format("SET client_min_messages = warning; DROP SCHEMA IF EXISTS \"{0}\" CASCADE; "
                                             "DROP SCHEMA IF EXISTS \"{0}_rm\" CASCADE",
                                             name)
                                     .c_str()));
            PQfinish(conn);
        }
    }
    auto fresh() -> std::string {
        std::lock_guard lock(mutex_);
        names_.push_back(fmt::format("t_{:016x}", eventcore::detail::random_u64()));
        return names_.back();
    }

private:
    std::mutex mutex_;
    std::vector<std::string> names_;
};

template <class Store>
auto open_store(const std::string& schema, eventcore::postgres::Options options = {}) -> Store {
    options.schema = schema;
    auto store = Store::open(server().conninfo, options);
    if (!store) FAIL(fmt::format("{}", store.error()));
    return std::move(*store);
}

void open_accounts(BankStore& store, int accounts, std::int64_t initial) {
    eventcore::CommandExecutor executor{store};
    for (int a = 0; a < accounts; ++a)
        REQUIRE(executor.execute(bank::OpenAccount{bank::id(fmt::format("account-{}", a)), initial}));
}

/// What must hold of a bank after anything: positions strictly increasing (a gap only where a
/// commit failed after taking its positions, as a killed backend's does), versions contiguous,
/// each transfer whole, contiguous and written once, money conserved.
void check_bank(const BankStore& store, int accounts, std::int64_t initial) {
    const auto log = eventcore::load_log(store).value();
    std::map<StreamId, std::uint64_t> versions;
    std::map<eventcore::Uuid, int> events_per_command;
    for (std::size_t i = 0; i < log.size(); ++i) {
        REQUIRE(log[i].position > (i == 0 ? GlobalPosition{} : log[i - 1].position));
        REQUIRE(log[i].version.value() == ++versions[log[i].stream]);
        ++events_per_command[log[i].metadata.causation_id];
        if (std::holds_alternative<bank::MoneyWithdrawn>(log[i].payload)) {
            REQUIRE(i + 1 < log.size());
            REQUIRE(log[i + 1].metadata.causation_id == log[i].metadata.causation_id);
            REQUIRE(log[i + 1].position == log[i].position.next());
        }
    }
    for (const auto& [command, count] : events_per_command) REQUIRE((count == 1 || count == 2));
    std::int64_t total = 0;
    for (int a = 0; a < accounts; ++a) total += bank::balance(store, bank::id(fmt::format("account-{}", a)));
    CHECK(total == accounts * initial);
}

auto reported_commits(const std::string& output) -> std::vector<eventcore::Uuid> {
    std::vector<eventcore::Uuid> ids;
    std::istringstream lines(output);
    std::string tag;
    std::string id;
    while (lines >> tag >> id) {
        if (tag == "C") ids.push_back(eventcore::Uuid::parse(id).value());
    }
    return ids;
}

auto password_of(const std::string& conninfo) -> std::string {
    const auto at = conninfo.find("password=");
    REQUIRE(at != std::string::npos);
    const auto end = conninfo.find(' ', at);
    return conninfo.substr(at + 9, end - at - 9);
}

} // namespace

TEST_CASE("the PostgreSQL store keeps the store contract", "[postgres][contract]") {
    Schemas schemas;
    testing_support::check_store_contract(ContractHarness<ContractStore>{
        .make = [&] { return std::make_unique<ContractStore>(open_store<ContractStore>(schemas.fresh())); },
        .corrupt_payload = [](ContractStore& store, const StreamId& stream, StreamVersion version) {
            raw_sql(fmt::format("UPDATE \"{}\".events SET payload = '\\x7b22' WHERE stream_id = '{}' AND version = {}",
                                store.database()->options().schema, stream, version));
        }});
}

TEST_CASE("the executor runs bank transfers on PostgreSQL", "[postgres]") {
    Schemas schemas;
    auto store = open_store<BankStore>(schemas.fresh());
    eventcore::CommandExecutor executor{store};
    REQUIRE(executor.execute(bank::OpenAccount{bank::id("account-1"), 1000}));
    REQUIRE(executor.execute(bank::OpenAccount{bank::id("account-2"), 500}));
    auto r = executor.execute(bank::TransferMoney{bank::id("account-1"), bank::id("account-2"), 300});
    REQUIRE(r);
    CHECK(r->events.size() == 2);
    CHECK(bank::balance(store, bank::id("account-1")) == 700);
    CHECK(bank::balance(store, bank::id("account-2")) == 800);
    CHECK(store.database()->stored_schema_version().value() == eventcore::postgres::schema_version);
}

TEST_CASE("a result holds the events it wrote whole, also for a duplicate (PostgreSQL)", "[postgres]") {
    Schemas schemas;
    auto store = open_store<BankStore>(schemas.fresh());
    bank::check_result_holds_written_events(store);
}

TEST_CASE("twin executions with one command id commit once", "[postgres]") {
    Schemas schemas;
    auto store = open_store<BankStore>(schemas.fresh());
    open_accounts(store, 2, 100);
    eventcore::CommandExecutor executor{store};
    const eventcore::ExecuteOptions once{.command_id = eventcore::Uuid::v7()};
    std::vector<std::thread> twins;
    std::atomic<int> fresh{0};
    std::atomic<int> duplicates{0};
    std::atomic<int> errors{0};
    for (int t = 0; t < 6; ++t) {
        twins.emplace_back([&] {
            auto r = executor.execute(bank::TransferMoney{bank::id("account-0"), bank::id("account-1"), 60}, once);
            if (!r) {
                ++errors;
            } else if (r->duplicate) {
                ++duplicates;
            } else {
                ++fresh;
            }
        });
    }
    for (auto& t : twins) t.join();
    CHECK(errors == 0);
    CHECK(fresh == 1);
    CHECK(duplicates == 5);
    CHECK(bank::balance(store, bank::id("account-0")) == 40);
}

TEST_CASE("several processes run transfers on one database: invariants hold", "[postgres][multi-process]") {
    constexpr int accounts = 5;
    constexpr int processes = 3;
    constexpr int transfers = 100;
    Schemas schemas;
    const auto schema = schemas.fresh();
    auto store = open_store<BankStore>(schema);
    open_accounts(store, accounts, 1000);

    std::vector<std::unique_ptr<testing_support::Child>> workers;
    for (int p = 0; p < processes; ++p) {
        workers.push_back(std::make_unique<testing_support::Child>(std::vector<std::string>{
            EVENTCORE_STORE_WORKER, "postgres", server().conninfo, schema, std::to_string(accounts),
            std::to_string(transfers), std::to_string(p + 1)}));
    }
    std::vector<eventcore::Uuid> committed;
    for (auto& w : workers) {
        CHECK(w->wait() == 0);
        const auto ids = reported_commits(w->output());
        committed.insert(committed.end(), ids.begin(), ids.end());
    }
    CHECK(committed.size() > 0);
    check_bank(store, accounts, 1000);
    for (const auto& id : committed) REQUIRE(store.find_commit(id).value().has_value());
    CHECK(eventcore::load_log(store)->size() == accounts + 2 * committed.size());
}

TEST_CASE("statements prepared on a connection are prepared again after DEALLOCATE", "[postgres]") {
    // The per-command statements are prepared once per connection. A read-model statement that
    // drops them (DEALLOCATE, DISCARD ALL) must not break the connection for the store.
    Schemas schemas;
    const auto schema = schemas.fresh();
    auto store = open_store<BankStore>(schema, {.pool_size = 1});
    open_accounts(store, 2, 100);
    eventcore::CommandExecutor executor{store};
    REQUIRE(executor.execute(bank::TransferMoney{bank::id("account-0"), bank::id("account-1"), 10}));
    REQUIRE(store.transaction([](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        auto dropped = sql.execute("DEALLOCATE ALL");
        if (!dropped) return eventcore::fail(std::move(dropped).error());
        return {};
    }));
    REQUIRE(executor.execute(bank::TransferMoney{bank::id("account-1"), bank::id("account-0"), 30}));
    REQUIRE(store.find_commit(eventcore::Uuid::v7()));
    REQUIRE(store.head());

    SECTION("one statement dropped: it alone is prepared again, the others keep working") {
        REQUIRE(store.transaction([](eventcore::SqlSession& sql) -> eventcore::Result<void> {
            auto dropped = sql.execute("DEALLOCATE eventcore_head");
            if (!dropped) return eventcore::fail(std::move(dropped).error());
            return {};
        }));
        for (int i = 0; i < 2; ++i) {
            REQUIRE(store.head());
            REQUIRE(executor.execute(bank::TransferMoney{bank::id("account-0"), bank::id("account-1"), 1}));
            REQUIRE(store.find_commit(eventcore::Uuid::v7()));
        }
    }
    SECTION("a name taken by a statement of the user is replaced") {
        // A second store has a connection of its own, where the user prepared a statement of
        // the store's name before the store's first use of it.
        auto other = open_store<BankStore>(schema, {.pool_size = 1});
        REQUIRE(other.transaction([](eventcore::SqlSession& sql) -> eventcore::Result<void> {
            auto taken = sql.execute("PREPARE eventcore_head AS SELECT 1");
            if (!taken) return eventcore::fail(std::move(taken).error());
            return {};
        }));
        REQUIRE(other.head());
        CHECK(other.head().value() == store.head().value());
    }
    check_bank(store, 2, 100);
}

TEST_CASE("live and paging readers see every commit once, in order, while 2 processes x 8 threads commit and "
          "one commit is held open for a second",
          "[postgres][ordering][multi-process]") {
    Schemas schemas;
    const auto schema = schemas.fresh();
    auto store = open_store<BankStore>(schema, {.pool_size = 4});
    using Event = eventcore::RecordedEvent<bank::BankEvent>;

    // The live reader waits for commits (the store's notifications, or its polling) and reads
    // what came; the paging reader reads small pages as fast as it can. Both stop when told and
    // caught up with the head.
    // (Catch2's assertions are for the main thread: the readers keep their first error.)
    std::atomic<bool> writers_done{false};
    const auto follow = [&](bool live, std::vector<Event>& seen, std::string& error) {
        GlobalPosition after{};
        for (;;) {
            const bool done = writers_done;
            auto page = store.read_all(eventcore::LogQuery{.after = after, .limit = live ? 200u : 7u},
                                       [&](const Event& e) { seen.push_back(e); });
            if (!page) {
                error = page.error().message();
                return;
            }
            after = page->last;
            if (done && page->count == 0 && after == page->head) return;
            if (live && page->count == 0) {
                if (auto woken = store.wait_for_events(after, std::chrono::milliseconds{500}); !woken) {
                    error = woken.error().message();
                    return;
                }
            }
        }
    };
    std::vector<Event> live_seen;
    std::vector<Event> paged_seen;
    std::string live_error;
    std::string paged_error;
    std::thread live([&] { follow(true, live_seen, live_error); });
    std::thread paged([&] { follow(false, paged_seen, paged_error); });

    std::vector<std::unique_ptr<testing_support::Child>> workers;
    for (int p = 0; p < 2; ++p) {
        workers.push_back(std::make_unique<testing_support::Child>(std::vector<std::string>{
            EVENTCORE_STORE_WORKER, "append-postgres", server().conninfo, schema, "8", "2.5", std::to_string(p)}));
    }
    // A commit that takes its positions, then holds its transaction open for a second while
    // the workers commit past it.
    std::this_thread::sleep_for(std::chrono::milliseconds{500});
    {
        PGconn* conn = PQconnectdb(server().conninfo.c_str());
        REQUIRE(PQstatus(conn) == CONNECTION_OK);
        const auto sql = fmt::format(
            "BEGIN; SELECT count(*) FROM \"{0}\".append_events(ARRAY['held'], ARRAY[0]::int2[], ARRAY[0]::int8[], "
            "ARRAY[true], ARRAY[1, 1], ARRAY['MoneyDeposited', 'MoneyDeposited'], "
            "ARRAY[convert_to('{{\"amount\":1}}', 'UTF8'), convert_to('{{\"amount\":2}}', 'UTF8')], "
            "ARRAY[gen_random_uuid(), gen_random_uuid()], ARRAY[gen_random_uuid(), gen_random_uuid()], "
            "ARRAY['{1}'::uuid, '{1}'::uuid], ARRAY['Held', 'Held'], ARRAY[NULL, NULL]::text[], NULL); "
            "SELECT pg_sleep(1); COMMIT;",
            schema, eventcore::Uuid::v7());
        PGresult* r = PQexec(conn, sql.c_str());
        CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
        PQclear(r);
        PQfinish(conn);
    }
    for (auto& w : workers) CHECK(w->wait() == 0);
    writers_done = true;
    live.join();
    paged.join();
    CHECK(live_error.empty());
    CHECK(paged_error.empty());

    const auto log = eventcore::load_log(store).value();
    std::set<eventcore::Uuid> all;
    for (const auto& e : log) all.insert(e.metadata.event_id);
    REQUIRE(all.size() == log.size());
    std::size_t held = 0;
    for (const auto& e : log) held += e.stream == bank::id("held") ? 1U : 0U;
    CHECK(held == 2);
    for (const auto* seen : {&live_seen, &paged_seen}) {
        INFO((seen == &live_seen ? "live reader" : "paging reader") << ": " << seen->size() << " events of " << log.size());
        std::set<eventcore::Uuid> ids;
        for (std::size_t i = 0; i < seen->size(); ++i) {
            if (i > 0) REQUIRE((*seen)[i].position > (*seen)[i - 1].position); // in order, never one twice
            ids.insert((*seen)[i].metadata.event_id);
        }
        CHECK(ids == all); // none skipped
    }
    CHECK(log.size() > 1000);
}

TEST_CASE("commits cancelled by statement_timeout at any point never leave the positions lock held",
          "[postgres][faults]") {
    Schemas schemas;
    const auto schema = schemas.fresh();
    auto store = open_store<BankStore>(schema);
    // A timeout so short that the server cancels many commits part-way, some of them while the
    // commit function holds the lock its positions are taken under.
    auto opened = BankStore::open(server().conninfo,
                                  {.schema = schema, .pool_size = 4, .statement_timeout = std::chrono::milliseconds{3}});
    for (int attempt = 0; !opened && attempt < 100; ++attempt) { // opening may be cut off too
        opened = BankStore::open(server().conninfo,
                                 {.schema = schema, .pool_size = 4, .statement_timeout = std::chrono::milliseconds{3}});
    }
    REQUIRE(opened);
    auto& cut = *opened;
    constexpr int writer_count = 4;
    std::atomic<int> cancelled{0};
    std::atomic<int> landed{0};
    std::atomic<int> unexpected{0};
    std::array<std::uint64_t, writer_count> events_landed{}; // each written by its own writer only
    std::vector<std::thread> writers;
    for (int t = 0; t < writer_count; ++t) {
        writers.emplace_back([&, t] {
            for (int i = 0; i < 150; ++i) {
                const auto size = static_cast<std::size_t>(1 + i % 5);
                const auto stream = bank::id(fmt::format("cut-{}", t));
                eventcore::AppendRequest<bank::BankEvent> request;
                request.expectations.push_back({stream, ExpectedVersion::any()});
                eventcore::EventMetadata metadata;
                metadata.causation_id = eventcore::Uuid::v7(); // tells this append's events from others
                for (std::size_t e = 0; e < size; ++e) request.events.push_back({stream, bank::MoneyDeposited{1}, metadata});
                auto r = cut.append(std::move(request));
                if (r) {
                    ++landed;
                    events_landed[static_cast<std::size_t>(t)] += size;
                } else if (r.error().is(ErrorKind::timeout)) {
                    ++cancelled; // reported as not written: the stream's count below holds it to that
                } else {
                    ++unexpected;
                }
            }
        });
    }
    for (auto& w : writers) w.join();
    INFO("cancelled " << cancelled << ", landed " << landed << ", other failures " << unexpected);
    CHECK(cancelled > 0);
    CHECK(unexpected == 0);
    // No session of the cut store still holds it, and other writers get through at once.
    CHECK(raw_sql(fmt::format("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1700946689 "
                              "AND objid = hashtext('\"{}\"')::oid",
                              schema)) == "0\n");
    auto next = std::async(std::launch::async, [&] {
        return eventcore::append_to_stream(store, bank::id("after"), ExpectedVersion::any(), {bank::MoneyDeposited{1}});
    });
    REQUIRE(next.wait_for(std::chrono::seconds{20}) == std::future_status::ready);
    CHECK(next.get());
    // Every append reported written is there, whole and in one piece; none reported cancelled is.
    const auto log = eventcore::load_log(store).value();
    std::map<StreamId, std::uint64_t> versions;
    std::set<eventcore::Uuid> appends_seen;
    for (std::size_t i = 0; i < log.size(); ++i) {
        REQUIRE(log[i].position > (i == 0 ? GlobalPosition{} : log[i - 1].position));
        REQUIRE(log[i].version.value() == ++versions[log[i].stream]);
        if (i > 0 && log[i].metadata.causation_id == log[i - 1].metadata.causation_id) {
            REQUIRE(log[i].position == log[i - 1].position.next());
        } else {
            REQUIRE(appends_seen.insert(log[i].metadata.causation_id).second); // never split
        }
    }
    for (int t = 0; t < writer_count; ++t) {
        INFO("stream cut-" << t);
        CHECK(versions[bank::id(fmt::format("cut-{}", t))] == events_landed[static_cast<std::size_t>(t)]);
    }
}

TEST_CASE("a live reader sees every event once, in order, while commits finish out of start order",
          "[postgres][ordering]") {
    constexpr int accounts = 6;
    Schemas schemas;
    const auto schema = schemas.fresh();
    auto store = open_store<BankStore>(schema, {.pool_size = 12});
    open_accounts(store, accounts, 1000);
    eventcore::CommandExecutor executor{store, {.retry = eventcore::RetryPolicy{.max_attempts = 100,
                                                                               .initial_delay = std::chrono::microseconds{100},
                                                                               .max_delay = std::chrono::milliseconds{2}}}};
    std::atomic<int> finished{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
        writers.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t));
            std::uniform_int_distribution<int> pick(0, accounts - 1);
            for (int i = 0; i < 60; ++i) {
                const int from = pick(rng);
                const int to = (from + 1 + pick(rng) % (accounts - 1)) % accounts;
                auto r = executor.execute(bank::TransferMoney{bank::id(fmt::format("account-{}", from)),
                                                              bank::id(fmt::format("account-{}", to)), 1});
                if (!r && !r.error().is(ErrorKind::business_rule)) ++failures;
            }
            ++finished;
        });
    }
    // Transactions that begin, wait while others start and commit, and only then commit their
    // own events: they started first and commit last.
    writers.emplace_back([&] {
        PGconn* conn = PQconnectdb(server().conninfo.c_str());
        for (int i = 0; i < 15 && PQstatus(conn) == CONNECTION_OK; ++i) {
            const auto sql = fmt::format(
                "BEGIN; SELECT 1; SELECT pg_sleep(0.01); "
                "SELECT count(*) FROM \"{0}\".append_events(ARRAY['slow-{1}'], ARRAY[0]::int2[], ARRAY[0]::int8[], "
                "ARRAY[true], ARRAY[1, 1], ARRAY['MoneyDeposited', 'MoneyDeposited'], "
                "ARRAY[convert_to('{{\"amount\":1}}', 'UTF8'), convert_to('{{\"amount\":2}}', 'UTF8')], "
                "ARRAY[gen_random_uuid(), gen_random_uuid()], ARRAY[gen_random_uuid(), gen_random_uuid()], "
                "ARRAY['{2}'::uuid, '{2}'::uuid], ARRAY['Slow', 'Slow'], ARRAY[NULL, NULL]::text[], NULL); "
                "SELECT pg_sleep(0.02); COMMIT;",
                schema, i % 3, eventcore::Uuid::v7());
            PGresult* r = PQexec(conn, sql.c_str());
            if (PQresultStatus(r) != PGRES_COMMAND_OK) ++failures;
            PQclear(r);
        }
        PQfinish(conn);
        ++finished;
    });

    // The reader tails the log in small pages, as a subscription would, until everyone is done
    // and it has caught up.
    std::vector<eventcore::RecordedEvent<bank::BankEvent>> seen;
    GlobalPosition after{};
    for (;;) {
        const bool everyone_done = finished == static_cast<int>(writers.size());
        auto page = store.read_all(eventcore::LogQuery{.after = after, .limit = 5},
                                   [&](const auto& e) { seen.push_back(e); });
        REQUIRE(page);
        after = page->last;
        if (everyone_done && page->count == 0 && after == page->head) break;
    }
    for (auto& w : writers) w.join();
    CHECK(failures == 0);

    const auto log = eventcore::load_log(store).value();
    REQUIRE(seen.size() == log.size());
    std::map<StreamId, std::uint64_t> versions;
    for (std::size_t i = 0; i < log.size(); ++i) {
        REQUIRE(seen[i].position == log[i].position); // every event once, in order
        REQUIRE(seen[i].metadata.event_id == log[i].metadata.event_id);
        REQUIRE(seen[i].version.value() == ++versions[seen[i].stream]);
    }
    check_bank(store, accounts, 1000);
}

TEST_CASE("a server restart: unavailable while down, working after, nothing lost or doubled",
          "[postgres][faults]") {
    constexpr int accounts = 4;
    Schemas schemas;
    auto store = open_store<BankStore>(schemas.fresh(), {.acquire_timeout = std::chrono::milliseconds{2000},
                                                         .connect_timeout = std::chrono::seconds{2}});
    open_accounts(store, accounts, 1000);
    eventcore::CommandExecutor executor{store};

    std::atomic<bool> running{true};
    std::mutex results_mutex;
    std::vector<eventcore::Uuid> committed;
    std::vector<eventcore::Uuid> said_unwritten; // failures that say nothing was written
    std::map<ErrorKind, int> errors;
    std::thread client([&] {
        std::mt19937 rng(3);
        std::uniform_int_distribution<int> pick(0, accounts - 1);
        while (running) {
            const int from = pick(rng);
            const int to = (from + 1) % accounts;
            const auto id = eventcore::Uuid::v7();
            auto r = executor.execute(bank::TransferMoney{bank::id(fmt::format("account-{}", from)),
                                                          bank::id(fmt::format("account-{}", to)), 1},
                                      {.command_id = id});
            std::lock_guard lock(results_mutex);
            if (r) {
                committed.push_back(id);
            } else {
                ++errors[r.error().kind()];
                if (!r.error().is(ErrorKind::in_doubt)) said_unwritten.push_back(id);
                std::this_thread::sleep_for(std::chrono::milliseconds{20});
            }
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds{400});
    REQUIRE(std::system((server().ctl + " stop").c_str()) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds{600});
    std::size_t committed_while_down = 0;
    {
        std::lock_guard lock(results_mutex);
        committed_while_down = committed.size();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    {
        std::lock_guard lock(results_mutex);
        CHECK(committed.size() == committed_while_down); // nothing commits while the server is down
    }
    REQUIRE(std::system((server().ctl + " start").c_str()) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds{800});
    running = false;
    client.join();

    INFO("committed " << committed.size() << ", unavailable " << errors[ErrorKind::store_unavailable]);
    CHECK(errors[ErrorKind::store_unavailable] > 0);
    for (const auto& [kind, count] : errors) {
        INFO(eventcore::to_string(kind));
        // A commit cut off by the shutdown is in doubt; the rest found the server gone.
        CHECK((kind == ErrorKind::store_unavailable || kind == ErrorKind::business_rule ||
               kind == ErrorKind::in_doubt));
    }
    CHECK(committed.size() > committed_while_down); // commands work again after the restart
    check_bank(store, accounts, 1000);
    for (const auto& id : committed) REQUIRE(store.find_commit(id).value().has_value());
    for (const auto& id : said_unwritten) REQUIRE_FALSE(store.find_commit(id).value().has_value());
    WARN(fmt::format("server stopped and started: {} committed, {} in doubt, {} reported failed (none landed)",
                     committed.size(), errors[ErrorKind::in_doubt], said_unwritten.size()));
}

TEST_CASE("backends killed with SIGKILL during transfers: nothing reported failed landed, nothing lost",
          "[postgres][faults]") {
    // A backend killed with SIGKILL makes the server end every session and recover: commits in
    // flight are in doubt, and for a while every call finds the server unavailable.
    constexpr int accounts = 6;
    constexpr int clients = 4;
    Schemas schemas;
    auto store = open_store<BankStore>(schemas.fresh(), {.pool_size = clients + 1,
                                                         .acquire_timeout = std::chrono::milliseconds{5000},
                                                         .connect_timeout = std::chrono::seconds{2}});
    open_accounts(store, accounts, 1000);
    eventcore::CommandExecutor executor{store, {.retry = eventcore::RetryPolicy{.max_attempts = 20,
                                                                                 .initial_delay = std::chrono::milliseconds{2},
                                                                                 .max_delay = std::chrono::milliseconds{50}}}};
    std::atomic<bool> running{true};
    std::mutex results_mutex;
    std::vector<eventcore::Uuid> committed, in_doubt, said_unwritten;
    std::map<ErrorKind, int> errors;
    int wrong_ids = 0; // in-doubt errors without their command id (counted: Catch2 checks are not thread-safe)
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(11 + t));
            std::uniform_int_distribution<int> pick(0, accounts - 1);
            while (running) {
                const int from = pick(rng);
                const int to = (from + 1 + pick(rng) % (accounts - 1)) % accounts;
                const auto id = eventcore::Uuid::v7();
                auto r = executor.execute(bank::TransferMoney{bank::id(fmt::format("account-{}", from)),
                                                              bank::id(fmt::format("account-{}", to)), 1},
                                          {.command_id = id});
                std::lock_guard lock(results_mutex);
                if (r) {
                    committed.push_back(id);
                    continue;
                }
                ++errors[r.error().kind()];
                if (r.error().is(ErrorKind::in_doubt)) {
                    wrong_ids += r.error().command_id() == id ? 0 : 1;
                    in_doubt.push_back(id);
                } else {
                    said_unwritten.push_back(id);
                }
                std::this_thread::sleep_for(std::chrono::milliseconds{10});
            }
        });
    }
    const auto wait_until_up = [] {
        // While the server recovers it refuses connections.
        for (int i = 0; i < 300; ++i) {
            PGconn* conn = PQconnectdb(server().conninfo.c_str());
            const bool up = PQstatus(conn) == CONNECTION_OK;
            PQfinish(conn);
            if (up) return;
            std::this_thread::sleep_for(std::chrono::milliseconds{100});
        }
    };
    constexpr int kills = 5;
    int killed = 0;
    for (int k = 0; k < kills; ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds{700});
        wait_until_up();
        // A client backend of the test server that is running a statement of the store's schema.
        const auto pids = raw_sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND "
                                  "pid <> pg_backend_pid() AND datname = current_database() AND state = 'active'");
        std::istringstream lines(pids);
        std::string pid;
        if (std::getline(lines, pid) && !pid.empty() && ::kill(std::stoi(pid), SIGKILL) == 0) ++killed;
        std::this_thread::sleep_for(std::chrono::milliseconds{200});
    }
    wait_until_up();
    std::this_thread::sleep_for(std::chrono::milliseconds{500});
    running = false;
    for (auto& t : threads) t.join();
    wait_until_up();
    CHECK(wrong_ids == 0);

    std::size_t doubted_landed = 0;
    for (const auto& id : in_doubt) doubted_landed += store.find_commit(id).value().has_value() ? 1U : 0U;
    INFO("killed " << killed << ", committed " << committed.size() << ", in doubt " << in_doubt.size() << " ("
                   << doubted_landed << " landed), reported failed " << said_unwritten.size());
    CHECK(killed > 0);
    CHECK(committed.size() > 0);
    check_bank(store, accounts, 1000);
    for (const auto& id : committed) REQUIRE(store.find_commit(id).value().has_value());
    // The rule that matters: a failure other than in_doubt says nothing was written, and is true.
    for (const auto& id : said_unwritten) REQUIRE_FALSE(store.find_commit(id).value().has_value());
    for (const auto& [kind, count] : errors) {
        INFO(eventcore::to_string(kind) << " x" << count);
        CHECK((kind == ErrorKind::store_unavailable || kind == ErrorKind::business_rule ||
               kind == ErrorKind::in_doubt || kind == ErrorKind::timeout));
    }
    WARN(fmt::format("SIGKILL of {} backends: {} committed, {} in doubt ({} of them landed), {} reported failed "
                     "(none landed)",
                     killed, committed.size(), in_doubt.size(), doubted_landed, said_unwritten.size()));
}

TEST_CASE("bad connections and schemas are clear errors that never show the password", "[postgres][bad-input]") {
    const auto& conninfo = server().conninfo;
    const auto password = password_of(conninfo);

    SECTION("a wrong password") {
        auto wrong = conninfo;
        wrong.replace(wrong.find(password), password.size(), "not-the-password");
        auto store = BankStore::open(wrong);
        REQUIRE_FALSE(store);
        CHECK(store.error().kind() == ErrorKind::store_unavailable);
        CHECK_THAT(store.error().message(), Catch::Contains("password authentication failed"));
        CHECK(store.error().message().find("not-the-password") == std::string::npos);
        CHECK(store.error().message().find(password) == std::string::npos);
    }
    SECTION("an unreachable server") {
        auto store = BankStore::open(
            fmt::format("host=127.0.0.1 port=1 user=eventcore password={} dbname=eventcore connect_timeout=2", password));
        REQUIRE_FALSE(store);
        CHECK(store.error().kind() == ErrorKind::store_unavailable);
        CHECK_THAT(store.error().message(), Catch::Contains("127.0.0.1"));
        CHECK(store.error().message().find(password) == std::string::npos);
    }
    SECTION("a schema from a newer eventcore") {
        Schemas schemas;
        const auto schema = schemas.fresh();
        (void)open_store<BankStore>(schema);
        raw_sql(fmt::format("INSERT INTO \"{}\".schema_version (version) VALUES (99)", schema));
        auto store = BankStore::open(conninfo, {.schema = schema});
        REQUIRE_FALSE(store);
        CHECK(store.error().kind() == ErrorKind::storage);
        CHECK_THAT(store.error().message(),
                   Catch::Contains("version 99") &&
                       Catch::Contains(fmt::format("supports ({})", eventcore::postgres::schema_version)));
        CHECK(store.error().message().find(password) == std::string::npos);
    }
    SECTION("a schema name that is not a plain identifier") {
        for (const char* bad : {"", "Upper", "1abc", "a-b", "x\"; DROP TABLE y; --", "pg_catalog"}) {
            auto store = BankStore::open(conninfo, {.schema = bad});
            REQUIRE_FALSE(store);
            CHECK(store.error().kind() == ErrorKind::validation);
        }
    }
    SECTION("a malformed connection string is refused without repeating it") {
        for (const char* bad : {"host=db password=s3cret dbname", "host=db password='s3cret dbname=x",
                                "postgresql://app:s3cret@[db/bank"}) {
            auto store = BankStore::open(bad);
            REQUIRE_FALSE(store);
            CHECK(store.error().kind() == ErrorKind::validation);
            CHECK_THAT(store.error().message(), Catch::Contains("connection string is malformed"));
            CHECK(store.error().message().find("s3cret") == std::string::npos);
        }
    }
    SECTION("a password is removed from what messages show of a connection string") {
        CHECK(eventcore::postgres::redact("host=db port=5432 user=app password=s3cret dbname=bank") ==
              "user=app dbname=bank host=db port=5432");
        CHECK(eventcore::postgres::redact("postgresql://app:s3cret@db:5432/bank").find("s3cret") == std::string::npos);
    }
}

TEST_CASE("a waiting reader wakes when a commit lands (LISTEN/NOTIFY)", "[postgres]") {
    Schemas schemas;
    auto store = open_store<BankStore>(schemas.fresh());
    auto& db = *store.database();
    // Nothing to wait for: the timeout passes and the head is unchanged.
    auto idle = db.wait_for_events(GlobalPosition{0}, std::chrono::milliseconds{50});
    REQUIRE(idle);
    CHECK(*idle == GlobalPosition{0});

    std::thread committer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
        (void)eventcore::append_to_stream(store, bank::id("account-0"), ExpectedVersion::any(),
                                          {bank::AccountOpened{1}});
    });
    const auto started = std::chrono::steady_clock::now();
    auto woken = db.wait_for_events(GlobalPosition{0}, std::chrono::seconds{30});
    const auto waited = std::chrono::steady_clock::now() - started;
    committer.join();
    REQUIRE(woken);
    CHECK(*woken == GlobalPosition{1});
    CHECK(waited < std::chrono::seconds{30}); // woken by the commit, not by the timeout
    // Already past `after`: returns at once.
    CHECK(db.wait_for_events(GlobalPosition{0}, std::chrono::seconds{30}).value() == GlobalPosition{1});
}

TEST_CASE("many readers wait for commits at once, each woken by the commit or its own timeout", "[postgres]") {
    Schemas schemas;
    auto store = open_store<BankStore>(schemas.fresh());
    auto& db = *store.database();
    constexpr int readers = 4;
    const auto wait_all = [&](std::chrono::milliseconds timeout) {
        std::vector<std::future<eventcore::Result<GlobalPosition>>> waits;
        for (int i = 0; i < readers; ++i)
            waits.push_back(std::async(std::launch::async, [&db, timeout] { return db.wait_for_events(GlobalPosition{0}, timeout); }));
        return waits;
    };
    // Long waiters are listening; a short waiter started after them still returns at its own
    // timeout, while they go on waiting. (Queued behind them, it would return after them.)
    auto waits = wait_all(std::chrono::seconds{120});
    std::this_thread::sleep_for(std::chrono::milliseconds{100}); // let them start waiting first
    auto short_wait = db.wait_for_events(GlobalPosition{0}, std::chrono::milliseconds{200});
    REQUIRE(short_wait);
    CHECK(*short_wait == GlobalPosition{0});
    for (auto& w : waits) CHECK(w.wait_for(std::chrono::seconds{0}) == std::future_status::timeout);

    // One commit wakes them all, long before their timeout.
    REQUIRE(eventcore::append_to_stream(store, bank::id("account-0"), ExpectedVersion::any(), {bank::AccountOpened{1}}));
    for (auto& w : waits) {
        REQUIRE(w.wait_for(std::chrono::seconds{60}) == std::future_status::ready);
        CHECK(w.get().value() == GlobalPosition{1});
    }
}

TEST_CASE("processes starting together migrate the schema once", "[postgres]") {
    Schemas schemas;
    const auto schema = schemas.fresh();
    std::vector<std::thread> openers;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
        openers.emplace_back([&] {
            auto store = BankStore::open(server().conninfo, {.schema = schema});
            if (!store) {
                ++failures;
                fmt::print(stderr, "{}\n", store.error());
            }
        });
    }
    for (auto& t : openers) t.join();
    CHECK(failures == 0);
    CHECK(raw_sql(fmt::format("SELECT count(*) FROM \"{}\".schema_version", schema)) ==
          fmt::format("{}\n", eventcore::postgres::schema_version));
}

TEST_CASE("a store written with schema version 2 is migrated, keeping its log, records and checkpoints",
          "[postgres]") {
    Schemas schemas;
    const auto schema = schemas.fresh();
    using eventcore::postgres::detail::in_schema;
    // Schema version 2 as eventcore left it, written by its own commit function: two accounts
    // opened, a transfer with a command id, a refused commit, and a checkpoint.
    for (int v = 0; v < 2; ++v) {
        raw_sql(in_schema(eventcore::postgres::detail::migrations[v], schema));
        raw_sql(fmt::format("INSERT INTO \"{}\".schema_version (version) VALUES ({})", schema, v + 1));
    }
    const auto commit = [&](std::string_view streams, std::string_view kinds, std::string_view expected,
                            std::string_view event_streams, std::string_view types, std::string_view payloads,
                            std::string_view command_id) {
        return raw_sql(in_schema(fmt::format(
            "SELECT o_kind FROM {{s}}.append_events(ARRAY[{0}], ARRAY[{1}]::int2[], ARRAY[{2}]::int8[], "
            "(SELECT array_agg(true) FROM unnest(ARRAY[{0}])), ARRAY[{3}]::int4[], ARRAY[{4}], "
            "(SELECT array_agg(convert_to(x, 'UTF8')) FROM unnest(ARRAY[{5}]) x), "
            "(SELECT array_agg(gen_random_uuid()) FROM unnest(ARRAY[{4}])), "
            "(SELECT array_agg('00000000-0000-4000-8000-000000000001'::uuid) FROM unnest(ARRAY[{4}])), "
            "(SELECT array_agg('00000000-0000-4000-8000-000000000002'::uuid) FROM unnest(ARRAY[{4}])), "
            "(SELECT array_agg('Migrated'::text) FROM unnest(ARRAY[{4}])), "
            "(SELECT array_agg(NULL::text) FROM unnest(ARRAY[{4}])), {6})",
            streams, kinds, expected, event_streams, types, payloads, command_id),
            schema));
    };
    commit("'account-0', 'account-1'", "1, 1", "0, 0", "1, 2", "'AccountOpened', 'AccountOpened'",
           R"('{"initial_balance":100}', '{"initial_balance":100}')", "NULL");
    const auto transfer = eventcore::Uuid::parse("0190a0c2-0000-7000-8000-00000000002a").value();
    commit("'account-0', 'account-1'", "3, 3", "1, 1", "1, 2", "'MoneyWithdrawn', 'MoneyDeposited'",
           R"('{"amount":30}', '{"amount":30}')", fmt::format("'{}'::uuid", transfer));
    CHECK(commit("'account-0'", "3", "1", "1", "'MoneyDeposited'", R"('{"amount":1}')", "NULL") == "2\n"); // refused
    raw_sql(fmt::format("INSERT INTO \"{}\".checkpoints (name, position) VALUES ('balances', 2)", schema));

    auto store = open_store<BankStore>(schema);
    CHECK(store.database()->stored_schema_version().value() == eventcore::postgres::schema_version);
    CHECK(bank::balance(store, bank::id("account-0")) == 70);
    CHECK(bank::balance(store, bank::id("account-1")) == 130);
    CHECK(store.head().value() == GlobalPosition{4});
    CHECK(store.load_checkpoint("balances").value() == GlobalPosition{2});
    // The transfer's record still answers for it, whether asked or committed again.
    const auto found = store.find_commit(transfer).value();
    REQUIRE(found);
    REQUIRE(found->events.size() == 2);
    CHECK(found->events[0].position == GlobalPosition{3});
    CHECK(found->events[1].position == GlobalPosition{4});
    eventcore::AppendRequest<bank::BankEvent> again;
    again.expectations = {{bank::id("account-0"), ExpectedVersion::exact(StreamVersion{1})},
                          {bank::id("account-1"), ExpectedVersion::exact(StreamVersion{1})}};
    again.events = {{bank::id("account-0"), bank::MoneyWithdrawn{30}, {}},
                    {bank::id("account-1"), bank::MoneyDeposited{30}, {}}};
    again.command_id = transfer;
    const auto duplicate = store.append(std::move(again));
    REQUIRE(duplicate);
    CHECK(duplicate->duplicate);
    CHECK(duplicate->events.at(0).position == GlobalPosition{3});
    // New commits follow the old log, and the whole log reads in order.
    const auto next = eventcore::append_to_stream(store, bank::id("account-0"), ExpectedVersion::exact(StreamVersion{2}),
                                                  {bank::MoneyDeposited{5}});
    REQUIRE(next);
    CHECK(next->events.at(0).position == GlobalPosition{5});
    CHECK(next->events.at(0).version == StreamVersion{3});
    const auto log = eventcore::load_log(store).value();
    REQUIRE(log.size() == 5);
    for (std::size_t i = 0; i < log.size(); ++i) CHECK(log[i].position == GlobalPosition{i + 1});
    CHECK(bank::balance(store, bank::id("account-0")) == 75);
}

TEST_CASE("subscriptions and projections on PostgreSQL", "[postgres][projection]") {
    Schemas schemas;
    SECTION("catch up, then follow live commits") {
        auto store = open_store<BankStore>(schemas.fresh());
        testing_support::subscription_catches_up_then_follows(store);
    }
    SECTION("a selective subscription makes progress") {
        auto store = open_store<BankStore>(schemas.fresh());
        testing_support::selective_subscription_makes_progress(store);
    }
    SECTION("a balance projection equals the fold, and resumes") {
        auto store = open_store<BankStore>(schemas.fresh());
        testing_support::balance_projection_equals_the_fold(store);
    }
    SECTION("poison events follow the error policy") {
        for (const auto action : {eventcore::OnError::stop, eventcore::OnError::skip, eventcore::OnError::retry}) {
            auto store = open_store<BankStore>(schemas.fresh());
            testing_support::poison_events_follow_the_policy(store, action);
        }
    }
    SECTION("one runner per projection, lag, and a rebuild with progress") {
        auto store = open_store<BankStore>(schemas.fresh());
        testing_support::one_runner_lag_and_rebuild(store);
    }
    SECTION("an exactly-once projection keeps its read model in the database") {
        const auto schema = schemas.fresh();
        auto store = open_store<BankStore>(schema);
        testing_support::exactly_once_projection(store, bank::postgres_balances(schema));
    }
    SECTION("an exactly-once runner that lost its lock is fenced by its checkpoint") {
        const auto schema = schemas.fresh();
        auto store = open_store<BankStore>(schema);
        testing_support::lost_lock_is_fenced(store, bank::postgres_balances(schema));
    }
    SECTION("a transaction body that ignores a failed statement is rolled back, not committed") {
        const auto schema = schemas.fresh();
        auto store = open_store<BankStore>(schema);
        testing_support::ignored_statement_error_is_not_committed(
            store, bank::postgres_balances(schema),
            fmt::format("INSERT INTO \"{}_rm\".applied (position) VALUES ($1)", schema));
    }
}

TEST_CASE("an exactly-once projection killed at random moments applies no event twice (postgres)",
          "[postgres][projection][crash]") {
    Schemas schemas;
    const auto schema = schemas.fresh();
    auto store = open_store<BankStore>(schema);
    testing_support::exactly_once_survives_kills(
        store, bank::postgres_balances(schema),
        {EVENTCORE_STORE_WORKER, "project-postgres", server().conninfo, schema});
}

TEST_CASE("a runner taking over waits for the last batch of the runner before it to commit",
          "[postgres][projection]") {
    // A runner killed while its last batch was committing loses its lock as soon as the server
    // sees its lock session gone, which can be before that batch's COMMIT is done. The batch
    // here stands for it: it has applied two events and moved the checkpoint, and commits late.
    Schemas schemas;
    const auto schema = schemas.fresh();
    auto store = open_store<BankStore>(schema);
    const auto projector = bank::postgres_balances(schema);
    REQUIRE(store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        projector.create(sql);
        return {};
    }));
    testing_support::open_bank(store, 4, 100);
    const auto events = eventcore::load_log(store).value();
    REQUIRE(events.size() == 4);

    std::promise<void> checkpoint_moved;
    std::thread last_batch([&] {
        auto committed = store.transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
            for (std::size_t i = 0; i < 2; ++i)
                if (auto r = projector.apply(events[i], sql); !r) return r;
            if (auto r = sql.advance_checkpoint("sql-balances", GlobalPosition{}, events[1].position); !r) return r;
            checkpoint_moved.set_value();
            std::this_thread::sleep_for(std::chrono::milliseconds{300});
            return {};
        });
        CHECK(committed);
    });
    checkpoint_moved.get_future().wait();
    eventcore::ProjectionRunner runner{store, projector,
                                       {.name = "sql-balances",
                                        .stream_prefix = "account-",
                                        .wait_for_lock = std::chrono::seconds{30}}};
    auto caught_up = runner.catch_up(); // starts from the checkpoint the late batch committed
    last_batch.join();
    REQUIRE(caught_up);
    CHECK(caught_up->applied == 2);
    CHECK(projector.applied(store) == 4);
    CHECK(projector.balances(store) == bank::folded_balances(store));
}

TEST_CASE("projection runners in two processes take turns on one database", "[postgres][projection][multi-process]") {
    Schemas schemas;
    const auto schema = schemas.fresh();
    auto store = open_store<BankStore>(schema);
    auto held = store.lock_projection("shared", std::chrono::milliseconds{0});
    REQUIRE(held);
    const auto try_in_child = [&] {
        return testing_support::in_child([&] {
            auto other = BankStore::open(server().conninfo, {.schema = schema});
            if (!other) return 2;
            return other->lock_projection("shared", std::chrono::milliseconds{0}) ? 0 : 1;
        });
    };
    CHECK(try_in_child() == 1);
    held->reset();
    CHECK(try_in_child() == 0);
}

TEST_CASE("a projection fed by several writer processes equals the fold (postgres)",
          "[postgres][projection][multi-process]") {
    Schemas schemas;
    const auto schema = schemas.fresh();
    auto store = open_store<BankStore>(schema);
    testing_support::projection_fed_by_processes(store, [&](int seed) {
        return std::vector<std::string>{EVENTCORE_STORE_WORKER, "postgres", server().conninfo, schema, "5", "60",
                                        std::to_string(seed)};
    });
}

TEST_CASE("random commits: memory, SQLite and PostgreSQL agree, and what they accept reads back equal",
          "[postgres][property]") {
    using append_property::Event;
    Schemas schemas;
    auto postgres = open_store<PostgresEventStore<Event>>(schemas.fresh());
    eventcore::InMemoryEventStore<Event> memory;
    auto sqlite = eventcore::SqliteEventStore<Event>::open(":memory:").value();
    const auto accepted = append_property::run(
        0x5EED0002, 300, append_property::Subject<eventcore::InMemoryEventStore<Event>>{"memory", &memory, false},
        append_property::Subject<eventcore::SqliteEventStore<Event>>{"sqlite", &sqlite, true},
        append_property::Subject<PostgresEventStore<Event>>{"postgres", &postgres, true});
    CHECK(accepted > 50);
}
