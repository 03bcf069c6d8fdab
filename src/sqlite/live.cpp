// Live use: waiting for events, checkpoints, a caller's transactions (`SqlSession`) and the
// locks that keep one runner per projection.

#include "database_impl.hpp"
#include "queries.hpp"

#include "common/sql_parameters.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace eventcore::sqlite {

namespace queries = detail::queries;
using detail::memory_path;
using detail::micros;
using detail::step_error;
using detail::timestamp;

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

/// While a caller's statement (a read model's) is prepared or runs on this thread: its
/// connection, and where the authorizer writes what it refused.
struct CallerStatement {
    sqlite3* db;
    std::string* refused;
};
thread_local CallerStatement* caller_statement = nullptr;


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

} // namespace

auto detail::authorize_caller_statements(void* db, int action, const char* a, const char* b, const char*,
                                         const char*) -> int {
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

namespace {


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


} // namespace eventcore::sqlite
