#pragma once
// The connection pool of the SQL stores: at most `capacity` connections, handed out first come,
// first served, with a time limit on the wait (and the call's deadline, if it is earlier). A
// connection goes back to the pool when its lease ends; one the store says is broken is dropped,
// and so are the idle ones (whatever broke one, a server restart for instance, broke them too),
// so that the next user connects afresh. One that comes back inside a transaction is dropped
// too (closing it rolls the transaction back): the next user would otherwise run in it.

#include <eventcore/deadline.hpp>
#include <eventcore/error.hpp>
#include <eventcore/result.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace eventcore::detail {

template <class Connection>
class ConnectionPool {
public:
    /// What the pool asks of its store.
    struct Hooks {
        /// Opens a connection (called without the pool's lock held).
        std::function<Result<std::unique_ptr<Connection>>()> connect;
        /// Whether an idle connection can still be used (PostgreSQL: the server has not closed it).
        std::function<bool(Connection&)> still_open = [](Connection&) { return true; };
        /// Whether a connection coming back is broken.
        std::function<bool(const Connection&)> broken = [](const Connection&) { return false; };
        /// Whether a broken connection was lost to something that broke the idle ones too (a
        /// server restart), rather than given up on by its user alone (a call cut off at its
        /// deadline): only then are the idle connections dropped with it.
        std::function<bool(const Connection&)> lost = [](const Connection&) { return true; };
        /// Whether a connection coming back is outside any transaction (PostgreSQL:
        /// `PQtransactionStatus`; SQLite: `sqlite3_get_autocommit`).
        std::function<bool(const Connection&)> idle = [](const Connection&) { return true; };
        /// The error for a caller who waited `timeout` in vain.
        std::function<Error()> timed_out;
    };

    /// A connection on loan; it goes back to the pool when the lease ends.
    class Lease {
    public:
        Lease(ConnectionPool& pool, std::unique_ptr<Connection> c) : pool_(&pool), connection_(std::move(c)) {}
        Lease(Lease&& other) noexcept
            : pool_(std::exchange(other.pool_, nullptr)), connection_(std::move(other.connection_)) {}
        Lease(const Lease&) = delete;
        auto operator=(const Lease&) -> Lease& = delete;
        auto operator=(Lease&&) -> Lease& = delete;
        ~Lease() {
            if (pool_ != nullptr) pool_->give_back(std::move(connection_));
        }
        auto operator*() const -> Connection& { return *connection_; }
        auto operator->() const -> Connection* { return connection_.get(); }

    private:
        ConnectionPool* pool_;
        std::unique_ptr<Connection> connection_;
    };

    ConnectionPool(std::size_t capacity, std::chrono::milliseconds timeout, Hooks hooks)
        : capacity_(capacity), timeout_(timeout), hooks_(std::move(hooks)) {}

    /// Takes in a connection opened before the pool was (it counts against the capacity).
    void adopt(std::unique_ptr<Connection> c) {
        std::lock_guard lock(mutex_);
        ++open_;
        idle_.push_back(std::move(c));
    }

    /// An idle connection, a new one, or, at capacity, the first one given back, if that comes
    /// within the timeout and before the thread's deadline (`current_deadline()`).
    [[nodiscard]] auto acquire() -> Result<Lease> {
        std::unique_lock lock(mutex_);
        drop_closed_idle();
        if (!idle_.empty() && waiters_.empty()) {
            auto c = std::move(idle_.back());
            idle_.pop_back();
            return Lease(*this, std::move(c));
        }
        if (open_ < capacity_ && waiters_.empty()) {
            ++open_;
        } else {
            Waiter me;
            waiters_.push_back(&me);
            auto until = std::chrono::steady_clock::now() + timeout_;
            const auto deadline = current_deadline();
            const bool by_deadline = deadline && *deadline < until;
            if (by_deadline) until = *deadline;
            const bool served =
                available_.wait_until(lock, until, [&] { return me.handed != nullptr || me.may_open; });
            if (!served) {
                std::erase(waiters_, &me);
                if (by_deadline)
                    return fail(
                        Error(ErrorKind::timeout, "the call's deadline passed while it waited for a free connection"));
                return fail(hooks_.timed_out());
            }
            if (me.handed) return Lease(*this, std::move(me.handed));
            // else serve_next counted the connection this caller may open
        }
        lock.unlock();
        // The slot counted for this connection is given back however opening it fails, a
        // throwing `connect` (std::bad_alloc, say) included: else the pool would shrink for good.
        Result<std::unique_ptr<Connection>> c = [&] {
            try {
                return hooks_.connect();
            } catch (...) {
                release_slot();
                throw;
            }
        }();
        if (!c) {
            release_slot();
            return fail(std::move(c).error());
        }
        return Lease(*this, std::move(*c));
    }

    /// How many callers wait for a connection now.
    [[nodiscard]] auto waiting() -> std::size_t {
        std::lock_guard lock(mutex_);
        return waiters_.size();
    }

private:
    /// A caller waiting for a connection: handed one, or the right to open one.
    struct Waiter {
        std::unique_ptr<Connection> handed;
        bool may_open = false;
    };

    /// Takes a connection back (from a lease's destructor: it must not throw). Connections it
    /// drops are closed after the lock is released.
    void give_back(std::unique_ptr<Connection> c) noexcept {
        const bool broken = hooks_.broken(*c);
        const bool lost = broken && hooks_.lost(*c);
        const bool reusable = !broken && hooks_.idle(*c);
        std::vector<std::unique_ptr<Connection>> dropped;
        std::lock_guard lock(mutex_);
        if (lost) {
            open_ -= 1 + idle_.size();
            dropped.swap(idle_);
        } else if (broken) {
            --open_; // only this one: closed below
        } else if (reusable) {
            try {
                idle_.push_back(std::move(c)); // on failure `c` is left as it was
            } catch (...) {
                --open_;
            }
        } else {
            --open_; // inside a transaction: closed below, which rolls it back
        }
        serve_next();
        // `dropped` and `c` are closed after the lock (declared last) is released.
    }

    /// Gives back the slot counted for a connection that could not be opened.
    void release_slot() noexcept {
        std::lock_guard lock(mutex_);
        --open_;
        serve_next();
    }

    /// Under the lock: hands the next waiter an idle connection, or the right to open one.
    void serve_next() {
        if (waiters_.empty()) return;
        drop_closed_idle();
        if (!idle_.empty()) {
            waiters_.front()->handed = std::move(idle_.back());
            idle_.pop_back();
        } else if (open_ < capacity_) {
            ++open_;
            waiters_.front()->may_open = true;
        } else {
            return;
        }
        waiters_.pop_front();
        available_.notify_all();
    }

    /// Under the lock: drops idle connections that can no longer be used, looking at the one to
    /// be handed out next, so that nobody reports a failure the server never saw.
    void drop_closed_idle() {
        while (!idle_.empty() && !hooks_.still_open(*idle_.back())) {
            idle_.pop_back();
            --open_;
        }
    }

    const std::size_t capacity_;
    const std::chrono::milliseconds timeout_;
    const Hooks hooks_;
    std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::size_t open_ = 0;
    std::deque<Waiter*> waiters_;
};

} // namespace eventcore::detail
