// The `eventcore` tool run as a program on real SQLite files: what operators see and get.
#define CATCH_CONFIG_MAIN
#include "support/cli.hpp"
#include "support/process.hpp"

#include <eventcore/sqlite/database.hpp>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using cli_support::Run;
using cli_support::run;
using cli_support::Tool;
using testing_support::TempDir;

namespace {

auto make_store(const std::string& path, int commits) -> std::shared_ptr<eventcore::sqlite::Database> {
    auto db = eventcore::sqlite::Database::open(path).value();
    cli_support::populate(*db, commits);
    return db;
}

/// Every event as stored, with its commit: what must survive a move.
auto stored_log(eventcore::sqlite::Database& db) -> std::vector<eventcore::ArchivedEvent> {
    std::vector<eventcore::ArchivedEvent> all;
    eventcore::GlobalPosition after{};
    for (;;) {
        auto last = db.read_log(after, 100, [&](const eventcore::StoredEvent& e, eventcore::GlobalPosition commit_last) {
                          all.push_back(eventcore::ArchivedEvent::from(e, commit_last).value());
                          return eventcore::Result<void>{};
                      }).value();
        if (last == after) return all;
        after = last;
    }
}

void raw_sql(const std::string& path, const char* sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
    INFO(sql << ": " << (error ? error : ""));
    sqlite3_free(error);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

auto json_lines(const std::string& text) -> std::vector<boost::json::value> {
    std::vector<boost::json::value> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) out.push_back(boost::json::parse(line));
    return out;
}

} // namespace

TEST_CASE("bad arguments and bad stores give one line and a usage or store exit code", "[cli]") {
    TempDir dir;
    const auto scratch = dir.path().string();

    auto r = run(scratch, {"--store", "mysql://root:hunter2@db/x", "streams"});
    CHECK(r.code == 2);
    CHECK(r.err_lines() == 1);
    CHECK(r.err.starts_with("eventcore: --store must be"));
    CHECK(r.err.find("hunter2") == std::string::npos);
    CHECK(r.out.empty());

    r = run(scratch, {"--store", "nonsense", "streams"});
    CHECK(r.code == 2);
    CHECK(r.err_lines() == 1);

    r = run(scratch, {"streams"});
    CHECK(r.code == 2);
    CHECK(r.err_lines() == 1);
    CHECK(r.err.find("EVENTCORE_STORE") != std::string::npos);

    r = run(scratch, {"--store", "sqlite:" + dir.file("a.db"), "streams", "--no-such-option"});
    CHECK(r.code == 2);
    CHECK(r.err_lines() == 1);

    r = run(scratch, {"--store", "sqlite:" + dir.file("missing.db"), "streams"});
    CHECK(r.code == 3);
    CHECK(r.err == "eventcore: SQLite database '" + dir.file("missing.db") + "' does not exist\n");

    std::ofstream(dir.file("not-a-db")) << "this is not a database, just text that is long enough to be a header\n";
    r = run(scratch, {"--store", "sqlite:" + dir.file("not-a-db"), "stats"});
    CHECK(r.code == 3);
    CHECK(r.err_lines() == 1);
    CHECK(r.err.find("not an SQLite database") != std::string::npos);

    r = run(scratch, {"--store", "postgres:host=/nonexistent-dir port=5999 user=u password=hunter2 dbname=x", "streams"});
    CHECK(r.code == 3);
    CHECK(r.err_lines() == 1);
    CHECK(r.err.find("hunter2") == std::string::npos);
    CHECK(r.err.find("host=/nonexistent-dir") != std::string::npos);

    // Reading never creates a store.
    CHECK(!std::filesystem::exists(dir.file("missing.db")));
    make_store(dir.file("a.db"), 3);
    r = run(scratch, {"--store", "sqlite:" + dir.file("a.db"), "read", "bad*id"});
    CHECK(r.code == 2);
    CHECK(r.err_lines() == 1);
    r = run(scratch, {"--store", "sqlite:" + dir.file("a.db"), "streams", "--pattern", "[z-a]"});
    CHECK(r.code == 2);
    CHECK(r.err_lines() == 1);
}

TEST_CASE("a connection string libpq cannot parse is a usage error that never shows the password", "[cli][secrets]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    std::ofstream(dir.file("empty.jsonl")) << "";
    // Every command that takes a store, as a user would type it.
    const std::vector<std::vector<std::string>> commands{
        {"streams"}, {"read", "account-1"}, {"tail"}, {"tail", "--follow"}, {"stats"}, {"verify"},
        {"export"}, {"export", "-o", dir.file("out.jsonl")}, {"import", dir.file("empty.jsonl")}, {"migrate"},
        {"projections"}, {"projections", "reset", "balances"}, {"--json", "stats"}};
    // libpq's own messages about these quote the text around the fault: the password's tail,
    // or the whole URI.
    for (const std::string store : {"postgres:password=SECRET PART2", "postgresql://u:SECRET@[::1/db",
                                    "postgres:host=db password=SECRET PART2 dbname=x"}) {
        for (const auto& command : commands) {
            std::vector<std::string> args{"--store", store};
            args.insert(args.end(), command.begin(), command.end());
            const auto r = run(scratch, args);
            INFO(store << " " << command.front() << ": " << r.err);
            CHECK(r.code == 2);
            CHECK(r.err_lines() == 1);
            CHECK(r.err.find("SECRET") == std::string::npos);
            CHECK(r.err.find("PART2") == std::string::npos);
            CHECK(r.out.find("SECRET") == std::string::npos);
            CHECK(r.err.find("malformed") != std::string::npos);
        }
    }
    CHECK(!std::filesystem::exists(dir.file("out.jsonl")));
}

TEST_CASE("a store path that is no database file gets a clear error at once, never a hang", "[cli][paths]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    REQUIRE(::mkfifo(dir.file("pipe.db").c_str(), 0600) == 0);
    std::filesystem::create_directory(dir.file("folder.db"));
    const std::vector<std::vector<std::string>> commands{{"streams"}, {"read", "a"}, {"tail"},   {"stats"},
                                                         {"verify"},  {"export"},    {"migrate"}, {"projections"},
                                                         {"import", "/dev/null"}};
    for (const auto& [name, what] : std::map<std::string, std::string>{{"pipe.db", "is a named pipe (FIFO)"},
                                                                       {"folder.db", "is a directory"}}) {
        for (const auto& command : commands) {
            std::vector<std::string> args{"--store", "sqlite:" + dir.file(name)};
            args.insert(args.end(), command.begin(), command.end());
            // A tool that hangs is killed (exit 137) and fails the test.
            const auto r = Tool(scratch, args).finish(std::chrono::seconds(20));
            INFO(name << " " << command.front());
            CHECK(r.code == 3);
            CHECK(r.err == "eventcore: SQLite database '" + dir.file(name) + "' " + what + ", not a database file\n");
        }
    }
    const auto r = run(scratch, {"--store", "sqlite:" + dir.file("no/such/folder/x.db"), "migrate"});
    CHECK(r.code == 3);
    CHECK(r.err == "eventcore: cannot create SQLite database '" + dir.file("no/such/folder/x.db") + "': folder '" +
                       dir.file("no/such/folder") + "' does not exist\n");
}

TEST_CASE("an SQLite store is the file named, never a URI and never memory", "[cli][paths]") {
    TempDir dir;
    const auto scratch = dir.path().string(); // the tool's working directory
    make_store(dir.file("source.db"), 12);
    REQUIRE(run(scratch, {"--store", "sqlite:" + dir.file("source.db"), "export", "-o", dir.file("log.jsonl")}).code == 0);

    // SQLite would read these as URIs: an in-memory database (the import kept nothing), or a
    // file without locking. They are files of those names.
    for (const std::string name : {"file:copy.db?mode=memory", "file:shared.db?nolock=1"}) {
        INFO(name);
        auto r = run(scratch, {"--store", "sqlite:" + name, "import", dir.file("log.jsonl")});
        REQUIRE(r.code == 0);
        CHECK(std::filesystem::is_regular_file(dir.path() / name));
        r = run(scratch, {"--store", "sqlite:" + name, "export"});
        REQUIRE(r.code == 0);
        CHECK(r.out == cli_support::slurp(dir.file("log.jsonl")));
    }
    CHECK(!std::filesystem::exists(dir.path() / "copy.db"));
    CHECK(!std::filesystem::exists(dir.path() / "shared.db"));

    // The library's in-memory database would end with the command.
    for (const auto& command : {std::vector<std::string>{"import", dir.file("log.jsonl")}, {"migrate"}, {"stats"}}) {
        std::vector<std::string> args{"--store", "sqlite::memory:"};
        args.insert(args.end(), command.begin(), command.end());
        const auto r = run(scratch, args);
        CHECK(r.code == 2);
        CHECK(r.err_lines() == 1);
        CHECK(r.err.find("in memory") != std::string::npos);
    }
    // A file of that name is a file.
    auto r = run(scratch, {"--store", "sqlite:./:memory:", "import", dir.file("log.jsonl")});
    CHECK(r.code == 0);
    CHECK(std::filesystem::is_regular_file(dir.path() / ":memory:"));
}

TEST_CASE("a database that is not an eventcore store is refused and left as it was", "[cli][paths]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    const auto path = dir.file("crm.db");
    raw_sql(path, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('Ada')");
    const auto before = cli_support::slurp(path);
    make_store(dir.file("source.db"), 3);
    REQUIRE(run(scratch, {"--store", "sqlite:" + dir.file("source.db"), "export", "-o", dir.file("log.jsonl")}).code == 0);
    for (const auto& command : {std::vector<std::string>{"migrate"}, {"import", dir.file("log.jsonl")},
                                                   {"stats"}, {"verify"}, {"streams"}}) {
        std::vector<std::string> args{"--store", "sqlite:" + path};
        args.insert(args.end(), command.begin(), command.end());
        const auto r = run(scratch, args);
        INFO(command.front() << ": " << r.err);
        CHECK(r.code == 3);
        CHECK(r.err_lines() == 1);
        CHECK(r.err.find("'" + path + "' is not an eventcore store") != std::string::npos);
    }
    CHECK(cli_support::slurp(path) == before);
    CHECK(!std::filesystem::exists(path + "-wal"));
    CHECK(!std::filesystem::exists(path + "-shm"));
}

TEST_CASE("the environment names the store", "[cli]") {
    TempDir dir;
    make_store(dir.file("env.db"), 4);
    pid_t pid = ::fork();
    if (pid == 0) {
        const int out = ::open(dir.file("env.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(out, STDOUT_FILENO);
        ::setenv("EVENTCORE_STORE", ("sqlite:" + dir.file("env.db")).c_str(), 1);
        ::execl(EVENTCORE_CLI, EVENTCORE_CLI, "--json", "stats", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const auto stats = boost::json::parse(cli_support::slurp(dir.file("env.out")));
    CHECK(stats.at("head").to_number<std::uint64_t>() > 0);
}

TEST_CASE("streams lists versions and last write times, filtered and paged", "[cli]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    auto db = make_store(dir.file("s.db"), 20);
    const std::string store = "sqlite:" + dir.file("s.db");

    auto r = run(scratch, {"--store", store, "--json", "streams"});
    REQUIRE(r.code == 0);
    auto doc = boost::json::parse(r.out);
    const auto& all = doc.at("streams").as_array();
    CHECK(all.size() == 8); // seven accounts and the audit log
    for (const auto& s : all) {
        const auto id = eventcore::StreamId(std::string(s.at("stream").as_string()));
        std::uint64_t version = 0;
        (void)db->read_stream(id, eventcore::StreamVersion{1}, [&](const eventcore::StoredEvent& e) {
            version = e.version.value();
            return eventcore::Result<void>{};
        });
        CHECK(s.at("version").to_number<std::uint64_t>() == version);
        CHECK(s.at("last_written").as_string().ends_with("Z"));
    }
    CHECK(doc.at("next_after").is_null());

    r = run(scratch, {"--store", store, "--json", "streams", "--pattern", "account-[0-2]", "--limit", "2"});
    REQUIRE(r.code == 0);
    doc = boost::json::parse(r.out);
    REQUIRE(doc.at("streams").as_array().size() == 2);
    CHECK(doc.at("streams").as_array()[0].at("stream").as_string() == "account-0");
    CHECK(doc.at("next_after").as_string() == "account-1");
    r = run(scratch, {"--store", store, "--json", "streams", "--pattern", "account-[0-2]", "--after", "account-1"});
    doc = boost::json::parse(r.out);
    REQUIRE(doc.at("streams").as_array().size() == 1);
    CHECK(doc.at("streams").as_array()[0].at("stream").as_string() == "account-2");

    r = run(scratch, {"--store", store, "streams", "--prefix", "audit"});
    REQUIRE(r.code == 0);
    CHECK(r.out.starts_with("STREAM       VERSION  LAST WRITTEN\naudit/log é        4  "));
}

TEST_CASE("read shows one stream's events with JSON payloads, tail the log with filters", "[cli]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    make_store(dir.file("r.db"), 10);
    const std::string store = "sqlite:" + dir.file("r.db");

    auto r = run(scratch, {"--store", store, "--json", "read", "account-1", "--from", "2"});
    REQUIRE(r.code == 0);
    auto lines = json_lines(r.out);
    REQUIRE(!lines.empty());
    CHECK(lines[0].at("version").to_number<std::uint64_t>() == 2);
    for (const auto& e : lines) CHECK(e.at("payload").as_object().contains("amount"));

    r = run(scratch, {"--store", store, "read", "account-1"});
    REQUIRE(r.code == 0);
    CHECK(r.out.starts_with("VERSION  POSITION  RECORDED AT"));
    CHECK(r.out.find(R"({"amount":2,"note":"x\"y\\z","rate":1.5E0})") != std::string::npos);

    r = run(scratch, {"--store", store, "--json", "read", "account-1", "--from", "2", "--limit", "1"});
    REQUIRE(r.code == 0);
    REQUIRE(lines.size() > 1); // the limit has something to cut
    const auto limited = json_lines(r.out);
    REQUIRE(limited.size() == 1);
    CHECK(limited[0].at("version").to_number<std::uint64_t>() == 2);

    r = run(scratch, {"--store", store, "read", "nobody"});
    CHECK(r.code == 1);
    CHECK(r.err == "eventcore: stream 'nobody' has no events\n");

    r = run(scratch, {"--store", store, "--json", "tail", "--from", "3", "--type", "MoneyDeposited", "--prefix", "account-"});
    REQUIRE(r.code == 0);
    lines = json_lines(r.out);
    CHECK(lines.size() == 5); // odd commits deposit
    for (const auto& e : lines) {
        CHECK(e.at("type").as_string() == "MoneyDeposited");
        CHECK(e.at("position").to_number<std::uint64_t>() > 3);
    }
    r = run(scratch, {"--store", store, "--json", "tail", "--pattern", "audit*", "--limit", "1"});
    REQUIRE(r.code == 0);
    CHECK(json_lines(r.out).size() == 1);
}

TEST_CASE("tail --follow shows commits as they land", "[cli]") {
    TempDir dir;
    auto db = make_store(dir.file("f.db"), 2);
    const auto before = db->head().value().value();
    Tool tool(dir.path().string(), {"--store", "sqlite:" + dir.file("f.db"), "--json", "tail", "--follow", "--from",
                                    std::to_string(before), "--limit", "2"});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cli_support::populate(*db, 2); // another process, as far as the tool can tell
    const auto r = tool.finish(std::chrono::seconds(30));
    REQUIRE(r.code == 0);
    const auto lines = json_lines(r.out);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].at("position").to_number<std::uint64_t>() == before + 1);
}

TEST_CASE("stats counts events, streams, types and days", "[cli]") {
    TempDir dir;
    make_store(dir.file("st.db"), 10);
    auto r = run(dir.path().string(), {"--store", "sqlite:" + dir.file("st.db"), "--json", "stats"});
    REQUIRE(r.code == 0);
    const auto s = boost::json::parse(r.out);
    CHECK(s.at("events").to_number<std::uint64_t>() == 10 + 5 + 2);
    CHECK(s.at("streams").to_number<std::uint64_t>() == 8);
    CHECK(s.at("head").to_number<std::uint64_t>() == 17);
    CHECK(s.at("size_bytes").to_number<std::uint64_t>() > 0);
    CHECK(s.at("types").as_array()[0].at("type").as_string() == "MoneyWithdrawn");
    CHECK(s.at("types").as_array()[0].at("events").to_number<std::uint64_t>() == 10);
    REQUIRE(s.at("days").as_array().size() >= 1);
    std::uint64_t commits = 0;
    for (const auto& d : s.at("days").as_array()) commits += d.at("commits").to_number<std::uint64_t>();
    CHECK(commits == 10);
    r = run(dir.path().string(), {"--store", "sqlite:" + dir.file("st.db"), "stats"});
    CHECK(r.code == 0);
    CHECK(r.out.find("MoneyWithdrawn      10") != std::string::npos);
}

TEST_CASE("export then import into a new SQLite file keeps every event exactly", "[cli]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    auto source = make_store(dir.file("from.db"), 2500); // more than one import batch
    auto r = run(scratch, {"--store", "sqlite:" + dir.file("from.db"), "export", "-o", dir.file("log.jsonl")});
    REQUIRE(r.code == 0);
    CHECK(r.out.starts_with("exported "));
    r = run(scratch, {"--store", "sqlite:" + dir.file("to.db"), "import", dir.file("log.jsonl")});
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto target = eventcore::sqlite::Database::open(dir.file("to.db")).value();
    CHECK(stored_log(*target) == stored_log(*source));

    // Standard output and standard input work as well as files, and give the same log.
    r = run(scratch, {"--store", "sqlite:" + dir.file("to.db"), "export"});
    REQUIRE(r.code == 0);
    CHECK(r.out == cli_support::slurp(dir.file("log.jsonl")));
    r = run(scratch, {"--store", "sqlite:" + dir.file("piped.db"), "--json", "import"}, dir.file("log.jsonl"));
    REQUIRE(r.code == 0);
    CHECK(boost::json::parse(r.out).at("imported").to_number<std::uint64_t>() == source->head().value().value());

    // The copy is sound.
    r = run(scratch, {"--store", "sqlite:" + dir.file("to.db"), "verify"});
    CHECK(r.code == 0);
    CHECK(r.out.find("result         sound") != std::string::npos);
}

TEST_CASE("import refuses a non-empty store unless told, and then must continue its log", "[cli]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    auto source = make_store(dir.file("src.db"), 10);
    REQUIRE(run(scratch, {"--store", "sqlite:" + dir.file("src.db"), "export", "-o", dir.file("all.jsonl")}).code == 0);
    make_store(dir.file("busy.db"), 1);

    auto r = run(scratch, {"--store", "sqlite:" + dir.file("busy.db"), "import", dir.file("all.jsonl")});
    CHECK(r.code == 4);
    CHECK(r.err_lines() == 1);
    CHECK(r.err.find("not empty") != std::string::npos);

    r = run(scratch, {"--store", "sqlite:" + dir.file("busy.db"), "import", "--allow-non-empty", dir.file("all.jsonl")});
    CHECK(r.code == 2);
    CHECK(r.err_lines() == 1);
    CHECK(r.err.find("imported event at position 1 where the log needs a position after 2") != std::string::npos);

    // An incremental export continues a copy.
    REQUIRE(run(scratch, {"--store", "sqlite:" + dir.file("src.db"), "export", "-o", dir.file("first.jsonl")}).code == 0);
    REQUIRE(run(scratch, {"--store", "sqlite:" + dir.file("copy.db"), "import", dir.file("first.jsonl")}).code == 0);
    const auto head = source->head().value();
    cli_support::populate(*source, 5);
    REQUIRE(run(scratch, {"--store", "sqlite:" + dir.file("src.db"), "export", "--from", std::to_string(head.value()),
                          "-o", dir.file("more.jsonl")})
                .code == 0);
    r = run(scratch, {"--store", "sqlite:" + dir.file("copy.db"), "import", "--force", dir.file("more.jsonl")});
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto copy = eventcore::sqlite::Database::open(dir.file("copy.db")).value();
    CHECK(stored_log(*copy) == stored_log(*source));

    // A malformed line is named.
    std::ofstream(dir.file("bad.jsonl")) << "{\"position\":1}\n";
    r = run(scratch, {"--store", "sqlite:" + dir.file("new.db"), "import", dir.file("bad.jsonl")});
    CHECK(r.code == 2);
    CHECK(r.err.find("line 1: field \"stream\" is missing") != std::string::npos);
}

TEST_CASE("import says which line is bad and what is wrong with it, and writes nothing", "[cli][import]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    make_store(dir.file("src.db"), 6);
    REQUIRE(run(scratch, {"--store", "sqlite:" + dir.file("src.db"), "export", "-o", dir.file("all.jsonl")}).code == 0);
    std::vector<std::string> lines;
    {
        std::istringstream in(cli_support::slurp(dir.file("all.jsonl")));
        for (std::string line; std::getline(in, line);) lines.push_back(line);
    }
    REQUIRE(lines.size() >= 4);
    const auto replace = [](std::string text, const std::string& from, const std::string& to) {
        const auto at = text.find(from);
        REQUIRE(at != std::string::npos);
        return text.replace(at, from.size(), to);
    };
    struct Fault {
        const char* what;
        std::size_t line; // 1-based: the line the fault is put in
        std::string text;
        std::string says;
    };
    const std::vector<Fault> faults{
        {"a byte order mark", 1, "\xEF\xBB\xBF" + lines[0], "line 1: not an exported event: it starts with a UTF-8 byte order mark"},
        {"a truncated line", 3, lines[2].substr(0, lines[2].size() / 2),
         "line 3: not an exported event: the line ends inside its JSON object, after"},
        {"invalid UTF-8", 2, replace(lines[1], "\"stream\":\"", "\"stream\":\"\xC3\x28"),
         "line 2: not an exported event: invalid UTF-8 at byte"},
        {"a number as a string", 3, replace(lines[2], "\"version\":", "\"version\":\"1\",\"was\":"),
         "line 3: field \"version\" is the string \"1\", where a positive integer belongs"},
        {"a negative position", 2, replace(lines[1], "\"position\":", "\"position\":-"),
         "line 2: field \"position\" is the number -"},
        {"a string as a number", 2, replace(lines[1], "\"type\":\"", "\"type\":7,\"was\":\""),
         "line 2: field \"type\" is the number 7, where a string belongs"},
        {"a bad metadata pair", 1, replace(lines[0], "\"metadata\":[", "\"metadata\":[[\"k\"],"),
         "line 1: field \"metadata\": entry 1 is [\"k\"], where a [key, value] pair of strings belongs"},
        {"text after the object", 2, lines[1] + " x", "line 2: not an exported event: text after the JSON object, at byte"},
        {"not an object", 3, "[1, 2, 3]", "line 3: not an exported event: a JSON array, not an object"},
        {"a missing field", 2, replace(lines[1], "\"event_id\":", "\"was_event_id\":"),
         "line 2: field \"event_id\" is missing (a string belongs there)"},
        {"a syntax error", 1, "{\"position\": 1,, }", "line 1: not an exported event: not JSON: syntax error at byte 16"},
    };
    for (const auto& f : faults) {
        DYNAMIC_SECTION(f.what) {
            std::string text;
            for (std::size_t i = 0; i < lines.size(); ++i) text += (i + 1 == f.line ? f.text : lines[i]) + '\n';
            std::ofstream(dir.file("bad.jsonl"), std::ios::binary) << text;
            const auto r = run(scratch, {"--store", "sqlite:" + dir.file("new.db"), "import", dir.file("bad.jsonl")});
            INFO(r.err);
            CHECK(r.code == 2);
            CHECK(r.err_lines() == 1);
            CHECK(r.err.find(dir.file("bad.jsonl") + ": " + f.says) != std::string::npos);
            // Nothing of the file went in.
            const auto stats = run(scratch, {"--store", "sqlite:" + dir.file("new.db"), "--json", "stats"});
            REQUIRE(stats.code == 0);
            CHECK(boost::json::parse(stats.out).at("events").to_number<std::uint64_t>() == 0);
        }
    }
}

TEST_CASE("a negative count or position is refused, not read as a huge number", "[cli]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    make_store(dir.file("n.db"), 5);
    const std::string store = "sqlite:" + dir.file("n.db");
    const std::vector<std::vector<std::string>> commands{
        {"tail", "--from", "-1"},      {"tail", "--limit", "-1"},      {"streams", "--limit", "-1"},
        {"read", "account-1", "--from", "-1"}, {"read", "account-1", "--limit", "-1"}, {"export", "--from", "-1"},
        {"projections", "reset", "x", "--to", "-1"}, {"tail", "--limit", "1e3"}, {"tail", "--from", " 2"}};
    for (const auto& command : commands) {
        std::vector<std::string> args{"--store", store};
        args.insert(args.end(), command.begin(), command.end());
        const auto r = run(scratch, args);
        INFO(command[0] << " " << command[command.size() - 2] << " " << command.back() << ": " << r.err << r.out);
        CHECK(r.code == 2);
        CHECK(r.err_lines() == 1);
        CHECK(r.err.find(command[command.size() - 2] + ": must be a whole number, 0 or more, not '" + command.back() + "'") !=
              std::string::npos);
        CHECK(r.out.empty());
    }
    // What is right still works.
    CHECK(run(scratch, {"--store", store, "tail", "--from", "0", "--limit", "2"}).code == 0);
}

TEST_CASE("verify passes a sound file and catches a broken one", "[cli]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    make_store(dir.file("v.db"), 30);
    const std::string store = "sqlite:" + dir.file("v.db");
    auto r = run(scratch, {"--store", store, "verify"});
    CHECK(r.code == 0);

    SECTION("a deleted event") {
        raw_sql(dir.file("v.db"), "DELETE FROM events WHERE position = 5");
        r = run(scratch, {"--store", store, "--json", "verify"});
        CHECK(r.code == 1);
        const auto report = boost::json::parse(r.out);
        CHECK(!report.at("sound").as_bool());
        bool gap = false;
        for (const auto& p : report.at("problems").as_array()) {
            // Seen in the stream: its versions skip one, or it is listed past its last event.
            const std::string text(p.as_string());
            gap = gap || text.find("of the stream is missing") != std::string::npos ||
                  text.find("but its events reach") != std::string::npos;
        }
        CHECK(gap);
    }
    SECTION("a version out of line") {
        raw_sql(dir.file("v.db"), "UPDATE events SET version = version + 100 WHERE position = 12");
        r = run(scratch, {"--store", store, "verify"});
        CHECK(r.code == 1);
        CHECK(r.out.find("versions") != std::string::npos);
    }
    SECTION("a stream id that is not UTF-8") {
        raw_sql(dir.file("v.db"), "UPDATE events SET stream_id = CAST(X'6163C328' AS TEXT) WHERE position = 3");
        r = run(scratch, {"--store", store, "--json", "verify"});
        CHECK(r.code == 1);
        boost::system::error_code ec;
        const auto report = boost::json::parse(r.out, ec); // the report stays UTF-8
        REQUIRE(!ec);
        bool named = false;
        for (const auto& p : report.at("problems").as_array())
            named = named || p.as_string().find("stream 'ac\\xc3(' version") != std::string::npos;
        CHECK(named);
    }
    SECTION("damaged metadata") {
        raw_sql(dir.file("v.db"), "UPDATE events SET event_id = X'00' WHERE position = 9");
        r = run(scratch, {"--store", store, "verify"});
        CHECK(r.code == 1);
        CHECK(r.out.find("16-byte UUID") != std::string::npos);
    }
}

namespace {

/// Commits with command ids, as an executor with idempotency keys makes them: transfers of two
/// events, single events, and one command that wrote nothing. Returns the ids.
auto commit_with_ids(eventcore::sqlite::Database& db, int commits) -> std::vector<eventcore::Uuid> {
    using namespace eventcore;
    std::vector<Uuid> ids;
    for (int i = 0; i < commits; ++i) {
        const StreamId a(fmt::format("account-{}", i % 5));
        const StreamId b(fmt::format("account-{}", (i + 2) % 5));
        const StreamId rates("rates"); // read, never written
        EventMetadata m;
        m.event_id = Uuid::v7();
        std::vector<StreamExpectation> expect{{a, ExpectedVersion::any()}, {rates, ExpectedVersion::any()}};
        std::vector<EncodedWrite> writes{{&a, {"MoneyWithdrawn", R"({"amount":1})"}, &m}};
        if (i % 2 == 0) {
            expect.push_back({b, ExpectedVersion::any()});
            writes.push_back({&b, {"MoneyDeposited", R"({"amount":1})"}, &m});
        }
        if (i == 3) writes.clear(); // decided to do nothing, and said so under its id
        ids.push_back(Uuid::v7());
        db.append(expect, writes, ids.back()).value();
    }
    return ids;
}

auto problems_of(const Run& r) -> std::vector<std::string> {
    std::vector<std::string> out;
    const auto report = boost::json::parse(r.out);
    for (const auto& p : report.at("problems").as_array()) out.emplace_back(p.as_string());
    return out;
}

auto any_contains(const std::vector<std::string>& lines, const std::string& part) -> bool {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

} // namespace

TEST_CASE("verify: a payload that is not JSON is a note, not damage", "[cli][verify]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    auto db = make_store(dir.file("bin.db"), 5);
    // What a binary codec (protobuf, say) stores: any bytes.
    const eventcore::StreamId id("sensor-1");
    for (int i = 0; i < 4; ++i) {
        std::string bytes;
        for (int b = 0; b < 256; ++b) bytes += static_cast<char>((b * 7 + i) & 0xFF);
        const eventcore::EventMetadata m{};
        std::vector<eventcore::StreamExpectation> expect{{id, eventcore::ExpectedVersion::any()}};
        std::vector<eventcore::EncodedWrite> writes{{&id, {"Reading", bytes}, &m}};
        db->append(expect, writes, std::nullopt).value();
    }
    const std::string store = "sqlite:" + dir.file("bin.db");
    auto r = run(scratch, {"--store", store, "verify"});
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(r.out.find("result         sound") != std::string::npos);
    CHECK(r.out.find("note           4 payloads are not JSON") != std::string::npos);
    r = run(scratch, {"--store", store, "--json", "verify"});
    CHECK(r.code == 0);
    const auto report = boost::json::parse(r.out);
    CHECK(report.at("sound").as_bool());
    CHECK(report.at("payloads_not_json").to_number<std::uint64_t>() == 4);
    CHECK(report.at("problems").as_array().empty());
}

TEST_CASE("verify runs SQLite's own integrity check", "[cli][verify]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    make_store(dir.file("c.db"), 30);
    const std::string store = "sqlite:" + dir.file("c.db");
    auto r = run(scratch, {"--store", store, "--json", "verify"});
    REQUIRE(r.code == 0);
    CHECK(boost::json::parse(r.out).at("integrity_check").as_string() == "ok");

    // Index entries lost while the table keeps its rows: rebuild the stream index as if it
    // covered only later versions, then give it back its real definition. Every row is still
    // there and reads the same; only SQLite's own check can tell.
    raw_sql(dir.file("c.db"),
            "PRAGMA writable_schema = ON; "
            "UPDATE sqlite_schema SET sql = 'CREATE UNIQUE INDEX events_by_stream ON events (stream_id, version) "
            "WHERE version > 1' WHERE name = 'events_by_stream'; "
            "PRAGMA writable_schema = RESET");
    raw_sql(dir.file("c.db"), "REINDEX events_by_stream");
    raw_sql(dir.file("c.db"),
            "PRAGMA writable_schema = ON; "
            "UPDATE sqlite_schema SET sql = 'CREATE UNIQUE INDEX events_by_stream ON events (stream_id, version)' "
            "WHERE name = 'events_by_stream'; "
            "PRAGMA writable_schema = RESET");
    r = run(scratch, {"--store", store, "--json", "verify"});
    INFO(r.out << r.err);
    CHECK(r.code == 1);
    const auto report = boost::json::parse(r.out);
    CHECK(!report.at("sound").as_bool());
    CHECK(report.at("integrity_check").as_string() == "problems");
    CHECK(any_contains(problems_of(r), "SQLite's integrity check: "));
    CHECK(any_contains(problems_of(r), "events_by_stream"));
    r = run(scratch, {"--store", store, "verify"});
    CHECK(r.code == 1);
    CHECK(r.out.find("NOT SOUND") != std::string::npos);

    // Damaged so that SQLite cannot even read the schema: not sound either, rather than a store
    // that failed to open.
    raw_sql(dir.file("c.db"), "PRAGMA writable_schema = ON; "
                              "UPDATE sqlite_schema SET sql = 'CREATE TABLE checkpoints (' WHERE name = 'checkpoints'");
    r = run(scratch, {"--store", store, "--json", "verify"});
    INFO(r.out << r.err);
    CHECK(r.code == 1);
    CHECK(any_contains(problems_of(r), "malformed database schema"));
}

TEST_CASE("verify checks every idempotency record against the log", "[cli][verify]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    const auto path = dir.file("ids.db");
    std::vector<eventcore::Uuid> ids;
    {
        auto db = eventcore::sqlite::Database::open(path).value();
        cli_support::populate(*db, 4); // commits without ids around them
        ids = commit_with_ids(*db, 12);
        cli_support::populate(*db, 2);
    }
    const std::string store = "sqlite:" + path;
    auto r = run(scratch, {"--store", store, "--json", "verify"});
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(boost::json::parse(r.out).at("command_records").to_number<std::uint64_t>() == 12);
    const auto id = [&](std::size_t i) { return fmt::format("X'{}'", fmt::format("{}", ids[i]).erase(8, 1).erase(12, 1).erase(16, 1).erase(20, 1)); };
    const auto named = [&](std::size_t i) { return fmt::format("command record {}: ", ids[i]); };

    struct Damage {
        const char* what;
        std::string sql;
        std::size_t record;
        std::string says;
    };
    const std::vector<Damage> damages{
        {"a record lost, its streams left", "DELETE FROM commands WHERE command_id = " + id(4), 4,
         "its streams are recorded, but the record itself is missing"},
        {"a stream entry lost", "DELETE FROM command_streams WHERE ordinal = 0 AND command_id = " + id(2), 2,
         "its stream entry 0 is missing"},
        {"a record moved into the middle of a commit",
         "UPDATE commands SET first_position = first_position + 1 WHERE command_id = " + id(6), 6, "inside a commit"},
        {"a record that miscounts its events", "UPDATE commands SET event_count = 1 WHERE command_id = " + id(8), 8,
         "it records 1 events from position"},
        {"a stream version altered",
         "UPDATE command_streams SET version = version + 1 WHERE ordinal = 0 AND command_id = " + id(5), 5,
         "at version"},
        {"a record pointing past the log", "UPDATE commands SET first_position = 5000 WHERE command_id = " + id(7), 7,
         "beyond the head"},
        {"a read-only stream's version altered",
         "UPDATE command_streams SET version = 9 WHERE ordinal = 1 AND command_id = " + id(9), 9,
         "stream 'rates' at version 9"},
        {"the record of a command that wrote nothing altered",
         "UPDATE command_streams SET version = version + 3 WHERE ordinal = 0 AND command_id = " + id(3), 3,
         "before the position it records"},
        {"a record's commit time altered", "UPDATE commands SET committed_at = committed_at - 1 WHERE command_id = " + id(10),
         10, "it records a commit at"},
    };
    for (const auto& d : damages) {
        DYNAMIC_SECTION(d.what) {
            raw_sql(path, d.sql.c_str());
            r = run(scratch, {"--store", store, "--json", "verify"});
            INFO(r.out << r.err);
            CHECK(r.code == 1);
            CHECK(any_contains(problems_of(r), named(d.record) + ""));
            bool said = false;
            for (const auto& p : problems_of(r)) said = said || (p.starts_with(named(d.record)) && p.find(d.says) != std::string::npos);
            CHECK(said);
        }
    }
}

TEST_CASE("verify reads one snapshot: a store in use is sound", "[cli][verify]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    const auto path = dir.file("busy.db");
    auto db = make_store(path, 2000);
    std::atomic<bool> stop{false};
    std::atomic<int> written{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 2; ++t) {
        writers.emplace_back([&, t] {
            auto mine = eventcore::sqlite::Database::open(path).value();
            while (!stop) {
                (void)commit_with_ids(*mine, 1);
                cli_support::populate(*mine, 1, 3 + t);
                // A projection keeping up: its checkpoint is never beyond the head it has seen.
                (void)mine->save_checkpoint(fmt::format("live-{}", t), mine->head().value());
                written += 2;
            }
        });
    }
    int unsound = 0;
    constexpr int runs = 20;
    for (int i = 0; i < runs; ++i) {
        const auto r = run(scratch, {"--store", "sqlite:" + path, "--json", "verify"});
        INFO(r.out << r.err);
        CHECK(r.code == 0);
        if (r.code != 0) ++unsound;
    }
    stop = true;
    for (auto& w : writers) w.join();
    CHECK(written > 0);
    CHECK(unsound == 0);
    CHECK(run(scratch, {"--store", "sqlite:" + path, "verify"}).code == 0);
}

TEST_CASE("migrate creates and updates the schema, projections lists lag and resets", "[cli]") {
    TempDir dir;
    const auto scratch = dir.path().string();
    const std::string store = "sqlite:" + dir.file("p.db");
    auto r = run(scratch, {"--store", store, "migrate"});
    REQUIRE(r.code == 0);
    CHECK(r.out == store + ": schema version 0 -> 2 (created)\n");
    r = run(scratch, {"--store", store, "migrate"});
    CHECK(r.out == store + ": schema version 2, up to date\n");

    auto db = eventcore::sqlite::Database::open(dir.file("p.db")).value();
    cli_support::populate(*db, 10);
    REQUIRE(db->save_checkpoint("balances", eventcore::GlobalPosition{10}));
    REQUIRE(db->save_checkpoint("audit", eventcore::GlobalPosition{17}));
    r = run(scratch, {"--store", store, "--json", "projections"});
    REQUIRE(r.code == 0);
    auto doc = boost::json::parse(r.out);
    CHECK(doc.at("head").to_number<std::uint64_t>() == 17);
    const auto& list = doc.at("projections").as_array();
    REQUIRE(list.size() == 2);
    CHECK(list[0].at("name").as_string() == "audit");
    CHECK(list[0].at("lag").to_number<std::uint64_t>() == 0);
    CHECK(list[1].at("lag").to_number<std::uint64_t>() == 7);

    {
        auto running = db->lock_projection("balances", std::chrono::milliseconds(0)).value();
        r = run(scratch, {"--store", store, "projections", "reset", "balances"});
        CHECK(r.code == 4);
        CHECK(r.err == "eventcore: projection 'balances' is running; stop it before resetting it\n");
    }
    r = run(scratch, {"--store", store, "projections", "reset", "balances", "--to", "3"});
    REQUIRE(r.code == 0);
    CHECK(db->load_checkpoint("balances").value() == eventcore::GlobalPosition{3});
    r = run(scratch, {"--store", store, "projections", "reset", "balances"});
    REQUIRE(r.code == 0);
    CHECK(!db->load_checkpoint("balances").value().has_value());
    r = run(scratch, {"--store", store, "projections", "reset", "nobody"});
    CHECK(r.code == 1);
}
