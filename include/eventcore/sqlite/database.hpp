#pragma once
/// \file
/// `eventcore::sqlite::Database`: the compiled, untyped core of `SqliteEventStore`. It stores
/// event type names and payload bytes; the typed store encodes and decodes around it.
/// `<sqlite3.h>` stays inside the library.

#include <eventcore/projection_lock.hpp>
#include <eventcore/sql_session.hpp>
#include <eventcore/store_admin.hpp>
#include <eventcore/stored_event.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eventcore::sqlite {

/// SQLite's `synchronous` setting, in WAL mode:
/// - `full` (default): every commit is on disk before `append` returns; survives power loss;
/// - `normal`: survives a crash of the process, but a power loss or OS crash may take back the
///   last commits (never tearing one); several times faster on slow disks;
/// - `off`: no syncs at all; for throwaway data;
/// - `extra`: as `full`, and also syncs the directory after the log file changes.
enum class Synchronous : unsigned char { off, normal, full, extra };

/// How to open a database.
struct Options {
    Synchronous synchronous = Synchronous::full;
    /// How long to wait for another connection or process that holds the write lock.
    std::chrono::milliseconds busy_timeout{5000};
    /// Connections kept for concurrent use by threads (at least 1; an in-memory database uses 1).
    std::size_t max_connections = 4;
    /// Open without write access: no schema changes, appends fail.
    bool read_only = false;
    /// How often a waiting reader checks whether another process committed (`PRAGMA
    /// data_version`, no table read); commits of this process wake it at once.
    std::chrono::milliseconds change_poll_interval{2};
};

/// The schema version this build writes and reads.
inline constexpr int schema_version = 2;

/// An open SQLite event database: a pool of connections to one file, shared by threads (and,
/// through the file, by processes). See `SqliteEventStore` for the typed interface.
class Database {
public:
    /// Opens (creating if needed) the database at `path`, or an in-memory database for
    /// `":memory:"`, and brings its schema up to date. `path` is a file path, never a URI:
    /// `file:x.db?mode=memory` is the file of that name in the working directory. Fails, changing
    /// nothing (not even the journal mode), for a path that is a directory, a pipe or a device, a
    /// folder that does not exist or cannot be written, a file that is not an SQLite database, an
    /// SQLite database that holds other tables and no eventcore store (`EVENTCORE_NOT_A_STORE`),
    /// a read-only file opened for writing, or a schema newer than this build's.
    ///
    /// \code
    /// auto db = eventcore::sqlite::Database::open("bank.db").value();
    /// \endcode
    [[nodiscard]] static auto open(std::string path, Options options = {}) -> Result<std::shared_ptr<Database>>;

    Database(const Database&) = delete;
    auto operator=(const Database&) -> Database& = delete;
    ~Database();

    [[nodiscard]] auto path() const noexcept -> const std::string&;
    [[nodiscard]] auto options() const noexcept -> const Options&;

    /// The schema version found in the file (after migrations, `schema_version`).
    [[nodiscard]] auto stored_schema_version() const -> Result<int>;

    [[nodiscard]] auto read_streams(std::span<const StreamId> ids, StoredEventVisitor visit) -> Result<std::vector<StreamVersion>>;
    [[nodiscard]] auto read_stream(const StreamId& id, StreamVersion from, StoredEventVisitor visit) -> Result<StreamVersion>;
    [[nodiscard]] auto read_all(const LogQuery& query, StoredEventVisitor visit) -> Result<LogPage>;
    [[nodiscard]] auto append(std::span<const StreamExpectation> expectations, std::span<const EncodedWrite> events,
                std::optional<Uuid> command_id) -> Result<CommitReceipt>;
    [[nodiscard]] auto find_commit(const Uuid& command_id) -> Result<std::optional<CommitReceipt>>;
    [[nodiscard]] auto head() -> Result<GlobalPosition>;

    /// Waits until the log holds events after `after`, or `timeout` passes; returns the head.
    [[nodiscard]] auto wait_for_events(GlobalPosition after, std::chrono::milliseconds timeout) -> Result<GlobalPosition>;

    [[nodiscard]] auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void>;
    /// Moves a checkpoint from `from` (a missing one is at 0) to `to` in one statement, only if it
    /// is still at `from`; otherwise a `projection` error, code `EVENTCORE_CHECKPOINT_MOVED`.
    [[nodiscard]] auto advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void>;
    [[nodiscard]] auto load_checkpoint(std::string_view name) -> Result<std::optional<GlobalPosition>>;
    [[nodiscard]] auto checkpoints() -> Result<std::vector<Checkpoint>>;
    [[nodiscard]] auto delete_checkpoint(std::string_view name) -> Result<bool>;

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE`), committed if it succeeds and
    /// rolled back otherwise: for read models kept in the same file as the events.
    [[nodiscard]] auto transaction(detail::FunctionRef<Result<void>(SqlSession&)> body) -> Result<void>;

    /// The one runner of projection `name` across threads and processes: an exclusive lock on a
    /// byte of the file `<path>-projections.lock` (released when the holder exits, however it
    /// exits). Waits up to `wait`, then fails with `timeout`.
    [[nodiscard]] auto lock_projection(std::string_view name, std::chrono::milliseconds wait) -> Result<ProjectionLock>;

    // Administration (see <eventcore/store_admin.hpp>): what the `eventcore` tool asks.

    /// Streams with their versions and last write times, ordered by id, filtered and paged.
    [[nodiscard]] auto list_streams(const StreamListQuery& query) -> Result<std::vector<StreamSummary>>;
    /// Counts of events, streams, types and days, and the store's size, as one snapshot.
    [[nodiscard]] auto statistics() -> Result<StoreStatistics>;
    /// About `limit` events after `after`, in log order, each with the end of its commit; a page
    /// ends at the end of a commit, so it may hold a few more. Returns the last position read.
    [[nodiscard]] auto read_log(GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition>;
    /// Appends events exactly as another store recorded them (positions, versions, ids, times,
    /// commit boundaries), in one transaction; they must come after this store's last position
    /// (see `detail::check_import`), or nothing is written and the error is `validation`.
    [[nodiscard]] auto import_events(std::span<const ArchivedEvent> events) -> Result<void>;
    /// Runs `body` on one read transaction: every call of the snapshot it is handed sees the
    /// store as of one moment (SQLite's WAL snapshot), while other connections go on committing.
    [[nodiscard]] auto snapshot(SnapshotBody body) -> Result<void>;
    /// The eventcore schema version in the file at `path` (0 for an empty database), read without
    /// creating, migrating or writing anything: for tools that must not change what they read.
    /// Fails as `open` does for a path that is not a database file, and for a database that holds
    /// something else than an eventcore store.
    [[nodiscard]] static auto schema_version_at(const std::string& path) -> Result<int>;

    struct Impl;

private:
    explicit Database(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace eventcore::sqlite
