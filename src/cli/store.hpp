#pragma once
// The store the tool works on, SQLite or PostgreSQL behind one interface, and how `--store`
// names it.

#include <eventcore/projection_lock.hpp>
#include <eventcore/store_admin.hpp>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eventcore::cli {

/// Exit codes: documented in docs/cli.md.
enum ExitCode : int {
    exit_ok = 0,
    exit_problems = 1, ///< verify found problems; a stream or projection asked for is not there
    exit_usage = 2,    ///< bad arguments, a bad --store
    exit_store = 3,    ///< the store could not be opened or failed
    exit_refused = 4,  ///< import into a non-empty store; a reset of a running projection
};

/// A failure that ends the program with one line on standard error.
struct Failure {
    int code;
    std::string message;
    /// The store's code for the error behind it (`SQLITE_CORRUPT`, a SQLSTATE), if any.
    std::string error_code{};
};

/// The value of `result`, or throws `Failure` with `code` and the error's message.
template <class T>
auto need(Result<T> result, int code = exit_store) -> T {
    if (!result) throw Failure{code, result.error().message(), result.error().code()};
    if constexpr (!std::is_void_v<T>) return std::move(*result);
}

/// `--store`: `sqlite:PATH` or `postgres:CONNINFO` (a libpq keyword string or URI).
struct StoreSpec {
    enum class Kind : unsigned char { sqlite, postgres };
    Kind kind = Kind::sqlite;
    std::string location;
    /// PostgreSQL schema (`--schema`).
    std::string schema = "eventcore";

    /// For messages: the SQLite path, or the connection string without its password.
    [[nodiscard]] auto describe() const -> std::string;
};

/// Parses `--store`; a `validation` error naming the accepted forms, never echoing a password.
[[nodiscard]] auto parse_store(std::string_view text) -> Result<StoreSpec>;

/// What a command needs: to read an existing store, or to write one (created if missing, and
/// its schema brought up to date).
enum class Access : unsigned char { read, write };

/// The operations the commands use, on either store.
class Store {
public:
    Store() = default;
    Store(const Store&) = delete;
    auto operator=(const Store&) -> Store& = delete;
    virtual ~Store() = default;

    [[nodiscard]] virtual auto kind() const -> StoreSpec::Kind = 0;
    [[nodiscard]] virtual auto build_schema_version() const -> int = 0;
    [[nodiscard]] virtual auto schema_version() -> Result<int> = 0;
    [[nodiscard]] virtual auto head() -> Result<GlobalPosition> = 0;
    [[nodiscard]] virtual auto list_streams(const StreamListQuery& query) -> Result<std::vector<StreamSummary>> = 0;
    [[nodiscard]] virtual auto statistics() -> Result<StoreStatistics> = 0;
    [[nodiscard]] virtual auto read_stream(const StreamId& id, StreamVersion from, StoredEventVisitor visit)
        -> Result<StreamVersion> = 0;
    [[nodiscard]] virtual auto read_all(const LogQuery& query, StoredEventVisitor visit) -> Result<LogPage> = 0;
    [[nodiscard]] virtual auto read_log(GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition> = 0;
    [[nodiscard]] virtual auto import_events(std::span<const ArchivedEvent> events) -> Result<void> = 0;
    [[nodiscard]] virtual auto wait_for_events(GlobalPosition after, std::chrono::milliseconds timeout)
        -> Result<GlobalPosition> = 0;
    [[nodiscard]] virtual auto checkpoints() -> Result<std::vector<Checkpoint>> = 0;
    [[nodiscard]] virtual auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> = 0;
    [[nodiscard]] virtual auto delete_checkpoint(std::string_view name) -> Result<bool> = 0;
    [[nodiscard]] virtual auto lock_projection(std::string_view name, std::chrono::milliseconds wait) -> Result<ProjectionLock> = 0;
    /// Runs `body` on the whole store as of one moment.
    [[nodiscard]] virtual auto snapshot(SnapshotBody body) -> Result<void> = 0;
};

/// Opens the store. For `Access::read` the store must exist with an up-to-date schema (reading
/// never creates or migrates anything); failures are `Failure`s with `exit_store`.
[[nodiscard]] auto open_store(const StoreSpec& spec, Access access) -> std::unique_ptr<Store>;

/// The schema version the store holds now (0: none), without changing it.
[[nodiscard]] auto peek_schema_version(const StoreSpec& spec) -> int;

} // namespace eventcore::cli
