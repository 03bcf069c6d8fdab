#pragma once
/// \file
/// `RecordedEvent<E>`: an event as the store keeps it.

#include <eventcore/metadata.hpp>
#include <eventcore/stream_id.hpp>
#include <eventcore/version.hpp>

namespace eventcore {

/// A committed event: where it lives (stream and version), where it sits in the global log
/// (position), its metadata and its payload.
///
/// \code
/// void apply(State& s, const eventcore::RecordedEvent<BankEvent>& e) const {
///     if (e.stream == from_account) s.from_balance += delta(e.payload);
/// }
/// \endcode
template <class E>
struct RecordedEvent {
    StreamId stream;
    StreamVersion version;
    GlobalPosition position;
    EventMetadata metadata;
    E payload;

    friend auto operator==(const RecordedEvent&, const RecordedEvent&) -> bool = default;
};

} // namespace eventcore
