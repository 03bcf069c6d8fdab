// The SQLite file is what the user named: a path is a path (never a URI), a database that is not
// an eventcore store is left exactly as it was, and a path that is no database file is refused at
// once, with its name and what is wrong.
#include "support/bank.hpp"
#include "support/process.hpp"

#include <eventcore/sqlite/database.hpp>
#include <eventcore/sqlite_event_store.hpp>

#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using eventcore::ErrorKind;
using eventcore::sqlite::Database;
using testing_support::TempDir;

namespace {

using BankStore = eventcore::SqliteEventStore<bank::BankEvent>;

/// Runs SQL on the file directly, as another program would.
auto raw_sql(const std::string& path, const std::string& sql) -> std::string {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
    std::string result;
    char* error = nullptr;
    const int rc = sqlite3_exec(
        db, sql.c_str(),
        [](void* out, int columns, char** values, char**) {
            auto& text = *static_cast<std::string*>(out);
            for (int i = 0; i < columns; ++i) text += (i ? "|" : "") + std::string(values[i] ? values[i] : "NULL");
            text += '\n';
            return 0;
        },
        &result, &error);
    const std::string message = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    INFO(sql << ": " << message);
    REQUIRE(rc == SQLITE_OK);
    return result;
}

auto file_bytes(const std::string& path) -> std::string {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

/// Runs the rest of a scope in another working directory, for relative paths.
class WorkingDirectory {
public:
    explicit WorkingDirectory(const std::filesystem::path& to) : before_(std::filesystem::current_path()) {
        std::filesystem::current_path(to);
    }
    WorkingDirectory(const WorkingDirectory&) = delete;
    auto operator=(const WorkingDirectory&) -> WorkingDirectory& = delete;
    ~WorkingDirectory() {
        std::error_code ec;
        std::filesystem::current_path(before_, ec);
    }

private:
    std::filesystem::path before_;
};

auto append_one(Database& db, const std::string& stream, const std::string& payload) {
    const eventcore::StreamId id(stream);
    const eventcore::EventMetadata m{};
    std::vector<eventcore::StreamExpectation> expect{{id, eventcore::ExpectedVersion::any()}};
    std::vector<eventcore::EncodedWrite> writes{{&id, {"Noted", payload}, &m}};
    return db.append(expect, writes, std::nullopt).value();
}

auto payloads_of(Database& db, const std::string& stream) -> std::vector<std::string> {
    std::vector<std::string> out;
    (void)db.read_stream(eventcore::StreamId(stream), eventcore::StreamVersion{1}, [&](const eventcore::StoredEvent& e) {
        out.emplace_back(e.payload);
        return eventcore::Result<void>{};
    }).value();
    return out;
}

/// The command ids a worker reported as committed.
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

} // namespace

TEST_CASE("a path that looks like an SQLite URI is the file of that name, and keeps its data", "[sqlite][paths]") {
    TempDir dir;
    const WorkingDirectory here(dir.path());
    for (const std::string name : {"file:x.db?mode=memory", "file:y.db?nolock=1", "file:z.db?immutable=1&mode=ro",
                                   "file::memory:"}) {
        INFO(name);
        {
            auto db = Database::open(name).value();
            append_one(*db, "notes", R"({"n":1})");
            CHECK(db->path() == name);
        }
        // The file has exactly the name given, and it is where the data went.
        CHECK(std::filesystem::is_regular_file(dir.path() / name));
        CHECK(raw_sql((dir.path() / name).string(), "SELECT count(*) FROM events") == "1\n");
        auto again = Database::open(name).value();
        CHECK(payloads_of(*again, "notes") == std::vector<std::string>{R"({"n":1})"});
        CHECK(Database::schema_version_at(name).value() == eventcore::sqlite::schema_version);
    }
    // Nothing was created under the names the URIs would have meant.
    CHECK(!std::filesystem::exists(dir.path() / "x.db"));
    CHECK(!std::filesystem::exists(dir.path() / "y.db"));
    CHECK(!std::filesystem::exists(dir.path() / "z.db"));
}

TEST_CASE("\":memory:\" is still the library's private in-memory database", "[sqlite][paths]") {
    TempDir dir;
    const WorkingDirectory here(dir.path());
    auto one = Database::open(":memory:").value();
    append_one(*one, "notes", "[]");
    auto other = Database::open(":memory:").value();
    CHECK(payloads_of(*one, "notes").size() == 1);
    CHECK(payloads_of(*other, "notes").empty());
    CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("processes sharing a file named like a nolock URI do not lose commits", "[sqlite][paths][multi-process]") {
    constexpr int accounts = 4;
    constexpr int processes = 3;
    constexpr int transfers = 80;
    TempDir dir;
    const WorkingDirectory here(dir.path()); // the workers inherit it
    const std::string name = "file:shared.db?nolock=1";
    {
        auto store = BankStore::open(name);
        REQUIRE(store);
        eventcore::CommandExecutor executor{*store};
        for (int a = 0; a < accounts; ++a)
            REQUIRE(executor.execute(bank::OpenAccount{bank::id(fmt::format("account-{}", a)), 1000}));
    }
    std::vector<std::unique_ptr<testing_support::Child>> workers;
    for (int p = 0; p < processes; ++p) {
        workers.push_back(std::make_unique<testing_support::Child>(
            std::vector<std::string>{EVENTCORE_STORE_WORKER, "sqlite", name, std::to_string(accounts),
                                     std::to_string(transfers), std::to_string(p + 1)}));
    }
    std::vector<eventcore::Uuid> committed;
    for (auto& w : workers) {
        CHECK(w->wait() == 0);
        const auto ids = reported_commits(w->output());
        committed.insert(committed.end(), ids.begin(), ids.end());
    }
    REQUIRE(!committed.empty());
    CHECK(std::filesystem::is_regular_file(dir.path() / name));
    CHECK(raw_sql((dir.path() / name).string(), "PRAGMA integrity_check") == "ok\n");
    auto store = BankStore::open(name);
    REQUIRE(store);
    for (const auto& id : committed) REQUIRE(store->find_commit(id).value().has_value());
    CHECK(eventcore::load_log(*store)->size() == accounts + 2 * committed.size());
    std::int64_t total = 0;
    for (int a = 0; a < accounts; ++a) total += bank::balance(*store, bank::id(fmt::format("account-{}", a)));
    CHECK(total == accounts * 1000);
}

TEST_CASE("a database that is not an eventcore store is refused untouched", "[sqlite][paths]") {
    TempDir dir;
    const auto path = dir.file("theirs.db");
    const std::string journal = GENERATE(as<std::string>{}, "delete", "wal");
    INFO("journal mode " << journal);
    raw_sql(path, "PRAGMA journal_mode = " + journal +
                      "; CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); "
                      "INSERT INTO customers (name) VALUES ('Ada'), ('Grace'); CREATE INDEX by_name ON customers (name)");
    const auto before = file_bytes(path);
    REQUIRE(!before.empty());

    for (const bool read_only : {false, true}) {
        const auto opened = Database::open(path, {.read_only = read_only});
        const auto& error = testing_support::error_of(opened);
        CHECK(error.kind() == ErrorKind::storage);
        CHECK(error.code() == "EVENTCORE_NOT_A_STORE");
        CHECK_THAT(error.message(), Catch::Contains(path) && Catch::Contains("not an eventcore store") &&
                                        Catch::Contains("table \"customers\""));
    }
    const auto version = Database::schema_version_at(path);
    CHECK(testing_support::error_of(version).code() == "EVENTCORE_NOT_A_STORE");

    CHECK(file_bytes(path) == before);
    CHECK(!std::filesystem::exists(path + "-wal"));
    CHECK(!std::filesystem::exists(path + "-shm"));
    CHECK(raw_sql(path, "PRAGMA journal_mode") == journal + "\n");
    CHECK(raw_sql(path, "SELECT name FROM sqlite_schema ORDER BY name") == "by_name\ncustomers\n");
}

TEST_CASE("an empty file, or an SQLite database with nothing in it, becomes a store", "[sqlite][paths]") {
    TempDir dir;
    std::ofstream(dir.file("empty.db")).close();
    raw_sql(dir.file("bare.db"), "PRAGMA user_version = 7; VACUUM");
    for (const auto* name : {"empty.db", "bare.db"}) {
        INFO(name);
        auto db = Database::open(dir.file(name)).value();
        append_one(*db, "notes", "{}");
        CHECK(db->stored_schema_version().value() == eventcore::sqlite::schema_version);
    }
}

TEST_CASE("a path that is a directory or a named pipe is refused at once, naming it", "[sqlite][paths]") {
    TempDir dir;
    std::filesystem::create_directory(dir.file("folder.db"));
    REQUIRE(::mkfifo(dir.file("pipe.db").c_str(), 0600) == 0);
    for (const auto& [name, described] : std::map<std::string, std::string>{{"folder.db", "is a directory"},
                                                                            {"pipe.db", "is a named pipe (FIFO)"}}) {
        const auto path = dir.file(name);
        const std::string what = described; // a lambda may not capture a structured binding (Clang 14)
        INFO(path);
        // In a child with an alarm: SQLite opening a pipe waits for a writer forever, and a test
        // of that must fail, not hang.
        const int outcome = testing_support::in_child([&] {
            ::alarm(20);
            for (const bool read_only : {false, true}) {
                auto db = Database::open(path, {.read_only = read_only});
                if (db) return 10;
                if (db.error().code() != "EVENTCORE_NOT_A_FILE") return 11;
                if (db.error().message() != "SQLite database '" + path + "' " + what + ", not a database file")
                    return 12;
            }
            auto version = Database::schema_version_at(path);
            if (version || version.error().code() != "EVENTCORE_NOT_A_FILE") return 13;
            return 0;
        });
        CHECK(outcome == 0);
    }
    CHECK(std::filesystem::is_directory(dir.file("folder.db")));
    CHECK(std::filesystem::is_empty(dir.file("folder.db")));
}

TEST_CASE("a missing folder is named in the error", "[sqlite][paths]") {
    TempDir dir;
    const auto missing = Database::open(dir.file("no/such/dir/x.db"));
    CHECK(testing_support::error_of(missing).kind() == ErrorKind::store_unavailable);
    CHECK(testing_support::error_of(missing).message() == "cannot create SQLite database '" + dir.file("no/such/dir/x.db") +
                                                              "': folder '" + dir.file("no/such/dir") +
                                                              "' does not exist");
}

TEST_CASE("a read-only folder is named in the error, for reading and for writing", "[sqlite][paths]") {
    TempDir dir;
    const auto folder = dir.file("shelf");
    const auto path = folder + "/x.db";
    std::filesystem::create_directory(folder);
    {
        auto db = Database::open(path).value(); // in WAL mode: it needs x.db-shm beside it
        append_one(*db, "notes", "{}");
    }
    REQUIRE(!std::filesystem::exists(path + "-wal"));
    // Root may write anywhere: the checks run as an unprivileged user, who may write the file
    // but not the folder.
    const bool root = ::geteuid() == 0;
    constexpr uid_t nobody = 65534;
    if (root) {
        REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
        REQUIRE(::chown(path.c_str(), nobody, nobody) == 0);
    }
    REQUIRE(::chmod(folder.c_str(), 0555) == 0);
    const int outcome = testing_support::in_child([&] {
        if (root && (::setgid(nobody) != 0 || ::setuid(nobody) != 0)) return 20;
        const auto names_folder = [&](const eventcore::Error& e) {
            return e.message().find("'" + path + "'") != std::string::npos &&
                   e.message().find("its folder '" + folder + "' is not writable") != std::string::npos;
        };
        for (const bool read_only : {false, true}) {
            auto db = Database::open(path, {.read_only = read_only});
            if (db) return 10;
            if (!names_folder(db.error())) return read_only ? 12 : 11;
        }
        auto version = Database::schema_version_at(path);
        if (version || !names_folder(version.error())) return 13;
        auto created = Database::open(folder + "/new.db");
        if (created) return 14;
        if (created.error().message().find("cannot create SQLite database '" + folder + "/new.db': folder '" + folder +
                                           "' is not writable") == std::string::npos)
            return 15;
        return 0;
    });
    ::chmod(folder.c_str(), 0755);
    CHECK(outcome == 0);
    CHECK(!std::filesystem::exists(folder + "/new.db"));
}
