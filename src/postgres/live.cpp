// Live readers (the notifier, the listener, `wait_for_events`), checkpoints, callers'
// transactions, and projection locks.

#include "database_impl.hpp"

#include "common/sql_parameters.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

namespace eventcore::postgres {

Database::Impl::Impl() {
    if (::pipe2(wake_pipe.data(), O_NONBLOCK | O_CLOEXEC) != 0) wake_pipe = {-1, -1}; // then: the server's NOTIFY
}

Database::Impl::~Impl() {
    {
        const std::lock_guard lock(notify_mutex);
        notifier_stopping = true;
    }
    notify_wanted.notify_one();
    if (notifier.joinable()) notifier.join();
    for (const int fd : wake_pipe) {
        if (fd >= 0) ::close(fd);
    }
}

void Database::Impl::committed() {
    // Without a listener no reader of this process waits, and one that starts to takes the
    // listener before it reads the head, which then holds this commit (or is held back by a
    // commit still running, whose end wakes it as ever). The NOTIFY is for every process.
    if (listener_owned) {
        {
            const std::lock_guard lock(listen_mutex);
            ++notifications;
        }
        notified.notify_all();
        if (wake_pipe[1] >= 0) (void)!::write(wake_pipe[1], "c", 1); // full: a wake-up is pending anyway
    }
    {
        const std::lock_guard lock(notify_mutex);
        notify_pending = true;
        if (!notifier.joinable()) notifier = std::thread([this] { notify_loop(); });
    }
    notify_wanted.notify_one();
}

void Database::Impl::notify_loop() {
    std::unique_ptr<Connection> connection;
    const std::string notify = in_schema(queries::notify, schema);
    std::unique_lock lock(notify_mutex);
    for (;;) {
        notify_wanted.wait(lock, [&] { return notify_pending || notifier_stopping; });
        if (notifier_stopping) return;
        notify_pending = false;
        lock.unlock();
        if (connection && connection->broken()) connection.reset();
        if (!connection) {
            // Nothing waits on the flush of a notification.
            if (auto c = connect(); c && (*c)->run(queries::notifier_settings.data(), "configuring the notifier"))
                connection = std::move(*c);
        }
        // A failure costs the readers one poll interval; the next commit tries again.
        if (connection && !connection->run(notify, "waking live readers")) connection.reset();
        lock.lock();
    }
}

namespace {

/// How long a waiting reader goes without looking at the head, notified or not: what a lost
/// notification, or a commit held back behind a long transaction of another program, costs it.
constexpr std::chrono::milliseconds poll_interval{100};

/// The listener's ownership, given up (and the other waiters told) when the owner leaves.
class ListenerOwnership {
public:
    explicit ListenerOwnership(Database::Impl& impl) noexcept : impl_(impl) {}
    ListenerOwnership(const ListenerOwnership&) = delete;
    auto operator=(const ListenerOwnership&) -> ListenerOwnership& = delete;
    ~ListenerOwnership() {
        {
            const std::lock_guard lock(impl_.listen_mutex);
            impl_.listener_owned = false;
        }
        impl_.notified.notify_all();
    }

private:
    Database::Impl& impl_;
};

} // namespace

[[nodiscard]] auto Database::wait_for_events(GlobalPosition after, std::chrono::milliseconds timeout) -> Result<GlobalPosition> {
    auto& impl = *impl_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto time_left = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    };
    std::unique_lock lock(impl.listen_mutex);
    while (impl.listener_owned) {
        // Someone listens already: the count is taken before the look, so a commit after the
        // look moves it.
        const auto seen = impl.notifications;
        lock.unlock();
        auto h = head();
        if (!h || *h > after) return h;
        lock.lock();
        const auto until = std::min(deadline, std::chrono::steady_clock::now() + poll_interval);
        const bool moved = impl.notified.wait_until(lock, until, [&] {
            return impl.notifications != seen || !impl.listener_owned;
        });
        if (!moved && until == deadline) {
            lock.unlock();
            return head();
        }
    }
    // Nobody listens: this reader does, until it returns, however it leaves (an exception too:
    // the others would otherwise wait for an owner that is gone, each until its own timeout).
    impl.listener_owned = true;
    lock.unlock();
    const ListenerOwnership owned(impl);
    if (!impl.listener || impl.listener->broken()) {
        impl.listener.reset();
        auto c = impl.connect();
        if (!c) return fail(std::move(c).error());
        if (auto r = (*c)->run(in_schema(queries::listen, impl.schema), "listening for commits"); !r)
            return fail(std::move(r).error());
        impl.listener = std::move(*c);
    }
    for (;;) {
        // Listening already, so a commit after this look cannot go unnoticed. A notification
        // may be older than the look (or for a commit before `after`): look again after each.
        auto h = head();
        const auto left = time_left();
        if (!h || *h > after || left.count() <= 0) return h;
        auto woken = impl.listener->wait_for_notification(std::min(left, poll_interval), impl.wake_pipe[0]);
        if (!woken) {
            impl.listener.reset();
            return fail(std::move(woken).error());
        }
        if (*woken) {
            const std::lock_guard relock(impl.listen_mutex);
            ++impl.notifications;
            impl.notified.notify_all();
        }
    }
}

[[nodiscard]] auto Database::save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> {
    if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.text(name);
    p.int8(static_cast<std::int64_t>(position.value()));
    auto r = (*c)->query(in_schema(queries::save_checkpoint, impl_->schema).c_str(), p, Phase::read,
                         "saving a checkpoint");
    if (!r) return fail(std::move(r).error());
    return {};
}

[[nodiscard]] auto Database::advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void> {
    if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.text(name);
    p.int8(static_cast<std::int64_t>(from.value()));
    p.int8(static_cast<std::int64_t>(to.value()));
    // One statement: the compare and the set are one.
    const auto text = from == GlobalPosition{} ? queries::advance_new_checkpoint : queries::advance_checkpoint;
    auto r = (*c)->query(in_schema(text, impl_->schema).c_str(), p, Phase::read, "moving a checkpoint");
    if (!r) return fail(std::move(r).error());
    if (r->rows() != 1) return fail(eventcore::detail::checkpoint_moved(name, from));
    return {};
}

[[nodiscard]] auto Database::load_checkpoint(std::string_view name) -> Result<std::optional<GlobalPosition>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.text(name);
    auto r = (*c)->query(in_schema(queries::load_checkpoint, impl_->schema).c_str(), p, Phase::read,
                         "loading a checkpoint");
    if (!r) return fail(std::move(r).error());
    if (r->rows() == 0) return std::optional<GlobalPosition>{};
    return std::optional<GlobalPosition>{GlobalPosition{static_cast<std::uint64_t>(r->int8(0, 0))}};
}

[[nodiscard]] auto Database::checkpoints() -> Result<std::vector<Checkpoint>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params none;
    auto r = (*c)->query(in_schema(queries::list_checkpoints, impl_->schema).c_str(), none, Phase::read,
                         "listing checkpoints");
    if (!r) return fail(std::move(r).error());
    std::vector<Checkpoint> all;
    for (int row = 0; row < r->rows(); ++row)
        all.push_back({std::string(r->bytes(row, 0)), GlobalPosition{static_cast<std::uint64_t>(r->int8(row, 1))},
                       r->timestamp(row, 2)});
    return all;
}

[[nodiscard]] auto Database::delete_checkpoint(std::string_view name) -> Result<bool> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.text(name);
    auto r = (*c)->query(in_schema(queries::delete_checkpoint, impl_->schema).c_str(), p, Phase::read,
                         "deleting a checkpoint");
    if (!r) return fail(std::move(r).error());
    return r->rows() > 0;
}

namespace {

class Row final : public SqlRow {
public:
    Row(const ResultSet& r, int row) : r_(r), row_(row) {}
    [[nodiscard]] auto columns() const -> int override { return r_.columns(); }
    [[nodiscard]] auto is_null(int column) const -> bool override { return r_.is_null(row_, column); }
    [[nodiscard]] auto integer(int column) const -> std::int64_t override {
        return std::strtoll(std::string(r_.bytes(row_, column)).c_str(), nullptr, 10);
    }
    [[nodiscard]] auto real(int column) const -> double override {
        return std::strtod(std::string(r_.bytes(row_, column)).c_str(), nullptr);
    }
    [[nodiscard]] auto text(int column) const -> std::string_view override { return r_.bytes(row_, column); }

private:
    const ResultSet& r_;
    int row_;
};

/// The key of the transaction-level lock every batch that moves a projection's checkpoint holds
/// until it commits.
auto batch_lock_key(std::string_view schema, std::string_view name) -> std::string {
    return fmt::format("eventcore.projection-batch.{}.{}", schema, name);
}

/// A caller's statements inside one transaction.
class Session final : public SqlSession {
public:
    Session(Connection& c, const std::string& schema, const SchemaGuard& guard)
        : c_(c), schema_(schema), guard_(guard) {}

    [[nodiscard]] auto execute(std::string_view text, std::span<const SqlValue> params) -> Result<std::int64_t> override {
        auto r = run(text, params);
        if (!r) return fail(std::move(r).error());
        return r->changed();
    }

    [[nodiscard]] auto query(std::string_view text, std::span<const SqlValue> params,
               eventcore::detail::FunctionRef<void(const SqlRow&)> row) -> Result<void> override {
        auto r = run(text, params);
        if (!r) return fail(std::move(r).error());
        for (int i = 0; i < r->rows(); ++i) row(Row(*r, i));
        return {};
    }

    [[nodiscard]] auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> override {
        if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
        if (auto clean = check(); !clean) return clean;
        Params p;
        p.text(name);
        p.int8(static_cast<std::int64_t>(position.value()));
        auto r = c_.execute(in_schema(queries::session_save_checkpoint, schema_), p, "saving a checkpoint");
        if (!r) return fail(std::move(r).error());
        wrote_checkpoints_ = true;
        return {};
    }

    [[nodiscard]] auto advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void> override {
        if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
        // Held to the end of this transaction, so a runner taking over after a crash can wait
        // for a batch that was already committing (see `Database::lock_projection`). The look at
        // what the batch's statements did to the store's schema comes in the same round trip.
        Params key;
        key.text(batch_lock_key(schema_, name));
        const bool look = unchecked_;
        auto locked = c_.execute(
            look ? fmt::format(queries::lock_batch_and_guard, guard()) : std::string(queries::lock_batch),
            key, "locking a projection's checkpoint");
        if (!locked) return fail(std::move(locked).error());
        if (look) {
            unchecked_ = false;
            if (!locked->is_null(0, 1)) return fail(trespass(locked->bytes(0, 1)));
        }
        Params p;
        p.text(name);
        p.int8(static_cast<std::int64_t>(from.value()));
        p.int8(static_cast<std::int64_t>(to.value()));
        auto r = from == GlobalPosition{}
                     ? c_.execute(in_schema(queries::session_advance_new_checkpoint, schema_), p, "moving a checkpoint")
                     : c_.execute(in_schema(queries::session_advance_checkpoint, schema_), p, "moving a checkpoint");
        if (!r) return fail(std::move(r).error());
        wrote_checkpoints_ = true;
        if (r->changed() != 1) return fail(eventcore::detail::checkpoint_moved(name, from));
        return {};
    }

    [[nodiscard]] auto isolated(eventcore::detail::FunctionRef<Result<void>()> body) -> Result<void> override {
        const auto name = fmt::format("eventcore_{}", ++depth_);
        if (auto r = c_.run(fmt::format(queries::savepoint, name), "starting a savepoint"); !r) return r;
        auto outcome = body();
        if (!outcome) {
            // A failed statement leaves the transaction unusable until rolled back to here.
            if (auto r = c_.run(fmt::format(queries::rollback_to_savepoint, name), "rolling back a savepoint"); !r)
                return r;
        }
        --depth_;
        if (auto r = c_.run(fmt::format(queries::release_savepoint, name), "releasing a savepoint"); !r) return r;
        return outcome;
    }

    /// Whether the caller's statements did something to the store's schema (see `SchemaGuard`);
    /// looks only if statements ran since the last look.
    [[nodiscard]] auto check() -> Result<void> {
        if (!unchecked_) return {};
        Params none;
        auto r = c_.execute(guard(), none, "checking what the transaction did to the store's schema");
        if (!r) return fail(std::move(r).error());
        unchecked_ = false;
        if (r->rows() > 0) return fail(trespass(r->bytes(0, 0)));
        return {};
    }

private:
    [[nodiscard]] auto guard() const -> const std::string& {
        return wrote_checkpoints_ ? guard_.besides_checkpoints : guard_.any;
    }

    [[nodiscard]] auto trespass(std::string_view what) const -> Error {
        return Error(ErrorKind::validation,
                     fmt::format("a statement of the transaction would {} in the store's schema \"{}\", which is "
                                 "reserved for the store's own tables: read models go in another schema (the "
                                 "connection's search_path, public by default) and may only read the store's tables; "
                                 "the transaction was rolled back",
                                 what, schema_))
            .with_code("EVENTCORE_RESERVED_SCHEMA");
    }

    [[nodiscard]] auto run(std::string_view text, std::span<const SqlValue> params) -> Result<ResultSet> {
        // `$N` binds the value of its number: the text must use exactly $1 to $<values>, as
        // SQLite's session insists too, so that one projector runs unchanged on both.
        const auto scan = eventcore::detail::scan_postgres_parameters(text);
        if (scan.too_large) return fail(ErrorKind::validation, "`{}` uses a parameter number above 65535", text);
        if (auto numbered = eventcore::detail::check_parameter_numbers(text, scan.used, params.size()); !numbered)
            return fail(std::move(numbered).error());
        Params p;
        for (std::size_t i = 0; i < params.size(); ++i) {
            if (const auto* t = std::get_if<std::string_view>(&params[i]); t && t->find('\0') != std::string_view::npos)
                return fail(ErrorKind::validation,
                            "the text bound to ${} of `{}` holds a NUL byte, which PostgreSQL text cannot hold", i + 1,
                            text);
            // Text and NULL go untyped, so the server gives them the type their place asks for
            // (a uuid, jsonb or timestamptz column, a nullable integer), as SQLite does.
            std::visit(
                [&](const auto& x) {
                    using T = std::decay_t<decltype(x)>;
                    if constexpr (std::is_same_v<T, std::nullptr_t>) {
                        p.null(Oid::unspecified);
                    } else if constexpr (std::is_same_v<T, std::int64_t>) {
                        p.int8(x);
                    } else if constexpr (std::is_same_v<T, double>) {
                        p.float8(x);
                    } else {
                        p.untyped_text(x);
                    }
                },
                params[i]);
        }
        unchecked_ = true;
        return c_.execute(text, p, {}); // the error names the statement; no message built per call
    }

    Connection& c_;
    const std::string& schema_;
    const SchemaGuard& guard_;
    int depth_ = 0;
    bool unchecked_ = false;         // a caller's statement ran since the last look at the schema
    bool wrote_checkpoints_ = false; // the store's own writes to checkpoints in this transaction
};

} // namespace

[[nodiscard]] auto Database::transaction(eventcore::detail::FunctionRef<Result<void>(SqlSession&)> body) -> Result<void> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    const SchemaGuard* guard = nullptr;
    {
        const std::lock_guard lock(impl_->guard_mutex);
        if (!impl_->guard) {
            auto made = SchemaGuard::make(**c, impl_->schema);
            if (!made) return fail(std::move(made).error());
            impl_->guard = std::move(*made);
        }
        guard = &*impl_->guard;
    }
    if (auto r = (*c)->run(queries::begin.data(), "starting a transaction"); !r) return r;
    Session session(**c, impl_->schema, *guard);
    auto outcome = [&]() -> Result<void> {
        try {
            auto r = body(session);
            if (r && !(*c)->transaction_failed()) return session.check();
            return r;
        } catch (...) {
            (void)(*c)->run(queries::rollback.data(), "rolling back");
            throw;
        }
    }();
    if (!outcome) {
        (void)(*c)->run(queries::rollback.data(), "rolling back");
        return outcome;
    }
    if ((*c)->transaction_failed()) {
        // A statement failed and the body went on as if it had not: COMMIT would quietly roll
        // back what the caller believes was written.
        (void)(*c)->run(queries::rollback.data(), "rolling back");
        return fail(ErrorKind::storage,
                    "a statement of the transaction failed, and the transaction body returned success anyway; "
                    "the transaction was rolled back (return the statement's error, or use SqlSession::isolated)");
    }
    Params none;
    auto committed = (*c)->execute(queries::commit, none, "committing");
    if (!committed) {
        auto error = std::move(committed).error();
        if ((*c)->broken()) {
            return fail(Error(ErrorKind::in_doubt, error.message() + "; the connection was lost while committing: "
                                                                       "the transaction may or may not have landed")
                            .with_code(error.code()));
        }
        return fail(std::move(error));
    }
    return {};
}

namespace {

/// Lets go of a projection lock on the session that holds it. The server would release it when
/// the session ends, but only once it has noticed the client left: a runner started at once
/// would find it still taken. Best effort: a broken session holds nothing any more.
void unlock_projection(Connection& holder, const std::string& key) noexcept {
    try {
        if (holder.broken()) return;
        Params p;
        p.text(key);
        (void)holder.query(queries::unlock_projection.data(), p, Phase::read, "releasing a projection lock");
    } catch (...) { // out of memory: the session's end releases the lock, a moment later
    }
}

} // namespace

[[nodiscard]] auto Database::lock_projection(std::string_view name, std::chrono::milliseconds wait) -> Result<ProjectionLock> {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    auto c = impl_->connect();
    if (!c) return fail(std::move(c).error());
    std::shared_ptr<Connection> holder(std::move(*c));
    const std::string key_text = fmt::format("eventcore.projection.{}.{}", impl_->schema, name);
    Params key;
    key.text(key_text);
    for (;;) {
        auto r = holder->query(queries::try_lock_projection.data(), key, Phase::read, "taking a projection lock");
        if (!r) return fail(std::move(r).error());
        if (r->int4(0, 0) == 1) break;
        if (std::chrono::steady_clock::now() >= deadline)
            return fail(eventcore::detail::projection_running(name, wait));
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    // The lock of a runner that died goes with its session, which may end before the session
    // that was committing its last batch does. Wait for such a batch (it holds the batch lock
    // until its COMMIT is done), so the checkpoint this runner reads next is the final one.
    Params batch;
    batch.text(batch_lock_key(impl_->schema, name));
    for (;;) {
        auto r = holder->query(queries::try_lock_batch.data(), batch, Phase::read,
                               "waiting for a projection's last batch");
        if (!r) {
            unlock_projection(*holder, key_text);
            return fail(std::move(r).error());
        }
        if (r->int4(0, 0) == 1) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            unlock_projection(*holder, key_text);
            return fail(ErrorKind::timeout,
                        "projection '{}' is still committing a batch of a runner that stopped (waited {} ms)", name,
                        wait.count());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    // Still held: the holder session is alive and its backend holds the lock, in one round trip.
    // A session that ended (a server restart, a proxy's idle timeout, pg_terminate_backend) fails
    // the query, and its lock may be another runner's by now.
    auto check = [holder, key_text, projection = std::string(name)]() -> Result<void> {
        const auto lost = [&](std::string_view why) {
            return fail(Error(ErrorKind::projection,
                              fmt::format("projection '{}' lost its lock: {}; another runner may hold it now",
                                          projection, why))
                            .with_code("EVENTCORE_PROJECTION_LOCK_LOST"));
        };
        if (holder->broken()) return lost("the PostgreSQL session that held it has ended");
        Params p;
        p.text(key_text);
        auto r = holder->query(queries::holds_projection_lock.data(), p, Phase::read, "checking a projection lock");
        if (!r)
            return lost(fmt::format("the PostgreSQL session that held it has ended ({})", r.error().message()));
        if (r->int4(0, 0) == 0) return lost("the PostgreSQL session that held it no longer does");
        return {};
    };
    return ProjectionLock([holder, key_text] { unlock_projection(*holder, key_text); }, std::move(check));
}

} // namespace eventcore::postgres
