#pragma once
// The connection pool of the SQL stores: at most `capacity` connections, handed out first come,
// first served, with a time limit on the wait. A connection goes back to the pool when its lease
// ends; one the store says is broken is dropped, and so are the idle ones (whatever broke one,
// a server restart for instance, broke them too), so that the next user connects afresh.

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
    /// within the timeout.
    auto acquire() -> Result<Lease> {
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
            const bool served =
                available_.wait_for(lock, timeout_, [&] { return me.handed != nullptr || me.may_open; });
            if (!served) {
                std::erase(waiters_, &me);
                return fail(hooks_.timed_out());
            }
            if (me.handed) return Lease(*this, std::move(me.handed));
            // else serve_next counted the connection this caller may open
        }
        lock.unlock();
        auto c = hooks_.connect();
        if (!c) {
            lock.lock();
            --open_;
            serve_next();
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

    void give_back(std::unique_ptr<Connection> c) {
        std::lock_guard lock(mutex_);
        if (hooks_.broken(*c)) {
            open_ -= 1 + idle_.size();
            idle_.clear();
        } else {
            idle_.push_back(std::move(c));
        }
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
