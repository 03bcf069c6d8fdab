#pragma once
/// \file
/// Conveniences over any `EventStore`: load events into vectors, append to one stream.

#include <eventcore/event_store.hpp>

#include <cstddef>
#include <limits>
#include <optional>
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

/// Visits the events of the global log that `query` selects, page after page of `query.limit`
/// events, until it has read to the head as it was when the first page was read (it may visit a
/// few later ones). Returns the last page, its `count` the number of events visited in all.
///
/// \code
/// std::int64_t total = 0;
/// auto read = eventcore::visit_log(store, {.stream_prefix = "account-"},
///                                  [&](const auto& e) { total += amount(e.payload); });
/// \endcode
template <EventStore S, class F>
[[nodiscard]] auto visit_log(const S& store, LogQuery query, F&& visit) -> Result<LogPage> {
    std::size_t count = 0;
    std::optional<GlobalPosition> end;
    for (;;) {
        auto page = store.read_all(query, visit);
        if (!page) return page;
        count += page->count;
        if (!end) end = page->head;
        // Read to a head, past the first one, or no further at all (a zero limit): done.
        if (page->last >= page->head || page->last >= *end || page->last <= query.after) {
            page->count = count;
            return page;
        }
        query.after = page->last;
    }
}

/// Events of the global log, copied into a vector: all `query` selects, read in pages of
/// `query.limit` (see `visit_log`).
template <EventStore S>
[[nodiscard]] auto load_log(const S& store, const LogQuery& query = {})
    -> Result<std::vector<RecordedEvent<typename S::event_type>>> {
    std::vector<RecordedEvent<typename S::event_type>> events;
    auto page = visit_log(store, query, [&](const auto& e) { events.push_back(e); });
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
