#include "support/bank.hpp"
#include "support/contract.hpp"
#include "support/process.hpp"

#include <eventcore/sqlite_event_store.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

using eventcore::ErrorKind;
using eventcore::ExpectedVersion;
using eventcore::GlobalPosition;
using eventcore::SqliteEventStore;
using eventcore::StreamId;
using eventcore::StreamVersion;
using eventcore::testing::ContractEvent;
using eventcore::testing::ContractHarness;
using testing_support::TempDir;

static_assert(eventcore::LiveEventStore<SqliteEventStore<ContractEvent>>);

namespace {

using ContractStore = SqliteEventStore<ContractEvent>;
using BankStore = SqliteEventStore<bank::BankEvent>;

/// Runs SQL on the file directly, bypassing the store: to damage it, or to look under the hood.
auto raw_sql(const std::string& path, const std::string& sql) -> std::string {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
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

auto contract_harness(const TempDir& dir) -> ContractHarness<ContractStore> {
    auto counter = std::make_shared<int>(0);
    return {.make = [&dir, counter] {
                auto store = ContractStore::open(dir.file(fmt::format("contract-{}.db", ++*counter)));
                REQUIRE(store);
                return std::make_unique<ContractStore>(std::move(*store));
            },
            .corrupt_payload = [](ContractStore& store, const StreamId& stream, StreamVersion version) {
                raw_sql(store.database()->path(),
                        fmt::format("UPDATE events SET payload = x'7b226f776e6572223a' WHERE stream_id = '{}' AND "
                                    "version = {}",
                                    stream, version));
            }};
}

/// Checks what must hold of a bank file after any number of crashes: the file is sound,
/// positions gap-free, versions contiguous, each transfer whole, and money conserved.
void check_bank_file(const std::string& path, int accounts, std::int64_t initial) {
    REQUIRE(raw_sql(path, "PRAGMA integrity_check") == "ok\n");
    auto store = BankStore::open(path);
    REQUIRE(store);
    const auto log = eventcore::load_log(*store).value();
    std::map<StreamId, std::uint64_t> versions;
    std::map<eventcore::Uuid, int> events_per_command;
    for (std::size_t i = 0; i < log.size(); ++i) {
        REQUIRE(log[i].position == GlobalPosition{i + 1});
        REQUIRE(log[i].version.value() == ++versions[log[i].stream]);
        ++events_per_command[log[i].metadata.causation_id];
        if (std::holds_alternative<bank::MoneyWithdrawn>(log[i].payload)) {
            // A transfer's two events are adjacent: withdrawal, then deposit.
            REQUIRE(i + 1 < log.size());
            REQUIRE(log[i + 1].metadata.causation_id == log[i].metadata.causation_id);
            REQUIRE(std::holds_alternative<bank::MoneyDeposited>(log[i + 1].payload));
        }
    }
    std::int64_t total = 0;
    for (int a = 0; a < accounts; ++a) total += bank::balance(*store, bank::id(fmt::format("account-{}", a)));
    CHECK(total == accounts * initial);
}

void open_accounts(const std::string& path, int accounts, std::int64_t initial) {
    auto store = BankStore::open(path);
    REQUIRE(store);
    eventcore::CommandExecutor executor{*store};
    for (int a = 0; a < accounts; ++a)
        REQUIRE(executor.execute(bank::OpenAccount{bank::id(fmt::format("account-{}", a)), initial}));
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

TEST_CASE("the SQLite store keeps the store contract (file)", "[sqlite][contract]") {
    TempDir dir;
    testing_support::check_store_contract(contract_harness(dir));
}

TEST_CASE("the SQLite store keeps the store contract (in memory)", "[sqlite][contract]") {
    testing_support::check_store_contract(ContractHarness<ContractStore>{.make = [] {
        auto store = ContractStore::open(":memory:");
        REQUIRE(store);
        return std::make_unique<ContractStore>(std::move(*store));
    }});
}

TEST_CASE("the executor runs bank transfers on SQLite", "[sqlite]") {
    TempDir dir;
    auto store = BankStore::open(dir.file("bank.db"));
    REQUIRE(store);
    eventcore::CommandExecutor executor{*store};
    REQUIRE(executor.execute(bank::OpenAccount{bank::id("account-1"), 1000}));
    REQUIRE(executor.execute(bank::OpenAccount{bank::id("account-2"), 500}));
    auto r = executor.execute(bank::TransferMoney{bank::id("account-1"), bank::id("account-2"), 300});
    REQUIRE(r);
    CHECK(bank::balance(*store, bank::id("account-1")) == 700);
    CHECK(bank::balance(*store, bank::id("account-2")) == 800);

    SECTION("and the file keeps them after reopening") {
        auto reopened = BankStore::open(dir.file("bank.db"));
        REQUIRE(reopened);
        CHECK(bank::balance(*reopened, bank::id("account-1")) == 700);
        CHECK(reopened->database()->stored_schema_version().value() == eventcore::sqlite::schema_version);
        CHECK(raw_sql(dir.file("bank.db"), "PRAGMA journal_mode") == "wal\n");
    }
}

TEST_CASE("a result holds the events it wrote whole, also for a duplicate (SQLite)", "[sqlite]") {
    TempDir dir;
    auto store = BankStore::open(dir.file("bank.db"));
    REQUIRE(store);
    bank::check_result_holds_written_events(*store);
}

TEST_CASE("a file that is not a database is refused untouched", "[sqlite][bad-input]") {
    TempDir dir;
    const auto path = dir.file("notes.txt");
    std::ofstream(path) << "These are my notes, not a database.\n";
    const auto before = file_bytes(path);
    auto store = BankStore::open(path);
    REQUIRE_FALSE(store);
    CHECK(store.error().kind() == ErrorKind::storage);
    CHECK(store.error().code() == "SQLITE_NOTADB");
    CHECK_THAT(store.error().message(), Catch::Contains("notes.txt") && Catch::Contains("not an SQLite database"));
    CHECK(file_bytes(path) == before);
}

TEST_CASE("a database from a newer eventcore is refused untouched", "[sqlite][bad-input]") {
    TempDir dir;
    const auto path = dir.file("future.db");
    REQUIRE(BankStore::open(path));
    raw_sql(path, "INSERT INTO eventcore_schema (version, applied_at) VALUES (99, 0)");
    const auto before = file_bytes(path);
    auto store = BankStore::open(path);
    REQUIRE_FALSE(store);
    CHECK(store.error().kind() == ErrorKind::storage);
    CHECK_THAT(store.error().message(), Catch::Contains("schema version 99") &&
                                            Catch::Contains(fmt::format("supports ({})", eventcore::sqlite::schema_version)));
    CHECK(file_bytes(path) == before);
}

TEST_CASE("a database with a schema version no eventcore writes is refused", "[sqlite][bad-input]") {
    // Found by fuzzing: a negative version indexed the migrations out of bounds.
    const auto version = GENERATE(as<std::string>{}, "-7", "-1183652379", "4294967297");
    TempDir dir;
    const auto path = dir.file("damaged.db");
    REQUIRE(BankStore::open(path));
    raw_sql(path, "DELETE FROM eventcore_schema WHERE version > 1; UPDATE eventcore_schema SET version = " + version);
    auto store = BankStore::open(path);
    REQUIRE_FALSE(store);
    CHECK(store.error().kind() == ErrorKind::storage);
    CHECK(store.error().code() == "EVENTCORE_SCHEMA_INVALID");
    CHECK_THAT(store.error().message(), Catch::Contains("schema version recorded in the database is " + version));
}

TEST_CASE("an older schema is migrated, keeping its events", "[sqlite]") {
    TempDir dir;
    const auto path = dir.file("old.db");
    open_accounts(path, 2, 100);
    // Back to schema version 1, as an older eventcore left it.
    raw_sql(path, "DROP TABLE checkpoints; DELETE FROM eventcore_schema WHERE version = 2");
    auto store = BankStore::open(path);
    REQUIRE(store);
    CHECK(store->database()->stored_schema_version().value() == 2);
    CHECK(bank::balance(*store, bank::id("account-1")) == 100);
    REQUIRE(store->save_checkpoint("after-migration", GlobalPosition{2}));
}

TEST_CASE("a read-only file is refused for writing, and can be read", "[sqlite][bad-input]") {
    TempDir dir;
    const auto path = dir.file("archive.db");
    open_accounts(path, 2, 100);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::group_read |
                                           std::filesystem::perms::others_read);
    // The folder stays writable: SQLite keeps a WAL database's shared-memory index beside it.
    std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
    // Permissions do not bind root: check as an unprivileged user in a child process.
    const int code = testing_support::in_child([&] {
        if (::geteuid() == 0 && ::setuid(65534) != 0) return 10;
        auto writable = BankStore::open(path);
        if (writable) return 11;
        if (writable.error().message().find("read-only") == std::string::npos) {
            fmt::print(stderr, "{}\n", writable.error());
            return 12;
        }
        auto readable = BankStore::open(path, {.read_only = true});
        if (!readable) {
            fmt::print(stderr, "{}\n", readable.error());
            return 13;
        }
        if (bank::balance(*readable, bank::id("account-0")) != 100) return 14;
        auto write = eventcore::append_to_stream(*readable, bank::id("account-0"), ExpectedVersion::any(),
                                                 {bank::MoneyDeposited{1}});
        if (write) return 15;
        return 0;
    });
    CHECK(code == 0);
}

TEST_CASE("a damaged payload is an error naming its stream and version, never skipped", "[sqlite][bad-input]") {
    TempDir dir;
    const auto path = dir.file("bank.db");
    open_accounts(path, 2, 100);
    raw_sql(path, "UPDATE events SET payload = x'ff00ff' WHERE stream_id = 'account-1' AND version = 1");
    auto store = BankStore::open(path);
    REQUIRE(store);
    auto events = eventcore::load_stream(*store, bank::id("account-1"));
    REQUIRE_FALSE(events);
    CHECK(events.error().kind() == ErrorKind::deserialization);
    CHECK(events.error().stream() == bank::id("account-1"));
    CHECK(events.error().version() == StreamVersion{1});
    CHECK_THAT(events.error().message(), Catch::Contains("stream 'account-1' version 1"));
    // The executor does not decide on a state it could not read.
    eventcore::CommandExecutor executor{*store};
    auto r = executor.execute(bank::TransferMoney{bank::id("account-1"), bank::id("account-0"), 1});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == ErrorKind::deserialization);
    CHECK(bank::balance(*store, bank::id("account-0")) == 100);
}

TEST_CASE("bad options are refused", "[sqlite][bad-input]") {
    CHECK(testing_support::error_of(BankStore::open("")).kind() == ErrorKind::validation);
    CHECK(testing_support::error_of(BankStore::open(":memory:", {.max_connections = 0})).kind() ==
          ErrorKind::validation);
    TempDir dir;
    const auto missing = BankStore::open(dir.file("no/such/dir/x.db"));
    CHECK(testing_support::error_of(missing).kind() == ErrorKind::store_unavailable);
}

TEST_CASE("several processes run transfers on one file: invariants hold", "[sqlite][multi-process]") {
    constexpr int accounts = 5;
    constexpr int processes = 3;
    constexpr int transfers = 120;
    TempDir dir;
    const auto path = dir.file("shared.db");
    open_accounts(path, accounts, 1000);

    std::vector<std::unique_ptr<testing_support::Child>> workers;
    for (int p = 0; p < processes; ++p) {
        workers.push_back(std::make_unique<testing_support::Child>(
            std::vector<std::string>{EVENTCORE_STORE_WORKER, "sqlite", path, std::to_string(accounts),
                                     std::to_string(transfers), std::to_string(p + 1)}));
    }
    std::vector<eventcore::Uuid> committed;
    for (auto& w : workers) {
        CHECK(w->wait() == 0);
        const auto ids = reported_commits(w->output());
        committed.insert(committed.end(), ids.begin(), ids.end());
    }
    CHECK(committed.size() > 0);
    check_bank_file(path, accounts, 1000);
    auto store = BankStore::open(path);
    REQUIRE(store);
    for (const auto& id : committed) REQUIRE(store->find_commit(id).value().has_value());
    // Every transfer reported is in the log exactly once, and nothing else is.
    CHECK(eventcore::load_log(*store)->size() == accounts + 2 * committed.size());
}

TEST_CASE("a writer killed at random moments leaves every commit whole or absent", "[sqlite][crash]") {
    constexpr int accounts = 4;
    constexpr int kills = 12;
    TempDir dir;
    const auto path = dir.file("crash.db");
    open_accounts(path, accounts, 1000);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> wait_ms(20, 250);
    std::size_t reported = 0;
    for (int k = 0; k < kills; ++k) {
        testing_support::Child worker({EVENTCORE_STORE_WORKER, "sqlite", path, std::to_string(accounts), "0",
                                       std::to_string(100 + k)});
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
        worker.kill(SIGKILL);
        CHECK(worker.wait() == 128 + SIGKILL);
        const auto ids = reported_commits(worker.output());
        reported += ids.size();
        INFO("after kill " << k + 1);
        check_bank_file(path, accounts, 1000);
        auto store = BankStore::open(path);
        REQUIRE(store);
        for (const auto& id : ids) REQUIRE(store->find_commit(id).value().has_value());
    }
    CHECK(reported > 0);
    WARN(fmt::format("{} writers killed with SIGKILL: {} commits reported, all in the file, every commit whole",
                     kills, reported));
}
