#pragma once
// The parts of the SQLite store its source files share: `Database::Impl`, and the helpers more
// than one of them uses (decoding a row, the head and a stream's version, times). Private to the
// sqlite component; the SQL text is in queries.hpp, the schema in schema.hpp.

#include <eventcore/sqlite/database.hpp>

#include <eventcore/deadline.hpp>

#include <eventcore/detail/custom_metadata.hpp>

#include "common/connection_pool.hpp"
#include "connection.hpp"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace eventcore::sqlite {

using detail::Connection;
using detail::Sql;
using detail::Statement;
using detail::Transaction;

namespace detail {

/// The path that names an in-memory database.
inline constexpr std::string_view memory_path = ":memory:";

inline auto micros(Timestamp t) -> std::int64_t { return t.time_since_epoch().count(); }
inline auto timestamp(std::int64_t us) -> Timestamp { return Timestamp{std::chrono::microseconds{us}}; }

/// A stream pattern as an SQLite GLOB, if there is one.
inline auto sqlite_glob(const std::optional<StreamPattern>& pattern) -> std::optional<std::string> {
    if (!pattern) return std::nullopt;
    return pattern->to_sqlite_glob();
}

/// Reads one `events` row into `out`, reusing its buffers.
[[nodiscard]] inline auto read_row(const Statement& row, StoredEvent& out) -> Result<void> {
    out.stream = row.text(0);
    out.version = StreamVersion{row.uint64(1)};
    out.position = GlobalPosition{row.uint64(2)};
    out.type = row.text(3);
    out.payload = row.blob(4);
    out.metadata.event_id = row.uuid(5);
    out.metadata.recorded_at = timestamp(row.int64(6));
    out.metadata.correlation_id = row.uuid(7);
    out.metadata.causation_id = row.uuid(8);
    out.metadata.command.assign(row.text(9));
    out.metadata.custom.clear();
    if (row.blob(5).size() != 16 || row.blob(7).size() != 16 || row.blob(8).size() != 16) {
        return fail(Error(ErrorKind::deserialization,
                          fmt::format("stream '{}' version {}: stored metadata holds an id that is not a 16-byte UUID",
                                      out.stream, out.version))
                        .at(StreamId::parse(out.stream).value_or(StreamId{}), out.version));
    }
    if (!row.is_null(10)) {
        if (auto custom = eventcore::detail::decode_custom(row.text(10), out.metadata.custom); !custom) {
            return fail(Error(ErrorKind::deserialization, fmt::format("stream '{}' version {}: {}", out.stream,
                                                                      out.version, custom.error().message()))
                            .at(StreamId::parse(out.stream).value_or(StreamId{}), out.version));
        }
    }
    return {};
}

/// A stream id read back from the file: valid unless the file was damaged.
[[nodiscard]] inline auto stored_stream_id(std::string_view text) -> Result<StreamId> {
    auto id = StreamId::parse(text);
    if (!id)
        return fail(Error(ErrorKind::storage, fmt::format("the database holds an invalid stream id: {}", id.error().message()))
                        .with_code("EVENTCORE_STORED_ID_INVALID"));
    return id;
}

inline auto step_error(Connection& c, int rc, std::string_view doing) -> tl::unexpected<Error> {
    return fail(c.error(rc, doing));
}

/// The last position in the log, in the connection's current transaction (if any).
[[nodiscard]] inline auto read_head(Connection& c) -> Result<GlobalPosition> {
    auto stmt = c.use(Sql::head);
    if (!stmt) return fail(std::move(stmt).error());
    const int rc = stmt->step();
    if (rc != SQLITE_ROW) return step_error(c, rc, "reading the head position");
    return GlobalPosition{stmt->uint64(0)};
}

/// A stream's version (0 for a stream with no events).
[[nodiscard]] inline auto read_stream_version(Connection& c, const StreamId& id) -> Result<StreamVersion> {
    auto stmt = c.use(Sql::stream_version);
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, id.view());
    const int rc = stmt->step();
    if (rc != SQLITE_ROW) return step_error(c, rc, "reading a stream version");
    return StreamVersion{stmt->uint64(0)};
}

/// The eventcore schema version recorded in the database (0 where there is none); one that no
/// eventcore writes is an error (the file is damaged).
[[nodiscard]] auto stored_version(Connection& c) -> Result<int>;

/// The authorizer of every connection of the store: a no-op, except for a caller's statement of a
/// transaction body (see `Session`). Installed once per connection rather than around each
/// statement, because installing an authorizer expires every statement the connection prepared.
auto authorize_caller_statements(void* db, int action, const char* a, const char* b, const char* database,
                                 const char* trigger) -> int;

} // namespace detail

struct Database::Impl {
    std::string path;     // as the caller named it, for messages and the projection lock file
    std::string filename; // what SQLite is given to open: the file of that name (see sqlite_filename)
    Options options;
    std::int64_t busy_timeout_ms = 0;
    int flags = 0;
    std::size_t capacity = 1;

    std::optional<eventcore::detail::ConnectionPool<Connection>> pool; // set by open

    /// A connection of its own that waiting readers ask whether other processes committed.
    std::mutex watcher_mutex;
    std::unique_ptr<Connection> watcher;

    /// Waiting readers sleep here; commits of this process wake them.
    std::mutex commits_mutex;
    std::condition_variable committed;
    std::uint64_t local_commits = 0;

    /// Running projections of an in-memory database (files lock a file instead); shared with
    /// the locks handed out, which may outlive the database.
    struct Projections {
        std::mutex mutex;
        std::condition_variable released;
        std::set<std::string, std::less<>> running;
    };
    std::shared_ptr<Projections> projections = std::make_shared<Projections>();

    /// Writers of this process take turns here before asking SQLite for the write lock (and
    /// before taking a connection, which readers may want meanwhile), so they queue without
    /// sleeping; SQLite's busy handling is left to contention between processes. The wait is
    /// bounded by the busy timeout, as SQLite's own is: a transaction body that does not end (a
    /// projector blocked on I/O) must not stall every commit of the process for good.
    /// A flag under a mutex and a condition variable rather than a `std::timed_mutex`, whose
    /// timed lock (pthread_mutex_clocklock) ThreadSanitizer does not see.
    std::mutex turn_mutex;
    std::condition_variable turn_free;
    bool turn_taken = false;
    std::atomic<std::thread::id> turn_holder{};

    class WriteTurn {
    public:
        explicit WriteTurn(Impl& impl) : impl_(&impl) {}
        WriteTurn(WriteTurn&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)) {}
        WriteTurn(const WriteTurn&) = delete;
        auto operator=(const WriteTurn&) -> WriteTurn& = delete;
        auto operator=(WriteTurn&&) -> WriteTurn& = delete;
        ~WriteTurn() {
            if (impl_ == nullptr) return;
            impl_->turn_holder.store(std::thread::id{}, std::memory_order_relaxed);
            {
                const std::lock_guard lock(impl_->turn_mutex);
                impl_->turn_taken = false;
            }
            impl_->turn_free.notify_one();
        }

    private:
        Impl* impl_;
    };

    /// The write turn, or an error for a thread that holds it already: a write from inside a
    /// transaction body would wait for itself forever.
    [[nodiscard]] auto take_write_turn() -> Result<WriteTurn> {
        if (turn_holder.load(std::memory_order_relaxed) == std::this_thread::get_id())
            return fail(ErrorKind::validation,
                        "a write to SQLite database '{}' from inside one of its own transaction bodies (a projector "
                        "appending to the store, say) would wait for itself; write through the SqlSession instead",
                        path);
        // Bounded by the busy timeout, and by the call's deadline when that comes first.
        const auto busy_until = std::chrono::steady_clock::now() + options.busy_timeout;
        const auto deadline = current_deadline();
        const bool deadline_first = deadline && *deadline < busy_until;
        std::unique_lock lock(turn_mutex);
        if (!turn_free.wait_until(lock, deadline_first ? *deadline : busy_until, [&] { return !turn_taken; })) {
            if (deadline_first)
                return fail(ErrorKind::timeout,
                            "the call's deadline passed while waiting for another writer of this process (SQLite "
                            "database '{}'); nothing was written",
                            path);
            return fail(Error(ErrorKind::transient,
                              fmt::format("another writer of this process held the write turn of SQLite database '{}' "
                                          "for longer than the busy timeout ({} ms): a transaction body (a projector's "
                                          "batch, say) still running; nothing was written",
                                          path, options.busy_timeout.count()))
                            .with_code("EVENTCORE_WRITE_TURN_TIMEOUT"));
        }
        turn_taken = true;
        turn_holder.store(std::this_thread::get_id(), std::memory_order_relaxed);
        return WriteTurn(*this);
    }

    /// A new connection, set up as every connection of the store is (see open.cpp).
    [[nodiscard]] auto connect() const -> Result<std::unique_ptr<Connection>>;

    /// First come, first served, so that a busy thread cannot keep the only connection of an
    /// in-memory database to itself.
    auto acquire() { return pool->acquire(); }
};

} // namespace eventcore::sqlite
