// The `eventcore` tool moving stores between SQLite and PostgreSQL: the throwaway server of the
// `postgres` fixture, found through EVENTCORE_PG_DIR; each test case in a schema of its own.
#define CATCH_CONFIG_MAIN
#include "support/cli.hpp"
#include "support/process.hpp"

#include <eventcore/postgres/database.hpp>
#include <eventcore/sqlite/database.hpp>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
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

    auto db = eventcore::postgres::Database::open(conninfo(), {.schema = schema}).value();
    REQUIRE(db->transaction([&](eventcore::SqlSession& sql) -> eventcore::Result<void> {
        if (auto deleted = sql.execute("DELETE FROM " + schema + ".events WHERE position = 4"); !deleted)
            return eventcore::fail(deleted.error());
        return {};
    }));
    r = run(scratch, {"--store", pg, "--schema", schema, "--json", "verify"});
    CHECK(r.code == 1);
    const auto report = boost::json::parse(r.out);
    bool gap = false;
    for (const auto& p : report.at("problems").as_array()) gap = gap || p.as_string() == "position 4 is missing";
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
