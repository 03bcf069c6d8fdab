#pragma once
/// \file
/// What compiled store cores exchange with their typed shells: encoded events in, stored
/// events out. Users of `SqliteEventStore` or `PostgresEventStore` do not need it.

#include <eventcore/codec.hpp>
#include <eventcore/detail/function_ref.hpp>
#include <eventcore/event_store.hpp>

#include <string_view>

namespace eventcore {

/// A stored event as a store core hands it out: views valid only during the visit.
struct StoredEvent {
    std::string_view stream;
    StreamVersion version;
    GlobalPosition position;
    std::string_view type;
    std::string_view payload;
    EventMetadata metadata;
};

/// One encoded event to append; refers to the caller's request.
struct EncodedWrite {
    const StreamId* stream;
    EncodedEvent event;
    const EventMetadata* metadata;
};

/// Receives stored events; an error stops the read and is returned by it.
using StoredEventVisitor = detail::FunctionRef<Result<void>(const StoredEvent&)>;

} // namespace eventcore
