#pragma once
/// \file
/// `EventMetadata`: what the store records about each event besides its payload.

#include <eventcore/uuid.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace eventcore {

/// A point in time, to the microsecond, as events record it.
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

/// The current time, truncated to the microsecond.
[[nodiscard]] inline auto now() noexcept -> Timestamp {
    return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

/// Facts about an event: who made it, when, and why.
///
/// The executor fills these in: every event of one command execution shares its
/// `causation_id` (the command's id) and `correlation_id` (the caller's, or the command id).
///
/// \code
/// const auto events = eventcore::load_stream(store, id).value();
/// for (const auto& e : events)
///     fmt::print("{} by {} at {}\n", e.metadata.event_id, e.metadata.command,
///                e.metadata.recorded_at.time_since_epoch().count());
/// \endcode
struct EventMetadata {
    /// Unique, time-ordered (UUID version 7).
    Uuid event_id;
    /// When the store committed the event.
    Timestamp recorded_at{};
    /// Ties together everything done for one request or workflow.
    Uuid correlation_id;
    /// The id of the command execution that produced the event.
    Uuid causation_id;
    /// The name of the command that produced the event.
    std::string command;
    /// Application key/value pairs, in insertion order.
    std::vector<std::pair<std::string, std::string>> custom;

    friend auto operator==(const EventMetadata&, const EventMetadata&) -> bool = default;
};

} // namespace eventcore
