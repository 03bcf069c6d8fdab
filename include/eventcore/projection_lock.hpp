#pragma once
/// \file
/// `ProjectionLock`: proof that this runner is the only one running a projection.

#include <eventcore/error.hpp>
#include <eventcore/result.hpp>

#include <chrono>
#include <functional>
#include <utility>

namespace eventcore {

/// Held while a projection runs, so that only one runner per projection name is active across
/// threads and processes; released when destroyed. Stores hand them out
/// (`lock_projection(name, wait)`): a mutex in memory, a lock on a file beside an SQLite database,
/// an advisory lock on PostgreSQL.
///
/// A lock can be lost behind its holder's back (the PostgreSQL session holding it ends: a
/// restarted server, a proxy's idle timeout), and then a second runner may take it. A store whose
/// locks can be lost gives the lock a check, and `still_held()` asks it; `ProjectionRunner` asks
/// before every batch.
///
/// \code
/// auto lock = store.lock_projection("balances", std::chrono::seconds{5});
/// if (!lock) return fail(std::move(lock).error());
/// if (auto held = lock->still_held(); !held) return held; // before each piece of work
/// \endcode
class ProjectionLock {
public:
    ProjectionLock() = default;
    /// A lock that stays held until `release` runs.
    explicit ProjectionLock(std::function<void()> release) : release_(std::move(release)) {}
    /// A lock that may be lost: `check` answers `still_held()` while it is held (an error, kind
    /// `projection`, naming the projection and the cause, once it is lost). It should be cheap.
    ProjectionLock(std::function<void()> release, std::function<Result<void>()> check)
        : release_(std::move(release)), check_(std::move(check)) {}
    ProjectionLock(ProjectionLock&& other) noexcept
        : release_(std::exchange(other.release_, nullptr)), check_(std::exchange(other.check_, nullptr)) {}
    auto operator=(ProjectionLock&& other) noexcept -> ProjectionLock& {
        if (this != &other) {
            reset();
            release_ = std::exchange(other.release_, nullptr);
            check_ = std::exchange(other.check_, nullptr);
        }
        return *this;
    }
    ProjectionLock(const ProjectionLock&) = delete;
    auto operator=(const ProjectionLock&) -> ProjectionLock& = delete;
    ~ProjectionLock() { reset(); }

    /// Whether this object still owns a lock (not yet released). It does not ask the store: see
    /// `still_held`.
    [[nodiscard]] auto held() const noexcept -> bool { return static_cast<bool>(release_); }

    /// Asks the store whether the lock is still this runner's; an error, code
    /// `EVENTCORE_PROJECTION_LOCK_LOST`, if it was lost or released.
    [[nodiscard]] auto still_held() const -> Result<void> {
        if (!held())
            return fail(Error(ErrorKind::projection, "the projection lock was released")
                            .with_code("EVENTCORE_PROJECTION_LOCK_LOST"));
        if (check_) return check_();
        return {};
    }

    void reset() noexcept {
        check_ = nullptr;
        if (release_) std::exchange(release_, nullptr)();
    }

private:
    std::function<void()> release_;
    std::function<Result<void>()> check_;
};

} // namespace eventcore
