// The `eventcore` tool moving stores between SQLite and PostgreSQL: the throwaway server of the
// `postgres` fixture, found through EVENTCORE_PG_DIR; each test case in a schema of its own.
#define CATCH_CONFIG_MAIN
#include "support/cli.hpp"
#include "support/process.hpp"

#include <eventcore/postgres/database.hpp>
#include <eventcore/sqlite/database.hpp>

#include <boost/json.hpp>
#include <libpq-fe.h>
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

using cli_support::run;
using testing_support::TempDir;

namespace {

auto conninfo() -> std::string {
    const char* dir = std::getenv("EVENTCORE_PG_DIR");
    if (dir == nullptr) throw std::runtime_error("EVENTCORE_PG_DIR is not set: run these tests with ctest or script/test");
    std::ifstream in(std::string(dir) + "/conninfo");
    std::string line;
    std::getline(in, line);
    if (line.empty()) throw std::runtime_error(std::string("no conninfo in ") + dir);
    return line;
}

auto fresh_schema() -> std::string {
    std::random_device rd;
    return "cli_" + std::to_string(rd() % 1'000'000'000);
}

auto password_of(const std::string& conninfo) -> std::string {
    const auto at = conninfo.find("password=");
    if (at == std::string::npos) return {};
    const auto end = conninfo.find(' ', at);
    return conninfo.substr(at + 9, end == std::string::npos ? std::string::npos : end - at - 9);
}

} // namespace

TEST_CASE("SQLite to PostgreSQL and back gives identical logs", "[cli][postgres]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    const std::string pg = "postgres:" + conninfo();
    const auto schema = fresh_schema();
    {
        auto db = eventcore::sqlite::Database::open(dir.file("source.db")).value();
        cli_support::populate(*db, 1500);
    }
    auto r = run(scratch, {"--store", "sqlite:" + dir.file("source.db"), "export", "-o", dir.file("sqlite.jsonl")});
    REQUIRE(r.code == 0);

    r = run(scratch, {"--store", pg, "--schema", schema, "import", dir.file("sqlite.jsonl")});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find(password_of(conninfo())) == std::string::npos);
    r = run(scratch, {"--store", pg, "--schema", schema, "export", "-o", dir.file("postgres.jsonl")});
    REQUIRE(r.code == 0);
    CHECK(cli_support::slurp(dir.file("postgres.jsonl")) == cli_support::slurp(dir.file("sqlite.jsonl")));

    r = run(scratch, {"--store", pg, "--schema", schema, "verify"});
    INFO(r.out);
    CHECK(r.code == 0);

    // And back again, into a new file.
    r = run(scratch, {"--store", "sqlite:" + dir.file("back.db"), "import", dir.file("postgres.jsonl")});
    REQUIRE(r.code == 0);
    r = run(scratch, {"--store", "sqlite:" + dir.file("back.db"), "export"});
    REQUIRE(r.code == 0);
    CHECK(r.out == cli_support::slurp(dir.file("sqlite.jsonl")));

    // The PostgreSQL copy answers like the original.
    const auto streams_sqlite = run(scratch, {"--store", "sqlite:" + dir.file("source.db"), "--json", "streams"});
    const auto streams_pg = run(scratch, {"--store", pg, "--schema", schema, "--json", "streams"});
    REQUIRE(streams_pg.code == 0);
    CHECK(streams_pg.out == streams_sqlite.out);
    auto stats_sqlite = boost::json::parse(run(scratch, {"--store", "sqlite:" + dir.file("source.db"), "--json", "stats"}).out);
    auto stats_pg = boost::json::parse(run(scratch, {"--store", pg, "--schema", schema, "--json", "stats"}).out);
    for (const auto* key : {"events", "streams", "head", "types", "days", "first_recorded", "last_recorded"})
        CHECK(stats_pg.at(key) == stats_sqlite.at(key));
    const auto read_pg = run(scratch, {"--store", pg, "--schema", schema, "read", "audit/log é"});
    CHECK(read_pg.out == run(scratch, {"--store", "sqlite:" + dir.file("source.db"), "read", "audit/log é"}).out);

    // A commit after the import goes on from the imported log.
    auto db = eventcore::postgres::Database::open(conninfo(), {.schema = schema}).value();
    const eventcore::StreamId id("account-1");
    const eventcore::EventMetadata m{};
    std::vector<eventcore::StreamExpectation> expect{{id, eventcore::ExpectedVersion::any()}};
    std::vector<eventcore::EncodedWrite> writes{{&id, {"MoneyDeposited", R"({"amount":1})"}, &m}};
    const auto receipt = db->append(expect, writes, std::nullopt).value();
    CHECK(receipt.events[0].position.value() == stats_pg.at("head").to_number<std::uint64_t>() + 1);
    r = run(scratch, {"--store", pg, "--schema", schema, "verify"});
    CHECK(r.code == 0);
}

TEST_CASE("PostgreSQL: import refuses a non-empty schema, verify catches a broken one", "[cli][postgres]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    const std::string pg = "postgres:" + conninfo();
    const auto schema = fresh_schema();
    {
        auto db = eventcore::sqlite::Database::open(dir.file("source.db")).value();
        cli_support::populate(*db, 20);
    }
    REQUIRE(run(scratch, {"--store", "sqlite:" + dir.file("source.db"), "export", "-o", dir.file("log.jsonl")}).code == 0);

    // Reading a schema that is not there creates nothing.
    auto r = run(scratch, {"--store", pg, "--schema", schema, "streams"});
    CHECK(r.code == 3);
    CHECK(r.err_lines() == 1);
    CHECK(r.err.find("holds no eventcore store") != std::string::npos);
    CHECK(r.err.find(password_of(conninfo())) == std::string::npos);
    CHECK(eventcore::postgres::Database::schema_version_at(conninfo(), {.schema = schema}).value() == 0);

    REQUIRE(run(scratch, {"--store", pg, "--schema", schema, "import", dir.file("log.jsonl")}).code == 0);
    r = run(scratch, {"--store", pg, "--schema", schema, "import", dir.file("log.jsonl")});
    CHECK(r.code == 4);
    CHECK(r.err_lines() == 1);

    // A wrong password: one line, and the password is not in it.
    r = run(scratch, {"--store", pg + " password=not-the-password", "--schema", schema, "stats"});
    CHECK(r.code == 3);
    CHECK(r.err_lines() == 1);
    CHECK(r.err.find("not-the-password") == std::string::npos);

    // Damage the store behind its back (its own sessions refuse writes to its schema).
    {
        PGconn* conn = PQconnectdb(conninfo().c_str());
        REQUIRE(PQstatus(conn) == CONNECTION_OK);
        PGresult* deleted = PQexec(conn, ("DELETE FROM " + schema + ".events WHERE position = 4").c_str());
        const bool ok = PQresultStatus(deleted) == PGRES_COMMAND_OK;
        PQclear(deleted);
        PQfinish(conn);
        REQUIRE(ok);
    }
    r = run(scratch, {"--store", pg, "--schema", schema, "--json", "verify"});
    CHECK(r.code == 1);
    const auto report = boost::json::parse(r.out);
    bool gap = false;
    for (const auto& p : report.at("problems").as_array()) {
        // Seen in the stream: its versions skip one, or it is listed past its last event.
        const std::string text(p.as_string());
        gap = gap || text.find("of the stream is missing") != std::string::npos ||
              text.find("but its events reach") != std::string::npos;
    }
    CHECK(gap);
}

TEST_CASE("script/postgres keeps the connection string, password and all, to its user", "[postgres][secrets]") {
    const std::string file = std::string(std::getenv("EVENTCORE_PG_DIR")) + "/conninfo";
    struct stat st{};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    INFO(file << " has mode " << std::oct << (st.st_mode & 07777));
    CHECK((st.st_mode & 077) == 0);
    CHECK(st.st_uid == ::geteuid()); // and the tests, run as that user, read it
    CHECK(!password_of(conninfo()).empty());
}

namespace {

/// The command lines of every process now, NUL-separated arguments, as `ps` shows them to anyone.
auto command_lines() -> std::vector<std::string> {
    std::vector<std::string> all;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        auto text = cli_support::slurp((entry.path() / "cmdline").string());
        if (!text.empty()) all.push_back(std::move(text));
    }
    return all;
}

} // namespace

TEST_CASE("eventcore-stress hands its workers the connection string out of sight of ps", "[stress][postgres][secrets]") {
    const auto password = password_of(conninfo());
    REQUIRE(!password.empty());
    const std::string file = std::string(std::getenv("EVENTCORE_PG_DIR")) + "/conninfo";
    testing_support::Child stress({EVENTCORE_STRESS, "transfers", "--backend", "postgres", "--conninfo-file", file,
                                   "--schema", fresh_schema(), "--processes", "2", "--threads", "1", "--duration",
                                   "3"});
    // Look at every command line until the workers show up (and a little while after).
    std::size_t workers_seen = 0;
    std::size_t looks = 0;
    std::vector<std::string> leaks;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while ((workers_seen == 0 || looks < 20) && std::chrono::steady_clock::now() < deadline) {
        for (const auto& line : command_lines()) {
            if (!line.starts_with(std::string(EVENTCORE_STRESS) + '\0')) continue;
            if (line.find(std::string("--worker") + '\0') != std::string::npos) ++workers_seen;
            if (line.find(password) != std::string::npos) leaks.push_back(line);
        }
        if (workers_seen > 0) ++looks;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const auto [code, out] = stress.finish();
    INFO(out);
    CHECK(code == 0);
    CHECK(out.find("RESULT PASS") != std::string::npos);
    CHECK(workers_seen > 0);
    CHECK(leaks.empty());
}

namespace {

/// Commits of one or two events with command ids, on `accounts` accounts and a stream read but
/// never written, until `stop`.
void write_until(eventcore::postgres::Database& db, const std::atomic<bool>& stop, std::atomic<int>& written,
                 std::atomic<int>& failed, unsigned seed, int accounts = 6) {
    using namespace eventcore;
    std::mt19937 rng(seed);
    while (!stop) {
        const auto i = static_cast<int>(rng() % 1000);
        const StreamId a(fmt::format("account-{}", i % accounts));
        const StreamId b(fmt::format("account-{}", (i + 1) % accounts));
        const StreamId rates("rates");
        EventMetadata m;
        m.event_id = Uuid::v7();
        std::vector<StreamExpectation> expect{{a, ExpectedVersion::any()}, {rates, ExpectedVersion::any()}};
        std::vector<EncodedWrite> writes{{&a, {"MoneyWithdrawn", R"({"amount":1})"}, &m}};
        if (i % 2 == 0) {
            expect.push_back({b, ExpectedVersion::any()});
            writes.push_back({&b, {"MoneyDeposited", R"({"amount":1})"}, &m});
        }
        auto r = db.append(expect, writes, Uuid::v7());
        if (r) {
            ++written;
        } else if (!r.error().is(ErrorKind::transient)) {
            ++failed;
            UNSCOPED_INFO("append failed: " << r.error().message());
        }
    }
}

auto problems_of(const cli_support::Run& r) -> std::vector<std::string> {
    std::vector<std::string> out;
    const auto report = boost::json::parse(r.out);
    for (const auto& p : report.at("problems").as_array()) out.emplace_back(p.as_string());
    return out;
}

} // namespace

TEST_CASE("PostgreSQL: verify reads one snapshot, so a store under live writes is sound", "[cli][postgres][verify]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    const std::string pg = "postgres:" + conninfo();
    const auto schema = fresh_schema();
    auto db = eventcore::postgres::Database::open(conninfo(), {.schema = schema, .pool_size = 4}).value();
    std::atomic<bool> stop{false};
    std::atomic<int> written{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> writers;
    for (unsigned t = 0; t < 3; ++t) writers.emplace_back([&, t] { write_until(*db, stop, written, failed, t + 1); });
    while (written < 200) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    constexpr int runs = 25;
    int unsound = 0;
    for (int i = 0; i < runs; ++i) {
        const auto r = run(scratch, {"--store", pg, "--schema", schema, "--json", "verify"});
        INFO("run " << i << ": " << r.out << r.err);
        CHECK(r.code == 0);
        if (r.code != 0) ++unsound;
    }
    stop = true;
    for (auto& w : writers) w.join();
    CHECK(failed == 0);
    CHECK(unsound == 0);
    const auto r = run(scratch, {"--store", pg, "--schema", schema, "--json", "verify"});
    CHECK(r.code == 0);
    CHECK(boost::json::parse(r.out).at("command_records").to_number<int>() == written);
}

TEST_CASE("PostgreSQL: verify checks the idempotency records", "[cli][postgres][verify]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    const std::string pg = "postgres:" + conninfo();
    const auto schema = fresh_schema();
    auto db = eventcore::postgres::Database::open(conninfo(), {.schema = schema}).value();
    {
        std::atomic<bool> stop{false};
        std::atomic<int> written{0};
        std::atomic<int> failed{0};
        std::thread writer([&] { write_until(*db, stop, written, failed, 7); });
        while (written < 20) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        stop = true;
        writer.join();
    }
    auto r = run(scratch, {"--store", pg, "--schema", schema, "--json", "verify"});
    REQUIRE(r.code == 0);
    // Damage the store behind its back (its own sessions refuse writes to its schema).
    const auto sql = [&](const std::string& statement) {
        PGconn* conn = PQconnectdb(conninfo().c_str());
        REQUIRE(PQstatus(conn) == CONNECTION_OK);
        PGresult* done = PQexec(conn, statement.c_str());
        const bool ok = PQresultStatus(done) == PGRES_COMMAND_OK;
        INFO(statement << ": " << PQresultErrorMessage(done));
        PQclear(done);
        PQfinish(conn);
        REQUIRE(ok);
    };
    const std::string first = "(SELECT command_id FROM " + schema + ".commands ORDER BY first_position LIMIT 1 OFFSET 3)";
    struct Damage {
        const char* what;
        std::string sql;
        std::string says;
    };
    const std::vector<Damage> damages{
        {"moved into a commit", "UPDATE " + schema + ".commands SET first_position = first_position + 1 WHERE command_id = " + first,
         "it points at position"},
        {"a version altered",
         "UPDATE " + schema + ".commands SET streams = jsonb_set(streams, '{0,1}', to_jsonb((streams->0->>1)::int + 5)) "
         "WHERE command_id = " + first,
         "at version"},
        {"streams that are not pairs", "UPDATE " + schema + ".commands SET streams = '{\"a\":1}' WHERE command_id = " + first,
         "its streams are not a JSON array"},
        {"an unfinished record", "UPDATE " + schema + ".commands SET committed_at = NULL WHERE command_id = " + first,
         "it is unfinished"},
        {"past the head", "UPDATE " + schema + ".commands SET first_position = 100000 WHERE command_id = " + first,
         "beyond the head"},
    };
    for (const auto& d : damages) {
        DYNAMIC_SECTION(d.what) {
            sql(d.sql);
            r = run(scratch, {"--store", pg, "--schema", schema, "--json", "verify"});
            INFO(r.out << r.err);
            CHECK(r.code == 1);
            bool said = false;
            for (const auto& p : problems_of(r)) said = said || (p.starts_with("command record ") && p.find(d.says) != std::string::npos);
            CHECK(said);
        }
    }
}

TEST_CASE("PostgreSQL: an import while writers commit takes the commit's lock order: no deadlock", "[cli][postgres][import]") {
    using namespace eventcore;
    TempDir dir;
    const auto scratch = dir.path().string();
    const auto schema = fresh_schema();
    auto db = postgres::Database::open(conninfo(), {.schema = schema, .pool_size = 6}).value();
    std::atomic<bool> stop{false};
    std::atomic<int> written{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> writers;
    for (unsigned t = 0; t < 3; ++t) {
        writers.emplace_back([&, t] {
            // Commits with pauses, so that an import continuing the log sometimes gets in.
            std::mt19937 rng(t);
            while (!stop) {
                std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
                const StreamId a(fmt::format("account-{}", rng() % 6));
                const StreamId b(fmt::format("account-{}", rng() % 6));
                EventMetadata m;
                m.event_id = Uuid::v7();
                std::vector<StreamExpectation> expect{{a, ExpectedVersion::any()}};
                if (b != a) expect.push_back({b, ExpectedVersion::any()});
                std::vector<EncodedWrite> writes{{&a, {"MoneyWithdrawn", R"({"amount":1})"}, &m}};
                if (b != a) writes.push_back({&b, {"MoneyDeposited", R"({"amount":1})"}, &m});
                auto r = db->append(expect, writes, Uuid::v7());
                if (r) {
                    ++written;
                } else if (!r.error().is(ErrorKind::transient)) {
                    ++failed;
                }
            }
        });
    }

    // The importer continues the log as it finds it, with commits on the writers' streams, in
    // the opposite of their byte order.
    int imported = 0;
    int refused = 0;
    int deadlocks = 0;
    int other = 0;
    std::vector<Uuid> imported_ids;
    std::mt19937 rng(99);
    for (int attempt = 0; attempt < 300 && imported < 40; ++attempt) {
        GlobalPosition head;
        std::map<std::string, StreamVersion> versions;
        REQUIRE(db->snapshot([&](StoreSnapshot& s) -> Result<void> {
            head = s.head().value();
            const auto listed = s.list_streams({}).value();
            for (const auto& st : listed) versions[std::string(st.stream.view())] = st.version;
            return {};
        }));
        std::vector<ArchivedEvent> batch;
        for (const int k : {5, 3, 1}) {
            const auto id = fmt::format("account-{}", (k + static_cast<int>(rng() % 2)) % 6);
            if (std::any_of(batch.begin(), batch.end(), [&](const ArchivedEvent& e) { return e.stream.view() == id; }))
                continue;
            ArchivedEvent e;
            e.stream = StreamId(id);
            e.version = versions[id].next();
            e.position = GlobalPosition{head.value() + batch.size() + 1};
            e.type = "Imported";
            e.payload = "{}";
            e.metadata.event_id = Uuid::v7();
            e.metadata.recorded_at = now();
            batch.push_back(std::move(e));
        }
        for (auto& e : batch) e.commit_last = batch.back().position;
        auto r = db->import_events(batch);
        if (r) {
            ++imported;
            for (const auto& e : batch) imported_ids.push_back(e.metadata.event_id);
        } else if (r.error().message().find("deadlock") != std::string::npos || r.error().code() == "40P01") {
            ++deadlocks;
            UNSCOPED_INFO(r.error().message());
        } else if (r.error().is(ErrorKind::validation)) {
            ++refused; // a commit got in first: the batch no longer continues the log; nothing written
        } else {
            ++other;
            UNSCOPED_INFO(r.error().message());
        }
    }
    stop = true;
    for (auto& w : writers) w.join();
    INFO("imported " << imported << ", refused " << refused << ", deadlocks " << deadlocks << ", other " << other
                     << ", commits " << written);
    CHECK(deadlocks == 0);
    CHECK(other == 0);
    CHECK(failed == 0);
    CHECK(imported > 0);
    CHECK(written > 0);
    // Every imported event is there once, and the store is sound.
    std::set<Uuid> ids;
    (void)db->read_all({.after = GlobalPosition{}, .limit = 1000000}, [&](const StoredEvent& e) {
        if (e.type == "Imported") CHECK(ids.insert(e.metadata.event_id).second);
        return Result<void>{};
    }).value();
    CHECK(ids.size() == imported_ids.size());
    for (const auto& id : imported_ids) CHECK(ids.contains(id));
    const auto r = run(scratch, {"--store", "postgres:" + conninfo(), "--schema", schema, "verify"});
    INFO(r.out);
    CHECK(r.code == 0);
}
