// Opening a database: the checks of its path before SQLite opens it, the connections and their
// settings, and the migrations of its schema.

#include "database_impl.hpp"
#include "queries.hpp"
#include "schema.hpp"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>
#include <limits>
#include <thread>
#include <utility>

namespace eventcore::sqlite {

namespace queries = detail::queries;
using detail::authorize_caller_statements;
using detail::memory_path;
using detail::micros;
using detail::migrations;
using detail::stored_version;

namespace {

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

auto synchronous_pragma(Synchronous s) -> const char* {
    switch (s) {
    case Synchronous::off: return queries::synchronous_off;
    case Synchronous::normal: return queries::synchronous_normal;
    case Synchronous::full: return queries::synchronous_full;
    case Synchronous::extra: return queries::synchronous_extra;
    }
    return queries::synchronous_full;
}

} // namespace

static_assert(std::size(detail::migrations) == schema_version);

[[nodiscard]] auto Database::Impl::connect() const -> Result<std::unique_ptr<Connection>> {
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

} // namespace

[[nodiscard]] auto detail::stored_version(Connection& c) -> Result<int> {
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

namespace {

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

[[nodiscard]] auto Database::schema_version_at(const std::string& path) -> Result<int> {
    const bool in_memory = path == memory_path;
    if (!in_memory) {
        if (auto usable = check_path(path, false); !usable) return fail(std::move(usable).error());
    }
    if (in_memory) return 0; // a new one, empty
    return look_at(path, sqlite_filename(path));
}

} // namespace eventcore::sqlite
