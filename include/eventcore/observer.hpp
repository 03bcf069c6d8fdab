#pragma once
/// \file
/// `ExecutorObserver`: metrics hooks of the executor.

#include <eventcore/error.hpp>
#include <eventcore/uuid.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace eventcore {

/// An attempt begins (1 for the first).
struct AttemptInfo {
    std::string_view command;
    Uuid command_id;
    std::uint32_t attempt;
};

/// An attempt's commit met a version conflict.
struct ConflictInfo {
    std::string_view command;
    Uuid command_id;
    std::uint32_t attempt;
    std::span<const VersionConflict> conflicts;
};

/// The executor will wait `delay`, then start attempt `next_attempt`.
struct RetryInfo {
    std::string_view command;
    Uuid command_id;
    std::uint32_t next_attempt;
    std::chrono::microseconds delay;
};

/// A command committed.
struct CommitInfo {
    std::string_view command;
    Uuid command_id;
    std::uint32_t attempts;
    std::size_t events;
    /// From the call to `execute` to the end of the commit, retries included.
    std::chrono::nanoseconds latency;
    /// The store's `append` alone.
    std::chrono::nanoseconds commit_latency;
};

/// A command ended with an error (retries exhausted included).
struct FailureInfo {
    std::string_view command;
    Uuid command_id;
    std::uint32_t attempts;
    const Error& error;
};

/// Receives the executor's events, for metrics and tracing. Override what you need; every hook
/// does nothing by default. Hooks run on the thread executing the command, so keep them quick,
/// and make them thread-safe when the executor is shared.
///
/// \code
/// struct Counters : eventcore::ExecutorObserver {
///     std::atomic<int> conflicts{0};
///     void on_conflict(const eventcore::ConflictInfo&) override { ++conflicts; }
/// };
/// auto counters = std::make_shared<Counters>();
/// eventcore::CommandExecutor executor{store, {.observer = counters}};
/// \endcode
class ExecutorObserver {
public:
    ExecutorObserver() = default;
    ExecutorObserver(const ExecutorObserver&) = default;
    auto operator=(const ExecutorObserver&) -> ExecutorObserver& = default;
    virtual ~ExecutorObserver() = default;

    virtual void on_attempt(const AttemptInfo&) {}
    virtual void on_conflict(const ConflictInfo&) {}
    virtual void on_retry(const RetryInfo&) {}
    virtual void on_commit(const CommitInfo&) {}
    virtual void on_failure(const FailureInfo&) {}
};

} // namespace eventcore
