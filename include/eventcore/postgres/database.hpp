#pragma once
/// \file
/// `eventcore::postgres::Database`: the compiled, untyped core of `PostgresEventStore`, on libpq.
/// `<libpq-fe.h>` stays inside the library.

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

namespace eventcore::postgres {

/// How to connect.
struct Options {
    /// The schema that holds eventcore's tables: a lower-case SQL identifier (letters, digits,
    /// underscores; not starting with a digit; at most 63 bytes). Several schemas keep several
    /// independent stores in one database.
    std::string schema = "eventcore";
    /// Connections kept for concurrent use by threads.
    std::size_t pool_size = 8;
    /// How long an operation waits for a free connection before failing with `timeout`.
    std::chrono::milliseconds acquire_timeout{5000};
    /// Used when the connection string sets no `connect_timeout` of its own.
    std::chrono::seconds connect_timeout{5};
    /// The longest one statement waits for the server's answer, whatever the call's deadline:
    /// against a server that stopped answering (frozen, or behind a dropped network path that
    /// TCP has not noticed yet) it is the bound of a call made without a deadline. A commit cut
    /// off this way is `in_doubt`, anything else `timeout`; the connection is closed. 0: no limit
    /// but the call's deadline (`ExecuteOptions::deadline`, which every statement honours too).
    std::chrono::milliseconds response_timeout{60'000};
    /// When set, the server's `statement_timeout` on each connection: the server cancels a
    /// statement running longer (a commit waiting for locks, say), which is then `timeout` with
    /// nothing written. Unset: the server's or the role's setting holds (by default, none).
    ///
    /// \code
    /// eventcore::postgres::Options options;
    /// options.statement_timeout = std::chrono::seconds(10);
    /// \endcode
    std::optional<std::chrono::milliseconds> statement_timeout{};
    /// Prepare the statements every command runs, once per connection. Turn it off behind a
    /// connection pooler in transaction mode (PgBouncer before 1.21), which may run a statement
    /// on another server connection than the one it was prepared on.
    bool prepare_statements = true;
};

/// The schema version this build writes and reads.
inline constexpr int schema_version = 3;

/// Checks a schema name against the rule of `Options::schema`.
[[nodiscard]] auto validate_schema_name(std::string_view name) -> Result<void>;

/// `conninfo` with any password removed, for messages: a password never appears in an error.
[[nodiscard]] auto redact(std::string_view conninfo) -> std::string;

/// Checks that libpq can parse `conninfo` (a `key=value ...` string or a `postgresql://` URI;
/// anything else is a database name); a `validation` error otherwise, which does not repeat the
/// string, as it may hold a password. `Database::open` and `schema_version_at` check this first.
///
/// \code
/// if (auto ok = eventcore::postgres::validate_conninfo(text); !ok) return usage(ok.error());
/// \endcode
[[nodiscard]] auto validate_conninfo(std::string_view conninfo) -> Result<void>;

/// An open PostgreSQL event store: a pool of connections to one database, shared by threads,
/// and by any number of processes on any number of machines. See `PostgresEventStore`.
class Database {
public:
    /// Connects with `conninfo` (a libpq connection string or URI), and brings the schema up to
    /// date under an advisory lock, so processes starting together are safe. Fails, changing
    /// nothing, for a bad schema name, a server that cannot be reached or refuses the
    /// credentials, or a schema from a newer eventcore.
    [[nodiscard]] static auto open(std::string conninfo, Options options = {}) -> Result<std::shared_ptr<Database>>;

    Database(const Database&) = delete;
    auto operator=(const Database&) -> Database& = delete;
    ~Database();

    [[nodiscard]] auto options() const noexcept -> const Options&;
    /// The connection string without its password.
    [[nodiscard]] auto target() const noexcept -> const std::string&;

    /// The schema version found in the database.
    [[nodiscard]] auto stored_schema_version() -> Result<int>;

    [[nodiscard]] auto read_streams(std::span<const StreamId> ids, StoredEventVisitor visit) -> Result<std::vector<StreamVersion>>;
    [[nodiscard]] auto read_stream(const StreamId& id, StreamVersion from, StoredEventVisitor visit) -> Result<StreamVersion>;
    [[nodiscard]] auto read_all(const LogQuery& query, StoredEventVisitor visit) -> Result<LogPage>;
    [[nodiscard]] auto append(std::span<const StreamExpectation> expectations, std::span<const EncodedWrite> events,
                std::optional<Uuid> command_id) -> Result<CommitReceipt>;
    [[nodiscard]] auto find_commit(const Uuid& command_id) -> Result<std::optional<CommitReceipt>>;
    [[nodiscard]] auto head() -> Result<GlobalPosition>;

    /// Waits until the log holds events after `after`, or `timeout` passes, and returns the
    /// head. Commits notify listeners (LISTEN/NOTIFY), so a waiting reader wakes when one lands,
    /// without polling.
    [[nodiscard]] auto wait_for_events(GlobalPosition after, std::chrono::milliseconds timeout) -> Result<GlobalPosition>;

    [[nodiscard]] auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void>;
    /// Moves a checkpoint from `from` (a missing one is at 0) to `to` in one statement, only if it
    /// is still at `from`; otherwise a `projection` error, code `EVENTCORE_CHECKPOINT_MOVED`.
    [[nodiscard]] auto advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void>;
    [[nodiscard]] auto load_checkpoint(std::string_view name) -> Result<std::optional<GlobalPosition>>;
    [[nodiscard]] auto checkpoints() -> Result<std::vector<Checkpoint>>;
    [[nodiscard]] auto delete_checkpoint(std::string_view name) -> Result<bool>;

    /// Runs `body` in one transaction, committed if it succeeds and rolled back otherwise: for
    /// read models kept in the same database as the events. A connection lost while committing
    /// is `in_doubt`.
    [[nodiscard]] auto transaction(eventcore::detail::FunctionRef<Result<void>(SqlSession&)> body) -> Result<void>;

    /// The one runner of projection `name` across processes and machines: a session advisory
    /// lock, held on a connection of its own until released (or until that connection ends).
    /// Waits up to `wait`, then fails with `timeout`.
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
    /// Runs `body` on one `REPEATABLE READ READ ONLY` transaction: every call of the snapshot it
    /// is handed sees the store as of one moment, while other sessions go on committing.
    [[nodiscard]] auto snapshot(SnapshotBody body) -> Result<void>;

    /// The eventcore schema version in `options.schema` (0 if there is none), without creating
    /// or migrating anything: for tools that must not change a database they only read.
    [[nodiscard]] static auto schema_version_at(const std::string& conninfo, const Options& options = {})
        -> Result<int>;

    struct Impl;

private:
    explicit Database(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace eventcore::postgres
