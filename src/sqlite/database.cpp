#include <eventcore/sqlite/database.hpp>

#include <eventcore/deadline.hpp>

#include <eventcore/detail/custom_metadata.hpp>
#include <eventcore/detail/stream_index.hpp>

#include "common/connection_pool.hpp"
#include "common/sql_parameters.hpp"
#include "connection.hpp"
#include "queries.hpp"
#include "schema.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>
#include <chrono>
#include <thread>
#include <ranges>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace eventcore::sqlite {

using detail::Connection;
using detail::Sql;
using detail::Statement;
using detail::Transaction;
using detail::migrations;
namespace queries = detail::queries;

namespace {

constexpr std::string_view memory_path = ":memory:";

/// What to hand SQLite to open the file at `path`. SQLite takes a name that starts with `file:`
/// for a URI when URI filenames are enabled (Debian builds it so), and then `?mode=memory`,
/// `?nolock=1` or `?immutable=1` in it silently change what a store is. A path is a path: with
/// `./` in front it is the same relative path, and no URI.
auto sqlite_filename(const std::string& path) -> std::string {
    if (path.starts_with("file:")) return "./" + path;
    return path;
}

/// The folder of `path`, for messages and checks.
auto folder_of(const std::string& path) -> std::string {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

[[nodiscard]] auto writable_folder(const std::string& folder) -> bool { return ::access(folder.c_str(), W_OK | X_OK) == 0; }

/// Looks at `path` before SQLite opens it: SQLite blocks forever opening a named pipe, calls a
/// directory a "disk I/O error", and a folder it cannot create a file in "unable to open".
[[nodiscard]] auto check_path(const std::string& path, bool create) -> Result<void> {
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISREG(st.st_mode)) return {};
        const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                           : S_ISFIFO(st.st_mode) ? "a named pipe (FIFO)"
                           : S_ISCHR(st.st_mode)  ? "a character device"
                           : S_ISBLK(st.st_mode)  ? "a block device"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "not a regular file";
        return fail(Error(ErrorKind::storage,
                          fmt::format("SQLite database '{}' is {}, not a database file", path, what))
                        .with_code("EVENTCORE_NOT_A_FILE"));
    }
    const int error = errno;
    if (error != ENOENT)
        return fail(Error(ErrorKind::storage, fmt::format("cannot reach SQLite database '{}': {}", path,
                                                          std::strerror(error)))
                        .with_code("SQLITE_CANTOPEN"));
    if (!create)
        return fail(Error(ErrorKind::store_unavailable, fmt::format("SQLite database '{}' does not exist", path))
                        .with_code("SQLITE_CANTOPEN"));
    const auto folder = folder_of(path);
    struct stat dir{};
    if (::stat(folder.c_str(), &dir) != 0) {
        const int why = errno;
        return fail(Error(ErrorKind::store_unavailable,
                          fmt::format("cannot create SQLite database '{}': folder '{}' {}", path, folder,
                                      why == ENOENT ? std::string("does not exist") : std::strerror(why)))
                        .with_code("SQLITE_CANTOPEN"));
    }
    if (!S_ISDIR(dir.st_mode))
        return fail(Error(ErrorKind::store_unavailable,
                          fmt::format("cannot create SQLite database '{}': '{}' is not a folder", path, folder))
                        .with_code("SQLITE_CANTOPEN"));
    if (!writable_folder(folder))
        return fail(Error(ErrorKind::storage, fmt::format("cannot create SQLite database '{}': folder '{}' is not "
                                                          "writable ({})",
                                                          path, folder, std::strerror(errno)))
                        .with_code("SQLITE_CANTOPEN"));
    return {};
}

/// A failure to open or first read `path`, said as what went wrong.
auto explain_open_failure(const std::string& path, Error e) -> Error {
    const auto& code = e.code();
    if (code == "SQLITE_NOTADB")
        return Error(ErrorKind::storage, fmt::format("'{}' is not an SQLite database", path)).with_code(code);
    if (code != "SQLITE_READONLY" && code != "SQLITE_CANTOPEN" && code != "SQLITE_IOERR" && code != "SQLITE_PERM")
        return e;
    if (::access(path.c_str(), R_OK) != 0) {
        const int why = errno;
        return Error(ErrorKind::storage, fmt::format("SQLite database '{}' cannot be read: {}", path, std::strerror(why)))
            .with_code(code);
    }
    const auto folder = folder_of(path);
    if (!writable_folder(folder)) {
        // A database in WAL mode has a shared-memory index beside it, which even readers create.
        return Error(ErrorKind::storage,
                     fmt::format("SQLite database '{0}' cannot be opened: its folder '{1}' is not writable, and SQLite "
                                 "needs to create '{0}-wal' and '{0}-shm' there (a database in WAL mode needs them "
                                 "even to be read); make the folder writable, or copy the file to one that is",
                                 path, folder))
            .with_code(code);
    }
    return e;
}

static_assert(std::size(migrations) == schema_version);

auto micros(Timestamp t) -> std::int64_t { return t.time_since_epoch().count(); }
auto timestamp(std::int64_t us) -> Timestamp { return Timestamp{std::chrono::microseconds{us}}; }

/// A stream pattern as an SQLite GLOB, if there is one.
auto sqlite_glob(const std::optional<StreamPattern>& pattern) -> std::optional<std::string> {
    if (!pattern) return std::nullopt;
    return pattern->to_sqlite_glob();
}

/// A JSON array of strings, for `json_each`. Stream ids and type names hold no control
/// characters (stream ids are validated; type names are C++ identifiers or chosen literals),
/// but escape them anyway so nothing can break out of a string.
auto json_string_array(auto&& strings) -> std::string {
    std::string out = "[";
    for (std::string_view s : strings) {
        if (out.size() > 1) out += ',';
        out += '"';
        for (const char c : s) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (static_cast<unsigned char>(c) < 0x20) {
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
            } else {
                out += c;
            }
        }
        out += '"';
    }
    out += ']';
    return out;
}

auto synchronous_pragma(Synchronous s) -> const char* {
    switch (s) {
    case Synchronous::off: return queries::synchronous_off;
    case Synchronous::normal: return queries::synchronous_normal;
    case Synchronous::full: return queries::synchronous_full;
    case Synchronous::extra: return queries::synchronous_extra;
    }
    return queries::synchronous_full;
}

/// Reads one `events` row into `out`, reusing its buffers.
[[nodiscard]] auto read_row(const Statement& row, StoredEvent& out) -> Result<void> {
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
[[nodiscard]] auto stored_stream_id(std::string_view text) -> Result<StreamId> {
    auto id = StreamId::parse(text);
    if (!id)
        return fail(Error(ErrorKind::storage, fmt::format("the database holds an invalid stream id: {}", id.error().message()))
                        .with_code("EVENTCORE_STORED_ID_INVALID"));
    return id;
}

auto step_error(Connection& c, int rc, std::string_view doing) -> tl::unexpected<Error> {
    return fail(c.error(rc, doing));
}

/// The last position in the log, in the connection's current transaction (if any).
[[nodiscard]] auto read_head(Connection& c) -> Result<GlobalPosition> {
    auto stmt = c.use(Sql::head);
    if (!stmt) return fail(std::move(stmt).error());
    const int rc = stmt->step();
    if (rc != SQLITE_ROW) return step_error(c, rc, "reading the head position");
    return GlobalPosition{stmt->uint64(0)};
}

/// A stream's version (0 for a stream with no events).
[[nodiscard]] auto read_stream_version(Connection& c, const StreamId& id) -> Result<StreamVersion> {
    auto stmt = c.use(Sql::stream_version);
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, id.view());
    const int rc = stmt->step();
    if (rc != SQLITE_ROW) return step_error(c, rc, "reading a stream version");
    return StreamVersion{stmt->uint64(0)};
}

/// While a caller's statement (a read model's) is prepared or runs on this thread: its
/// connection, and where the authorizer writes what it refused.
struct CallerStatement {
    sqlite3* db;
    std::string* refused;
};
thread_local CallerStatement* caller_statement = nullptr;

/// The authorizer of every connection of the store: a no-op, except for a caller's statement of a
/// transaction body (see `Session`). Installed once per connection rather than around each
/// statement, because installing an authorizer expires every statement the connection prepared.
auto authorize_caller_statements(void* db, int action, const char* a, const char* b, const char* database,
                                 const char* trigger) -> int;

} // namespace

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

    [[nodiscard]] auto connect() const -> Result<std::unique_ptr<Connection>> {
        auto c = Connection::open(filename, flags);
        if (!c) return c;
        // SQLite's own busy handler sleeps 1, 2, 5, 10, ... 100 ms between tries; commits take
        // well under a millisecond, so try again sooner: 50 us, doubling up to 2 ms.
        sqlite3_busy_handler(
            (*c)->handle(),
            [](void* timeout_ms, int tries) -> int {
                const auto budget = std::chrono::milliseconds(*static_cast<const std::int64_t*>(timeout_ms));
                const auto waited = std::chrono::microseconds(50) * ((1 << std::min(tries, 5)) - 1) +
                                    std::chrono::milliseconds(2) * std::max(tries - 5, 0);
                if (waited >= budget) return 0;
                std::this_thread::sleep_for(std::chrono::microseconds(50) * (1 << std::min(tries, 5)));
                return 1;
            },
            const_cast<std::int64_t*>(&busy_timeout_ms));
        if (auto r = (*c)->exec(synchronous_pragma(options.synchronous), "setting synchronous"); !r)
            return fail(std::move(r).error());
        sqlite3_set_authorizer((*c)->handle(), &authorize_caller_statements, (*c)->handle());
        return c;
    }

    /// First come, first served, so that a busy thread cannot keep the only connection of an
    /// in-memory database to itself.
    auto acquire() { return pool->acquire(); }
};

namespace {

/// Runs a one-off query whose answer is one integer.
[[nodiscard]] auto query_int(Connection& c, const char* sql, std::string_view doing) -> Result<std::int64_t> {
    sqlite3_stmt* raw = nullptr;
    if (const int rc = sqlite3_prepare_v2(c.handle(), sql, -1, &raw, nullptr); rc != SQLITE_OK)
        return fail(c.error(rc, doing));
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
    const int rc = sqlite3_step(raw);
    if (rc != SQLITE_ROW) return fail(c.error(rc, doing));
    return sqlite3_column_int64(raw, 0);
}

[[nodiscard]] auto stored_version(Connection& c) -> Result<int> {
    auto has_table = query_int(c, queries::has_schema_table, "reading the database header");
    if (!has_table) return fail(std::move(has_table).error());
    if (*has_table == 0) return 0;
    auto version = query_int(c, queries::read_schema_version, "reading the schema version");
    if (!version) return fail(std::move(version).error());
    // A damaged file may hold anything here; it indexes the migrations, so check it first.
    if (*version < 0 || *version > std::numeric_limits<int>::max())
        return fail(Error(ErrorKind::storage,
                          fmt::format("the eventcore schema version recorded in the database is {}, which no "
                                      "eventcore writes: the file is damaged",
                                      *version))
                        .with_code("EVENTCORE_SCHEMA_INVALID"));
    return static_cast<int>(*version);
}

/// Refuses a database that holds no eventcore store but holds something else: eventcore creates
/// its store only in a new or empty database, and leaves anybody else's untouched.
[[nodiscard]] auto refuse_foreign(Connection& c, const std::string& path) -> Result<void> {
    sqlite3_stmt* raw = nullptr;
    if (const int rc = sqlite3_prepare_v2(c.handle(), queries::foreign_objects, -1, &raw, nullptr); rc != SQLITE_OK)
        return fail(c.error(rc, "reading the database's schema"));
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
    std::size_t count = 0;
    std::string shown;
    int rc = 0;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
        if (++count <= 3) {
            const auto* type = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
            const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(raw, 1));
            shown += fmt::format("{}{} {}", shown.empty() ? "" : ", ", type != nullptr ? type : "?",
                                 eventcore::detail::quote_for_message(name != nullptr ? name : ""));
        }
    }
    if (rc != SQLITE_DONE) return fail(c.error(rc, "reading the database's schema"));
    if (count == 0) return {};
    return fail(Error(ErrorKind::storage,
                      fmt::format("SQLite database '{}' is not an eventcore store: it holds {}{} and no "
                                  "eventcore_schema table; eventcore creates its store only in a new or empty "
                                  "database, and has left this one as it was",
                                  path, shown, count > 3 ? fmt::format(" and {} more", count - 3) : std::string()))
                    .with_code("EVENTCORE_NOT_A_STORE"));
}

/// The eventcore schema version in the file at `path` (SQLite's `filename` for it), refusing a
/// database that holds something else, and changing nothing.
[[nodiscard]] auto look_at(const std::string& path, const std::string& filename) -> Result<int> {
    // A read-only connection to a database in WAL mode leaves -wal and -shm files behind (it may
    // not remove them); a read-write one that only reads removes them as it closes, and leaves
    // the file as it was. So look read-write where that is allowed.
    const bool may_write = ::access(path.c_str(), W_OK) == 0 && writable_folder(folder_of(path));
    auto c = Connection::open(filename, may_write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY);
    if (!c) return fail(explain_open_failure(path, std::move(c).error()));
    auto found = stored_version(**c);
    if (!found) return fail(explain_open_failure(path, std::move(found).error()));
    if (*found == 0) {
        if (auto foreign = refuse_foreign(**c, path); !foreign) return fail(std::move(foreign).error());
    }
    return found;
}

auto newer_schema(const std::string& path, int found) -> Error {
    return Error(ErrorKind::storage,
                 fmt::format("database '{}' has eventcore schema version {}, newer than this build supports ({}); "
                             "use a newer eventcore",
                             path, found, schema_version))
        .with_code("EVENTCORE_SCHEMA_TOO_NEW");
}

[[nodiscard]] auto migrate(Connection& c, const std::string& path) -> Result<void> {
    auto tx = Transaction::begin(c, Transaction::Mode::immediate);
    if (!tx) return fail(std::move(tx).error());
    auto found = stored_version(c); // again, under the write lock: another process may have migrated
    if (!found) return fail(std::move(found).error());
    if (*found > schema_version) return fail(newer_schema(path, *found));
    if (*found == 0) {
        if (auto foreign = refuse_foreign(c, path); !foreign) return foreign;
    }
    for (int v = *found; v < schema_version; ++v) {
        if (auto r = c.exec(migrations[v], fmt::format("migrating the schema to version {}", v + 1)); !r) return r;
        const auto record = fmt::format(queries::record_schema_version, v + 1, micros(now()));
        if (auto r = c.exec(record.c_str(), "recording the schema version"); !r) return r;
    }
    return tx->commit();
}

} // namespace

[[nodiscard]] auto Database::open(std::string path, Options options) -> Result<std::shared_ptr<Database>> {
    if (path.empty()) return fail(ErrorKind::validation, "SQLite database path is empty (use \":memory:\" for memory)");
    if (options.max_connections < 1)
        return fail(ErrorKind::validation, "sqlite::Options::max_connections must be at least 1");
    if (options.busy_timeout.count() < 0)
        return fail(ErrorKind::validation, "sqlite::Options::busy_timeout must not be negative");

    const bool in_memory = path == memory_path;
    if (!in_memory) {
        if (auto usable = check_path(path, !options.read_only); !usable) return fail(std::move(usable).error());
    }
    auto impl = std::make_unique<Impl>();
    impl->filename = in_memory ? path : sqlite_filename(path);
    impl->path = std::move(path);
    impl->options = options;
    impl->busy_timeout_ms = options.busy_timeout.count();
    // Each connection to ":memory:" would be its own database: keep one.
    impl->capacity = in_memory ? 1 : options.max_connections;
    impl->flags = options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    impl->pool.emplace(
        impl->capacity, options.busy_timeout,
        eventcore::detail::ConnectionPool<Connection>::Hooks{
            .connect = [&impl = *impl] { return impl.connect(); },
            // Still inside a transaction (a path that failed to end it): closing rolls it back.
            .idle = [](const Connection& c) { return sqlite3_get_autocommit(c.handle()) != 0; },
            .timed_out =
                [&impl = *impl] {
                    return Error(ErrorKind::timeout,
                                 fmt::format("no SQLite connection of '{}' became free within {} ms (sqlite::Options: "
                                             "max_connections {}, busy_timeout){}",
                                             impl.path, impl.options.busy_timeout.count(), impl.capacity,
                                             impl.capacity == 1
                                                 ? "; an in-memory database has one connection, so a store call "
                                                   "made inside a transaction body waits for itself"
                                                 : ""));
                },
        });

    // SQLite only finds out that a file is not a database, or that it cannot make the files it
    // needs beside it, when it first reads it.
    const auto explained = [&](Error e) { return in_memory ? e : explain_open_failure(impl->path, std::move(e)); };
    if (options.read_only && !in_memory) {
        // The read-only connections would leave files beside a database that is not ours.
        if (auto found = look_at(impl->path, impl->filename); !found) return fail(std::move(found).error());
    }
    auto first = impl->connect();
    if (!first) return fail(explained(std::move(first).error()));
    Connection& c = **first;

    // Look before writing anything: a file that is not a database, or is read-only, or comes
    // from a newer eventcore, or holds something that is not an eventcore store, is refused
    // untouched (its journal mode too).
    if (!options.read_only && sqlite3_db_readonly(c.handle(), "main") == 1)
        return fail(Error(ErrorKind::storage,
                          fmt::format("database '{}' is read-only; open it with read_only = true to read it",
                                      impl->path))
                        .with_code("SQLITE_READONLY"));
    auto found = stored_version(c);
    if (!found) return fail(explained(std::move(found).error()));
    if (*found > schema_version) return fail(newer_schema(impl->path, *found));
    if (*found == 0) {
        if (auto foreign = refuse_foreign(c, impl->path); !foreign) return fail(explained(std::move(foreign).error()));
    }
    if (options.read_only) {
        if (*found < schema_version)
            return fail(Error(ErrorKind::storage,
                              fmt::format("database '{}' has eventcore schema version {}, older than this build's "
                                          "({}); open it once for writing to migrate it",
                                          impl->path, *found, schema_version))
                            .with_code("EVENTCORE_SCHEMA_TOO_OLD"));
    } else {
        if (!in_memory) {
            if (auto r = c.exec(queries::journal_mode_wal, "switching to WAL mode"); !r)
                return fail(std::move(r).error());
        }
        if (*found < schema_version) {
            if (auto r = migrate(c, impl->path); !r) return fail(std::move(r).error());
        }
    }
    impl->pool->adopt(std::move(*first));
    return std::shared_ptr<Database>(new Database(std::move(impl)));
}

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;

[[nodiscard]] auto Database::path() const noexcept -> const std::string& { return impl_->path; }
[[nodiscard]] auto Database::options() const noexcept -> const Options& { return impl_->options; }

[[nodiscard]] auto Database::stored_schema_version() const -> Result<int> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    return stored_version(**c);
}

[[nodiscard]] auto Database::read_streams(std::span<const StreamId> ids, StoredEventVisitor visit)
    -> Result<std::vector<StreamVersion>> {
    std::vector<StreamVersion> versions(ids.size());
    if (ids.empty()) return versions;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());

    // One statement reads every stream: SQLite runs it in one read transaction, a snapshot.
    const bool single = ids.size() == 1;
    const std::string* listed = single ? nullptr : detail::read_streams_text(ids.size());
    auto stmt = listed != nullptr ? (*c)->use(std::string_view(*listed))
                                  : (*c)->use(single ? Sql::read_one_stream : Sql::read_streams);
    if (!stmt) return fail(std::move(stmt).error());
    std::string id_list;
    if (single) {
        stmt->bind(1, ids[0].view());
    } else if (listed != nullptr) {
        for (std::size_t i = 0; i < ids.size(); ++i) stmt->bind(static_cast<int>(i) + 1, ids[i].view());
    } else {
        // A plain vector rather than a transform view: Clang 14's concepts reject libstdc++ 12's views.
        std::vector<std::string_view> names;
        names.reserve(ids.size());
        for (const auto& id : ids) names.push_back(id.view());
        id_list = json_string_array(names);
        stmt->bind(1, std::string_view(id_list));
    }

    const eventcore::detail::StreamIndex index(ids);
    StoredEvent event;
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW) {
        if (auto r = read_row(*stmt, event); !r) return fail(std::move(r).error());
        if (const auto i = single ? 0 : index.find(event.stream); i != eventcore::detail::StreamIndex::npos)
            versions[i] = event.version;
        if (auto r = visit(event); !r) return fail(std::move(r).error());
    }
    if (rc != SQLITE_DONE) return step_error(**c, rc, "reading streams");
    for (std::size_t i = 0; i < ids.size(); ++i) versions[i] = versions[index.find(ids[i])]; // repeated ids
    return versions;
}

[[nodiscard]] auto Database::read_stream(const StreamId& id, StreamVersion from, StoredEventVisitor visit) -> Result<StreamVersion> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());

    auto stored = read_stream_version(**c, id);
    if (!stored) return fail(std::move(stored).error());
    const StreamVersion version = *stored;
    if (from <= version) {
        auto stmt = (*c)->use(Sql::read_stream_from);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, id.view());
        stmt->bind(2, from.value());
        StoredEvent event;
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) {
            if (auto r = read_row(*stmt, event); !r) return fail(std::move(r).error());
            if (event.version > version) break; // appended after the version was read: not in this snapshot
            if (auto r = visit(event); !r) return fail(std::move(r).error());
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) return step_error(**c, rc, "reading a stream");
    }
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return version;
}

[[nodiscard]] auto Database::read_all(const LogQuery& query, StoredEventVisitor visit) -> Result<LogPage> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());

    LogPage page{.count = 0, .last = query.after, .head = {}};
    {
        auto head = read_head(**c);
        if (!head) return fail(std::move(head).error());
        page.head = *head;
    }
    if (query.limit == 0 || query.after >= page.head) {
        page.last = std::max(query.after, query.limit == 0 ? query.after : page.head);
        if (auto r = tx->commit(); !r) return fail(std::move(r).error());
        return page;
    }

    auto stmt = (*c)->use(Sql::read_all);
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, query.after.value());
    stmt->bind_blob_or_null(2, query.stream_prefix);
    stmt->bind_copy_or_null(3, query.event_types.empty() ? std::nullopt
                                                          : std::optional(json_string_array(query.event_types)));
    stmt->bind_copy_or_null(4, sqlite_glob(query.stream_pattern));

    StoredEvent event;
    GlobalPosition commit_last{};
    page.last = page.head;
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW) {
        const GlobalPosition position{stmt->uint64(2)};
        // Stop only between commits, so a page never splits one.
        if (page.count >= query.limit && position > commit_last) {
            page.last = GlobalPosition{position.value() - 1};
            break;
        }
        if (auto r = read_row(*stmt, event); !r) return fail(std::move(r).error());
        commit_last = GlobalPosition{stmt->uint64(11)};
        if (auto r = visit(event); !r) return fail(std::move(r).error());
        ++page.count;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return step_error(**c, rc, "reading the log");
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return page;
}

namespace {

[[nodiscard]] auto load_receipt(Connection& c, const Uuid& command_id) -> Result<std::optional<CommitReceipt>> {
    CommitReceipt receipt;
    receipt.command_id = command_id;
    std::uint64_t first = 0;
    std::uint64_t count = 0;
    {
        auto stmt = c.use(Sql::find_command);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, command_id);
        const int rc = stmt->step();
        if (rc == SQLITE_DONE) return std::optional<CommitReceipt>{};
        if (rc != SQLITE_ROW) return step_error(c, rc, "looking up a command id");
        first = stmt->uint64(0);
        count = stmt->uint64(1);
        receipt.committed_at = timestamp(stmt->int64(2));
    }
    {
        auto stmt = c.use(Sql::command_events);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, first);
        stmt->bind(2, first + count);
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) {
            auto stream = stored_stream_id(stmt->text(0));
            if (!stream) return fail(std::move(stream).error());
            receipt.events.push_back(
                {std::move(*stream), StreamVersion{stmt->uint64(1)}, GlobalPosition{stmt->uint64(2)}, stmt->uuid(3)});
        }
        if (rc != SQLITE_DONE) return step_error(c, rc, "reading a command's events");
    }
    {
        auto stmt = c.use(Sql::command_streams);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, command_id);
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) {
            auto stream = stored_stream_id(stmt->text(0));
            if (!stream) return fail(std::move(stream).error());
            receipt.streams.push_back({std::move(*stream), StreamVersion{stmt->uint64(1)}});
        }
        if (rc != SQLITE_DONE) return step_error(c, rc, "reading a command's streams");
    }
    return std::optional<CommitReceipt>{std::move(receipt)};
}

} // namespace

[[nodiscard]] auto Database::append(std::span<const StreamExpectation> expectations, std::span<const EncodedWrite> events,
                      std::optional<Uuid> command_id) -> Result<CommitReceipt> {
    // Each event's expectation, found before taking the write lock.
    std::vector<std::size_t> owner(events.size());
    for (std::size_t e = 0; e < events.size(); ++e) {
        std::size_t i = e > 0 && expectations[owner[e - 1]].stream == *events[e].stream ? owner[e - 1] : 0;
        while (i < expectations.size() && expectations[i].stream != *events[e].stream) ++i;
        if (i == expectations.size())
            return fail(ErrorKind::validation, "commit writes to stream '{}' without an expectation for it",
                        *events[e].stream);
        owner[e] = i;
    }
    std::vector<std::string> custom(events.size());
    for (std::size_t e = 0; e < events.size(); ++e) custom[e] = eventcore::detail::encode_custom(events[e].metadata->custom);

    auto turn = impl_->take_write_turn();
    if (!turn) return fail(std::move(turn).error());
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::immediate);
    if (!tx) return fail(std::move(tx).error());

    if (command_id) {
        auto found = load_receipt(**c, *command_id);
        if (!found) return fail(std::move(found).error());
        if (*found) {
            (*found)->duplicate = true;
            return std::move(**found);
        }
    }

    std::vector<StreamVersion> versions(expectations.size());
    std::vector<VersionConflict> conflicts;
    {
        auto stmt = (*c)->use(Sql::stream_version);
        if (!stmt) return fail(std::move(stmt).error());
        for (std::size_t i = 0; i < expectations.size(); ++i) {
            stmt->bind(1, expectations[i].stream.view());
            const int rc = stmt->step();
            if (rc != SQLITE_ROW) return step_error(**c, rc, "reading a stream version");
            versions[i] = StreamVersion{stmt->uint64(0)};
            stmt->reset();
            if (!expectations[i].expected.matches(versions[i]))
                conflicts.push_back({expectations[i].stream, expectations[i].expected, versions[i]});
        }
    }
    if (!conflicts.empty()) return fail(Error::conflict(std::move(conflicts)));

    CommitReceipt receipt;
    receipt.command_id = command_id;
    receipt.committed_at = now();
    receipt.events.reserve(events.size());
    auto stored_head = read_head(**c);
    if (!stored_head) return fail(std::move(stored_head).error());
    GlobalPosition head = *stored_head;
    const GlobalPosition first = head.next();
    const GlobalPosition last{head.value() + events.size()};
    {
        auto stmt = (*c)->use(Sql::insert_event);
        if (!stmt) return fail(std::move(stmt).error());
        for (std::size_t e = 0; e < events.size(); ++e) {
            const EncodedWrite& w = events[e];
            const EventMetadata& m = *w.metadata;
            versions[owner[e]] = versions[owner[e]].next();
            head = head.next();
            stmt->bind(1, w.stream->view()); // in the order of `event_columns`
            stmt->bind(2, versions[owner[e]].value());
            stmt->bind(3, head.value());
            stmt->bind(4, w.event.type);
            stmt->bind_blob(5, w.event.payload);
            stmt->bind(6, m.event_id);
            stmt->bind(7, micros(receipt.committed_at));
            stmt->bind(8, m.correlation_id);
            stmt->bind(9, m.causation_id);
            stmt->bind(10, std::string_view(m.command));
            if (custom[e].empty()) {
                stmt->bind_null(11);
            } else {
                stmt->bind(11, std::string_view(custom[e]));
            }
            stmt->bind(12, last.value());
            const int rc = stmt->step();
            if (rc != SQLITE_DONE) return step_error(**c, rc, fmt::format("appending to stream '{}'", *w.stream));
            stmt->reset();
            receipt.events.push_back({*w.stream, versions[owner[e]], head, m.event_id});
        }
    }
    receipt.streams.reserve(expectations.size());
    for (std::size_t i = 0; i < expectations.size(); ++i) receipt.streams.push_back({expectations[i].stream, versions[i]});

    if (command_id) {
        auto stmt = (*c)->use(Sql::insert_command);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, *command_id);
        stmt->bind(2, first.value());
        stmt->bind(3, std::uint64_t{events.size()});
        stmt->bind(4, micros(receipt.committed_at));
        if (const int rc = stmt->step(); rc != SQLITE_DONE) return step_error(**c, rc, "recording the command id");
        auto streams = (*c)->use(Sql::insert_command_stream);
        if (!streams) return fail(std::move(streams).error());
        for (std::size_t i = 0; i < receipt.streams.size(); ++i) {
            streams->bind(1, *command_id);
            streams->bind(2, std::uint64_t{i});
            streams->bind(3, receipt.streams[i].stream.view());
            streams->bind(4, receipt.streams[i].version.value());
            if (const int rc = streams->step(); rc != SQLITE_DONE)
                return step_error(**c, rc, "recording the command's streams");
            streams->reset();
        }
    }
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    if (!events.empty()) {
        {
            std::lock_guard lock(impl_->commits_mutex);
            ++impl_->local_commits;
        }
        impl_->committed.notify_all();
    }
    return receipt;
}

[[nodiscard]] auto Database::find_commit(const Uuid& command_id) -> Result<std::optional<CommitReceipt>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());
    auto found = load_receipt(**c, command_id);
    if (!found) return found;
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return found;
}

[[nodiscard]] auto Database::head() -> Result<GlobalPosition> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    return read_head(**c);
}

[[nodiscard]] auto Database::wait_for_events(GlobalPosition after, std::chrono::milliseconds timeout) -> Result<GlobalPosition> {
    auto& impl = *impl_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    // Other processes (and other connections) can only commit to a file.
    const bool watch_file = impl.path != memory_path;
    // PRAGMA data_version changes on a connection when any other connection has committed
    // since it last asked, without reading a table.
    const auto data_version = [&]() -> Result<std::int64_t> {
        const std::lock_guard watch(impl.watcher_mutex);
        if (!impl.watcher) {
            auto c = impl.connect();
            if (!c) return fail(std::move(c).error());
            impl.watcher = std::move(*c);
        }
        auto stmt = impl.watcher->use(Sql::data_version);
        if (!stmt) return fail(std::move(stmt).error());
        if (const int rc = stmt->step(); rc != SQLITE_ROW) return step_error(*impl.watcher, rc, "checking for commits");
        return stmt->int64(0);
    };
    for (;;) {
        // What "nothing changed" looks like, taken before the look at the head, so a commit
        // after the look changes it.
        std::uint64_t local = 0;
        {
            const std::lock_guard lock(impl.commits_mutex);
            local = impl.local_commits;
        }
        std::int64_t version = 0;
        if (watch_file) {
            auto v = data_version();
            if (!v) return fail(std::move(v).error());
            version = *v;
        }
        auto h = head();
        if (!h || *h > after) return h;
        // Until something changes: commits of this process wake us at once, those of other
        // processes are seen within a poll interval. Neither reads a table.
        for (;;) {
            {
                std::unique_lock lock(impl.commits_mutex);
                const auto slice =
                    std::min(deadline, std::chrono::steady_clock::now() + impl.options.change_poll_interval);
                if (impl.committed.wait_until(lock, slice, [&] { return impl.local_commits != local; })) break;
            }
            if (std::chrono::steady_clock::now() >= deadline) return h;
            if (!watch_file) continue;
            auto v = data_version();
            if (!v) return fail(std::move(v).error());
            if (*v != version) break;
        }
    }
}

[[nodiscard]] auto Database::save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> {
    if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto stmt = (*c)->use(Sql::save_checkpoint);
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, name);
    stmt->bind(2, position.value());
    stmt->bind(3, micros(now()));
    if (const int rc = stmt->step(); rc != SQLITE_DONE) return step_error(**c, rc, "saving a checkpoint");
    return {};
}

[[nodiscard]] auto Database::advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void> {
    if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto stmt = (*c)->use(from == GlobalPosition{} ? Sql::advance_checkpoint_from_zero : Sql::advance_checkpoint);
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, name);
    stmt->bind(2, from.value());
    stmt->bind(3, to.value());
    stmt->bind(4, micros(now()));
    if (const int rc = stmt->step(); rc != SQLITE_DONE) return step_error(**c, rc, "moving a checkpoint");
    if (sqlite3_changes((*c)->handle()) != 1) return fail(eventcore::detail::checkpoint_moved(name, from));
    return {};
}

[[nodiscard]] auto Database::load_checkpoint(std::string_view name) -> Result<std::optional<GlobalPosition>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto stmt = (*c)->use(Sql::load_checkpoint);
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, name);
    const int rc = stmt->step();
    if (rc == SQLITE_DONE) return std::optional<GlobalPosition>{};
    if (rc != SQLITE_ROW) return step_error(**c, rc, "loading a checkpoint");
    return std::optional<GlobalPosition>{GlobalPosition{stmt->uint64(0)}};
}

[[nodiscard]] auto Database::checkpoints() -> Result<std::vector<Checkpoint>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto stmt = (*c)->use(Sql::list_checkpoints);
    if (!stmt) return fail(std::move(stmt).error());
    std::vector<Checkpoint> all;
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW)
        all.push_back({std::string(stmt->text(0)), GlobalPosition{stmt->uint64(1)}, timestamp(stmt->int64(2))});
    if (rc != SQLITE_DONE) return step_error(**c, rc, "listing checkpoints");
    return all;
}

[[nodiscard]] auto Database::delete_checkpoint(std::string_view name) -> Result<bool> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto stmt = (*c)->use(Sql::delete_checkpoint);
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, name);
    if (const int rc = stmt->step(); rc != SQLITE_DONE) return step_error(**c, rc, "deleting a checkpoint");
    return sqlite3_changes((*c)->handle()) > 0;
}

namespace {

class Row final : public SqlRow {
public:
    explicit Row(const Statement& stmt) : stmt_(stmt) {}
    [[nodiscard]] auto columns() const -> int override { return stmt_.columns(); }
    [[nodiscard]] auto is_null(int column) const -> bool override { return stmt_.is_null(column); }
    [[nodiscard]] auto integer(int column) const -> std::int64_t override { return stmt_.int64(column); }
    [[nodiscard]] auto real(int column) const -> double override { return stmt_.real(column); }
    [[nodiscard]] auto text(int column) const -> std::string_view override { return stmt_.text(column); }

private:
    const Statement& stmt_;
};

/// Whether `name` is one the store keeps for itself: its tables, and anything starting
/// `eventcore_` (SQLite compares names without regard to case).
auto reserved_name(std::string_view name) -> bool {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    const auto is = [&](std::string_view reserved, bool prefix) {
        if (prefix ? name.size() < reserved.size() : name.size() != reserved.size()) return false;
        for (std::size_t i = 0; i < reserved.size(); ++i) {
            if (lower(name[i]) != reserved[i]) return false;
        }
        return true;
    };
    return is("events", false) || is("commands", false) || is("command_streams", false) || is("checkpoints", false) ||
           is("eventcore_", true);
}

constexpr std::string_view reserved_names =
    "events, commands, command_streams, checkpoints, eventcore_schema and every name starting eventcore_";

auto authorize_caller_statements(void* db, int action, const char* a, const char* b, const char*, const char*) -> int {
    const CallerStatement* statement = caller_statement;
    // Only a caller's statement, prepared (or prepared again) on its own connection: the store's
    // statements, and other connections this thread uses meanwhile, are the store's business.
    if (statement == nullptr || statement->db != db) return SQLITE_OK;
    const auto refuse = [&](const char* name, std::string_view doing) {
        if (name == nullptr || !reserved_name(name)) return false;
        *statement->refused = fmt::format("{} '{}'", doing, name);
        return true;
    };
    bool denied = false;
    switch (action) {
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_CREATE_VTABLE: denied = refuse(a, "create"); break;
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_TEMP_TRIGGER: denied = refuse(a, "create") || refuse(b, "create an index or trigger on"); break;
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_TEMP_VIEW:
    case SQLITE_DROP_VTABLE: denied = refuse(a, "drop"); break;
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_TEMP_TRIGGER: denied = refuse(a, "drop") || refuse(b, "drop an index or trigger on"); break;
    case SQLITE_ALTER_TABLE: denied = refuse(b, "alter"); break;
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE: denied = refuse(a, "write to"); break;
    default: break;
    }
    return denied ? SQLITE_DENY : SQLITE_OK;
}

/// A caller's statements inside one of the store's write transactions. While one of them is
/// prepared or runs (SQLite may prepare it again when the schema changes), the connection's
/// authorizer refuses what would create, drop, alter or write a table the store reserves, or an
/// object on one: a TEMP table named `events` would hide the log from every later read on this
/// connection.
class Session final : public SqlSession {
public:
    explicit Session(Connection& c) : c_(c) {}

    [[nodiscard]] auto execute(std::string_view sql, std::span<const SqlValue> params) -> Result<std::int64_t> override {
        const Guard guard(*this);
        auto stmt = prepared(sql, params);
        if (!stmt) return fail(std::move(stmt).error());
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) return failed(rc, sql);
        return static_cast<std::int64_t>(sqlite3_changes64(c_.handle()));
    }

    [[nodiscard]] auto query(std::string_view sql, std::span<const SqlValue> params,
               eventcore::detail::FunctionRef<void(const SqlRow&)> row) -> Result<void> override {
        const Guard guard(*this);
        auto stmt = prepared(sql, params);
        if (!stmt) return fail(std::move(stmt).error());
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) row(Row(*stmt));
        if (rc != SQLITE_DONE) return failed(rc, sql);
        return {};
    }

    [[nodiscard]] auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> override {
        if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
        auto stmt = c_.use(Sql::save_checkpoint);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, name);
        stmt->bind(2, position.value());
        stmt->bind(3, micros(now()));
        if (const int rc = stmt->step(); rc != SQLITE_DONE) return step_error(c_, rc, "saving a checkpoint");
        return {};
    }

    [[nodiscard]] auto advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void> override {
        if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
        auto stmt = c_.use(from == GlobalPosition{} ? Sql::advance_checkpoint_from_zero : Sql::advance_checkpoint);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, name);
        stmt->bind(2, from.value());
        stmt->bind(3, to.value());
        stmt->bind(4, micros(now()));
        if (const int rc = stmt->step(); rc != SQLITE_DONE) return step_error(c_, rc, "moving a checkpoint");
        if (sqlite3_changes(c_.handle()) != 1) return fail(eventcore::detail::checkpoint_moved(name, from));
        return {};
    }

    [[nodiscard]] auto isolated(eventcore::detail::FunctionRef<Result<void>()> body) -> Result<void> override {
        const auto name = fmt::format(queries::savepoint_name, ++depth_);
        if (auto r = c_.exec(fmt::format(queries::savepoint, name).c_str(), "starting a savepoint"); !r) return r;
        auto outcome = body();
        if (!outcome) {
            (void)c_.exec(fmt::format(queries::rollback_to_savepoint, name).c_str(), "rolling back a savepoint");
        }
        --depth_;
        if (auto r = c_.exec(fmt::format(queries::release_savepoint, name).c_str(), "releasing a savepoint"); !r) return r;
        return outcome;
    }

private:
    /// Marks this thread as running one of the caller's statements on this session's connection,
    /// for the connection's authorizer (see `CallerStatement`); calls may nest (a statement run
    /// from a query's row callback).
    class Guard {
    public:
        explicit Guard(Session& s) : previous_(caller_statement), mine_{s.c_.handle(), &s.refused_} {
            caller_statement = &mine_;
        }
        Guard(const Guard&) = delete;
        auto operator=(const Guard&) -> Guard& = delete;
        ~Guard() { caller_statement = previous_; }

    private:
        CallerStatement* previous_;
        CallerStatement mine_;
    };

    /// The error of a statement that failed: refused by the authorizer, or SQLite's own.
    auto refusal(std::string_view sql) -> tl::unexpected<Error> {
        return fail(ErrorKind::validation,
                    "`{}` would {}, a name reserved for the store's own tables ({}); nothing was done: give "
                    "read-model tables names of their own",
                    sql, std::exchange(refused_, {}), reserved_names);
    }
    auto failed(int rc, std::string_view sql) -> tl::unexpected<Error> {
        if ((rc & 0xFF) == SQLITE_AUTH && !refused_.empty()) return refusal(sql);
        return step_error(c_, rc, fmt::format("running `{}`", sql));
    }

    [[nodiscard]] auto prepared(std::string_view sql, std::span<const SqlValue> params) -> Result<Statement> {
        refused_.clear();
        auto stmt = c_.use(sql);
        if (!stmt) {
            if (!refused_.empty()) return refusal(sql);
            return stmt;
        }
        // `$N` binds the value of its number, wherever it appears: SQLite itself numbers `$N` by
        // first appearance, so `$2, $1` would swap the values. SQLite's own `?N` would bind
        // right here but fail on PostgreSQL: one spelling, so one projector runs on both.
        const int count = stmt->parameter_count();
        std::vector<bool> used(static_cast<std::size_t>(count) + 1, false);
        std::vector<int> index_of(params.size() + 1, 0);
        std::vector<std::string_view> spelled(params.size() + 1);
        for (int i = 1; i <= count; ++i) {
            const char* raw = stmt->parameter_name(i);
            if (raw == nullptr)
                return fail(ErrorKind::validation,
                            "parameter {} of `{}` is a bare `?` (or a number that ?N skips): SqlSession binds values "
                            "by number; write $1, $2, ... (the same on every store)",
                            i, sql);
            const std::string_view name(raw);
            std::size_t number = 0;
            if (name.size() > 1 && name[0] == '?')
                return fail(ErrorKind::validation,
                            "`{}` has SQLite's own parameter `{}`, which PostgreSQL does not take: write ${} (the same "
                            "on every store)",
                            sql, name, name.substr(1));
            bool numbered = name.size() > 1 && name[0] == '$' && name.size() <= 6;
            for (std::size_t k = 1; numbered && k < name.size(); ++k) {
                if (name[k] < '0' || name[k] > '9') numbered = false;
                number = number * 10 + static_cast<std::size_t>(name[k] - '0');
            }
            if (!numbered || number == 0)
                return fail(ErrorKind::validation,
                            "`{}` has the parameter `{}`: SqlSession binds values by number; write $1, $2, ... (the "
                            "same on every store), not named parameters",
                            sql, name);
            if (number > params.size()) {
                used.assign(number + 1, false);
                used[number] = true;
                return fail(eventcore::detail::check_parameter_numbers(sql, used, params.size()).error());
            }
            if (index_of[number] != 0)
                return fail(ErrorKind::validation,
                            "`{}` writes parameter {} two ways, `{}` and `{}`, which SQLite takes for two parameters; "
                            "write ${} each time",
                            sql, number, spelled[number], name, number);
            index_of[number] = i;
            spelled[number] = name;
            if (used.size() <= number) used.resize(number + 1, false);
            used[number] = true;
        }
        if (auto checked = eventcore::detail::check_parameter_numbers(sql, used, params.size()); !checked)
            return fail(std::move(checked).error());
        for (std::size_t n = 1; n <= params.size(); ++n) {
            const int at = index_of[n];
            std::visit(
                [&](const auto& v) {
                    using T = std::decay_t<decltype(v)>;
                    if constexpr (std::is_same_v<T, std::nullptr_t>) {
                        stmt->bind_null(at);
                    } else {
                        stmt->bind(at, v);
                    }
                },
                params[n - 1]);
        }
        return stmt;
    }

    Connection& c_;
    int depth_ = 0;
    std::string refused_; // what the authorizer refused, for the error
};

} // namespace

[[nodiscard]] auto Database::transaction(eventcore::detail::FunctionRef<Result<void>(SqlSession&)> body) -> Result<void> {
    auto turn = impl_->take_write_turn();
    if (!turn) return fail(std::move(turn).error());
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::immediate);
    if (!tx) return fail(std::move(tx).error());
    Session session(**c);
    if (auto r = body(session); !r) return r;
    return tx->commit();
}

[[nodiscard]] auto Database::lock_projection(std::string_view name, std::chrono::milliseconds wait) -> Result<ProjectionLock> {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    if (impl_->path == memory_path) {
        // One process only: a set of names will do.
        auto shared = impl_->projections;
        std::unique_lock lock(shared->mutex);
        if (!shared->released.wait_until(lock, deadline, [&] { return !shared->running.contains(name); }))
            return fail(eventcore::detail::projection_running(name, wait));
        shared->running.emplace(name);
        return ProjectionLock([shared, key = std::string(name)] {
            {
                const std::lock_guard relock(shared->mutex);
                shared->running.erase(key);
            }
            shared->released.notify_all();
        });
    }
    const std::string lock_path = impl_->path + "-projections.lock";
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(ErrorKind::storage, "opening the projection lock file '{}': {}", lock_path, std::strerror(errno));
    // A byte per projection name (by hash), locked with an open-file-description lock: it
    // excludes other threads of this process too, and the kernel drops it with the process.
    struct flock region{};
    region.l_type = F_WRLCK;
    region.l_whence = SEEK_SET;
    // FNV-1a: the same byte for the same name in every process, whatever built it.
    std::uint64_t hash = 14695981039346656037ULL;
    for (const char ch : name) hash = (hash ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
    region.l_start = static_cast<off_t>(hash % (1ULL << 40));
    region.l_len = 1;
    for (;;) {
        if (::fcntl(fd, F_OFD_SETLK, &region) == 0) break;
        if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
            const int error = errno;
            ::close(fd);
            return fail(ErrorKind::storage, "locking projection '{}' in '{}': {}", name, lock_path, std::strerror(error));
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            ::close(fd);
            return fail(eventcore::detail::projection_running(name, wait));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    return ProjectionLock([fd] { ::close(fd); });
}


// Administration: listings, statistics, the log with commit boundaries, and imports.

namespace {

auto sql_limit(std::size_t limit) -> std::int64_t {
    return limit >= static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max()) ? -1
                                                                                      : static_cast<std::int64_t>(limit);
}

} // namespace

[[nodiscard]] auto Database::schema_version_at(const std::string& path) -> Result<int> {
    const bool in_memory = path == memory_path;
    if (!in_memory) {
        if (auto usable = check_path(path, false); !usable) return fail(std::move(usable).error());
    }
    if (in_memory) return 0; // a new one, empty
    return look_at(path, sqlite_filename(path));
}

namespace {

[[nodiscard]] auto list_streams_on(Connection& c, const StreamListQuery& query) -> Result<std::vector<StreamSummary>> {
    auto stmt = c.use(queries::list_streams);
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, std::string_view(query.after));
    stmt->bind_blob_or_null(2, query.prefix); // bytes, as in `read_all`
    stmt->bind_copy_or_null(3, sqlite_glob(query.pattern));
    stmt->bind(4, sql_limit(query.limit));
    std::vector<StreamSummary> streams;
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW) {
        auto id = stored_stream_id(stmt->text(0));
        if (!id) return fail(std::move(id).error());
        streams.push_back({std::move(*id), StreamVersion{stmt->uint64(1)}, timestamp(stmt->int64(2))});
    }
    if (rc != SQLITE_DONE) return step_error(c, rc, "listing streams");
    return streams;
}

} // namespace

[[nodiscard]] auto Database::list_streams(const StreamListQuery& query) -> Result<std::vector<StreamSummary>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    return list_streams_on(**c, query);
}

[[nodiscard]] auto Database::statistics() -> Result<StoreStatistics> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());
    StoreStatistics stats;
    {
        auto stmt = (*c)->use(queries::count_events);
        if (!stmt) return fail(std::move(stmt).error());
        if (const int rc = stmt->step(); rc != SQLITE_ROW) return step_error(**c, rc, "counting events");
        stats.events = stmt->uint64(0);
        stats.streams = stmt->uint64(1);
        stats.head = GlobalPosition{stmt->uint64(2)};
        if (!stmt->is_null(3)) {
            stats.first_recorded = timestamp(stmt->int64(3));
            stats.last_recorded = timestamp(stmt->int64(4));
        }
    }
    {
        auto stmt = (*c)->use(queries::database_size);
        if (!stmt) return fail(std::move(stmt).error());
        if (const int rc = stmt->step(); rc != SQLITE_ROW) return step_error(**c, rc, "measuring the database");
        stats.size_bytes = stmt->uint64(0);
    }
    {
        auto stmt = (*c)->use(queries::count_event_types);
        if (!stmt) return fail(std::move(stmt).error());
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) stats.types.push_back({std::string(stmt->text(0)), stmt->uint64(1)});
        if (rc != SQLITE_DONE) return step_error(**c, rc, "counting event types");
    }
    {
        auto stmt = (*c)->use(queries::count_events_by_day);
        if (!stmt) return fail(std::move(stmt).error());
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW)
            stats.days.push_back({std::string(stmt->text(0)), stmt->uint64(1), stmt->uint64(2)});
        if (rc != SQLITE_DONE) return step_error(**c, rc, "counting events by day");
    }
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return stats;
}

namespace {

/// A page of the log, in the connection's current transaction.
[[nodiscard]] auto read_log_on(Connection& c, GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition> {
    auto stmt = c.use(queries::read_log); // the columns of `read_row`, in its order
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, after.value());
    StoredEvent event;
    GlobalPosition last = after;
    GlobalPosition commit_last{};
    std::size_t count = 0;
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW) {
        const GlobalPosition position{stmt->uint64(2)};
        if (count >= limit && position > commit_last) break; // only between commits
        if (auto r = read_row(*stmt, event); !r) return fail(std::move(r).error());
        commit_last = GlobalPosition{stmt->uint64(11)};
        if (auto r = visit(event, commit_last); !r) return fail(std::move(r).error());
        last = position;
        ++count;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return step_error(c, rc, "reading the log");
    return last;
}

} // namespace

[[nodiscard]] auto Database::read_log(GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());
    auto last = read_log_on(**c, after, limit, visit);
    if (!last) return last;
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return last;
}


[[nodiscard]] auto Database::import_events(std::span<const ArchivedEvent> events) -> Result<void> {
    if (events.empty()) return {};
    auto turn = impl_->take_write_turn();
    if (!turn) return fail(std::move(turn).error());
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::immediate);
    if (!tx) return fail(std::move(tx).error());
    auto stored_head = read_head(**c);
    if (!stored_head) return fail(std::move(stored_head).error());
    GlobalPosition head = *stored_head;
    auto checked = eventcore::detail::check_import(
        events, head, [&](const StreamId& id) -> Result<StreamVersion> { return read_stream_version(**c, id); });
    if (!checked) return checked;
    auto stmt = (*c)->use(Sql::insert_event);
    if (!stmt) return fail(std::move(stmt).error());
    for (const ArchivedEvent& e : events) {
        const std::string custom = eventcore::detail::encode_custom(e.metadata.custom);
        stmt->bind(1, e.stream.view()); // in the order of `event_columns`
        stmt->bind(2, e.version.value());
        stmt->bind(3, e.position.value());
        stmt->bind(4, std::string_view(e.type));
        stmt->bind_blob(5, e.payload);
        stmt->bind(6, e.metadata.event_id);
        stmt->bind(7, micros(e.metadata.recorded_at));
        stmt->bind(8, e.metadata.correlation_id);
        stmt->bind(9, e.metadata.causation_id);
        stmt->bind(10, std::string_view(e.metadata.command));
        if (custom.empty()) {
            stmt->bind_null(11);
        } else {
            stmt->bind(11, std::string_view(custom));
        }
        stmt->bind(12, e.commit_last.value());
        const int rc = stmt->step();
        if (rc != SQLITE_DONE)
            return step_error(**c, rc, fmt::format("importing the event at position {}", e.position));
        stmt->reset();
    }
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    {
        std::lock_guard lock(impl_->commits_mutex);
        ++impl_->local_commits;
    }
    impl_->committed.notify_all();
    return {};
}

// A whole-store snapshot for `eventcore verify`.

namespace {

/// Every idempotency record with its stream rows, in the connection's current transaction; and
/// stream rows whose record is gone, as damaged records.
[[nodiscard]] auto commands_on(Connection& c, CommandRecordVisitor visit) -> Result<void> {
    auto stmt = c.use(queries::command_records);
    if (!stmt) return fail(std::move(stmt).error());
    std::optional<CommandRecord> record;
    std::string key; // the command id's bytes as stored
    std::int64_t next_ordinal = 0;
    const auto finish = [&]() -> Result<void> {
        if (!record) return {};
        auto r = visit(*record);
        record.reset();
        return r;
    };
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW) {
        if (!record || stmt->blob(0) != key) {
            if (auto r = finish(); !r) return r;
            key = stmt->blob(0);
            record.emplace();
            record->command_id = stmt->uuid(0);
            next_ordinal = 0;
            if (stmt->int64(7) == 1) {
                record->first_position = GlobalPosition{stmt->uint64(1)};
                record->event_count = stmt->uint64(2);
                record->committed_at = timestamp(stmt->int64(3));
            } else {
                record->damage = "its streams are recorded, but the record itself is missing";
            }
            if (key.size() != 16) record->damage = fmt::format("its command id is {} bytes, not 16", key.size());
        }
        if (stmt->is_null(4)) continue; // a record without stream rows
        if (stmt->int64(4) != next_ordinal && record->damage.empty())
            record->damage = fmt::format("its stream entry {} is missing", next_ordinal);
        next_ordinal = stmt->int64(4) + 1;
        record->streams.emplace_back(std::string(stmt->text(5)), StreamVersion{stmt->uint64(6)});
    }
    if (rc != SQLITE_DONE) return step_error(c, rc, "reading the command records");
    return finish();
}

class Snapshot final : public StoreSnapshot {
public:
    explicit Snapshot(Connection& c) : c_(c) {}

    [[nodiscard]] auto schema_version() -> Result<int> override { return stored_version(c_); }
    [[nodiscard]] auto head() -> Result<GlobalPosition> override { return read_head(c_); }
    [[nodiscard]] auto read_log(GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition> override {
        return read_log_on(c_, after, limit, visit);
    }
    [[nodiscard]] auto list_streams(const StreamListQuery& query) -> Result<std::vector<StreamSummary>> override {
        return list_streams_on(c_, query);
    }
    [[nodiscard]] auto checkpoints() -> Result<std::vector<Checkpoint>> override {
        auto stmt = c_.use(Sql::list_checkpoints);
        if (!stmt) return fail(std::move(stmt).error());
        std::vector<Checkpoint> all;
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW)
            all.push_back({std::string(stmt->text(0)), GlobalPosition{stmt->uint64(1)}, timestamp(stmt->int64(2))});
        if (rc != SQLITE_DONE) return step_error(c_, rc, "listing checkpoints");
        return all;
    }
    [[nodiscard]] auto commands(CommandRecordVisitor visit) -> Result<void> override { return commands_on(c_, visit); }
    [[nodiscard]] auto integrity_check(std::size_t limit) -> Result<std::optional<std::vector<std::string>>> override {
        const auto text = fmt::format(queries::integrity_check, std::max<std::size_t>(limit, 1));
        sqlite3_stmt* raw = nullptr;
        std::vector<std::string> problems;
        int rc = sqlite3_prepare_v2(c_.handle(), text.c_str(), -1, &raw, nullptr);
        const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
        if (rc == SQLITE_OK) {
            while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
                const auto* row = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
                const std::string_view line = row != nullptr ? row : "";
                if (line != "ok") problems.emplace_back(line);
            }
        }
        if (rc != SQLITE_DONE) {
            // A file damaged badly enough stops the check itself: that is its finding.
            auto error = c_.error(rc, "running SQLite's integrity check");
            if (error.code() != "SQLITE_CORRUPT" && error.code() != "SQLITE_NOTADB") return fail(std::move(error));
            problems.push_back(error.message());
        }
        return std::optional<std::vector<std::string>>{std::move(problems)};
    }

private:
    Connection& c_;
};

} // namespace

[[nodiscard]] auto Database::snapshot(SnapshotBody body) -> Result<void> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());
    // A deferred transaction's snapshot starts at its first read: start it now.
    if (auto h = read_head(**c); !h) return fail(std::move(h).error());
    Snapshot snapshot(**c);
    if (auto r = body(snapshot); !r) return r;
    return tx->commit();
}

} // namespace eventcore::sqlite
