#pragma once
// What the example programs share. Each runs its scenario and checks the outcome; a failed
// check throws, `main` reports it and returns non-zero, and ctest (which runs every example)
// fails.

#include <eventcore/eventcore.hpp>

#include <fmt/format.h>

#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace examples {

inline void check(bool ok, std::string_view what) {
    if (!ok) throw std::runtime_error(fmt::format("check failed: {}", what));
}

/// The value of `result`, or an exception naming `what` failed and why.
template <class T>
auto must(eventcore::Result<T> result, std::string_view what) -> T {
    if (!result) throw std::runtime_error(fmt::format("{} failed: {}", what, result.error()));
    return std::move(*result);
}

/// Writes a scenario's starting events to `stream`.
template <class Store>
void seed(Store& store, const eventcore::StreamId& stream, std::vector<typename Store::event_type> events,
          eventcore::ExpectedVersion expected = eventcore::ExpectedVersion::no_stream()) {
    must(eventcore::append_to_stream(store, stream, expected, std::move(events)), fmt::format("seeding {}", stream));
}

} // namespace examples
