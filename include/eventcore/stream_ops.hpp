#pragma once
/// \file
/// Conveniences over any `EventStore`: load events into vectors, append to one stream.

#include <eventcore/event_store.hpp>

#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

namespace eventcore {

/// The events of `stream` from version `from` (inclusive), copied into a vector.
///
/// \code
/// auto events = eventcore::load_stream(store, StreamId::from_static("account-1")).value();
/// \endcode
template <EventStore S>
[[nodiscard]] auto load_stream(const S& store, const StreamId& stream, StreamVersion from = StreamVersion{1})
    -> Result<std::vector<RecordedEvent<typename S::event_type>>> {
    std::vector<RecordedEvent<typename S::event_type>> events;
    auto version = store.read_stream(stream, from, [&](const auto& e) { events.push_back(e); });
    if (!version) return fail(std::move(version).error());
    return events;
}

/// The current version of `stream` (0 if it has no events), without visiting its events.
template <EventStore S>
[[nodiscard]] auto stream_version(const S& store, const StreamId& stream) -> Result<StreamVersion> {
    constexpr StreamVersion past_any_end{std::numeric_limits<StreamVersion::value_type>::max()};
    return store.read_stream(stream, past_any_end, [](const auto&) {});
}

/// Events of the global log, copied into a vector (see `LogQuery`).
template <EventStore S>
[[nodiscard]] auto load_log(const S& store, const LogQuery& query = {})
    -> Result<std::vector<RecordedEvent<typename S::event_type>>> {
    std::vector<RecordedEvent<typename S::event_type>> events;
    auto page = store.read_all(query, [&](const auto& e) { events.push_back(e); });
    if (!page) return fail(std::move(page).error());
    return events;
}

/// Appends `events` to one stream, if it is at `expected`: a direct write, without a command.
///
/// \code
/// using eventcore::ExpectedVersion;
/// eventcore::append_to_stream(store, id, ExpectedVersion::no_stream(), {BankEvent{Opened{100}}});
/// \endcode
template <EventStore S>
[[nodiscard]] auto append_to_stream(S& store, const StreamId& stream, ExpectedVersion expected,
                      std::vector<typename S::event_type> events, std::optional<Uuid> command_id = std::nullopt)
    -> Result<CommitReceipt> {
    AppendRequest<typename S::event_type> request;
    request.command_id = command_id;
    request.expectations.push_back({stream, expected});
    request.events.reserve(events.size());
    for (auto& e : events) request.events.push_back({stream, std::move(e), {}});
    return store.append(std::move(request));
}

} // namespace eventcore
