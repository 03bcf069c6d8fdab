#pragma once
/// \file
/// `ProjectionLock`: proof that this runner is the only one running a projection.

#include <chrono>
#include <functional>
#include <utility>

namespace eventcore {

/// Held while a projection runs, so that only one runner per projection name is active across
/// threads and processes; released when destroyed. Stores hand them out
/// (`lock_projection(name, wait)`): a mutex in memory, a lock on a file beside an SQLite database,
/// an advisory lock on PostgreSQL.
class ProjectionLock {
public:
    ProjectionLock() = default;
    explicit ProjectionLock(std::function<void()> release) : release_(std::move(release)) {}
    ProjectionLock(ProjectionLock&& other) noexcept : release_(std::exchange(other.release_, nullptr)) {}
    auto operator=(ProjectionLock&& other) noexcept -> ProjectionLock& {
        if (this != &other) {
            reset();
            release_ = std::exchange(other.release_, nullptr);
        }
        return *this;
    }
    ProjectionLock(const ProjectionLock&) = delete;
    auto operator=(const ProjectionLock&) -> ProjectionLock& = delete;
    ~ProjectionLock() { reset(); }

    [[nodiscard]] auto held() const noexcept -> bool { return static_cast<bool>(release_); }

    void reset() noexcept {
        if (release_) std::exchange(release_, nullptr)();
    }

private:
    std::function<void()> release_;
};

} // namespace eventcore
