#pragma once
/// \file
/// `DeadlineScope` and `current_deadline()`: the deadline of the operation a thread is running,
/// so that a store can bound a call already in flight (a PostgreSQL round trip to a server that
/// stopped answering) by the caller's deadline, not only its own timeouts.

#include <chrono>
#include <optional>

namespace eventcore {

namespace detail {
inline thread_local std::optional<std::chrono::steady_clock::time_point> thread_deadline{};
} // namespace detail

/// The deadline of the operation this thread runs, if it has one: the earliest of the
/// `DeadlineScope`s open on this thread. Stores that can interrupt a call in flight honour it;
/// a commit cut off by it is reported `in_doubt`, a read `timeout`.
///
/// \code
/// if (const auto deadline = eventcore::current_deadline(); deadline && clock::now() > *deadline)
///     return eventcore::fail(eventcore::ErrorKind::timeout, "deadline passed before the read");
/// \endcode
[[nodiscard]] inline auto current_deadline() noexcept -> std::optional<std::chrono::steady_clock::time_point> {
    return detail::thread_deadline;
}

/// Sets this thread's deadline (`current_deadline()`) until the scope ends; nested scopes keep
/// the earlier deadline. The executor opens one for each `execute` with `ExecuteOptions::deadline`.
///
/// \code
/// {
///     eventcore::DeadlineScope bound(std::chrono::steady_clock::now() + std::chrono::seconds(2));
///     auto page = store.read_all(query, visit);   // a frozen server fails it within about 2 s
/// }
/// \endcode
class DeadlineScope {
public:
    explicit DeadlineScope(std::optional<std::chrono::steady_clock::time_point> deadline) noexcept
        : previous_(detail::thread_deadline) {
        if (deadline && (!previous_ || *deadline < *previous_)) detail::thread_deadline = deadline;
    }
    DeadlineScope(const DeadlineScope&) = delete;
    auto operator=(const DeadlineScope&) -> DeadlineScope& = delete;
    ~DeadlineScope() { detail::thread_deadline = previous_; }

private:
    std::optional<std::chrono::steady_clock::time_point> previous_;
};

} // namespace eventcore
