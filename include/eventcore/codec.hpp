#pragma once
/// \file
/// The `Codec` concept: how durable stores turn events into bytes and back.

#include <eventcore/error.hpp>

#include <concepts>
#include <string>
#include <string_view>

namespace eventcore {

/// An event ready to store: its type name and its serialized payload.
struct EncodedEvent {
    /// The event type name (see `event_type_name`); refers to static storage.
    std::string_view type;
    std::string payload;
};

/// Turns events of type `E` into an `EncodedEvent` and back. A codec:
///
/// 1. `encode(const E&) -> Result<EncodedEvent>` fails with `serialization` when it cannot;
/// 2. `decode(std::string_view type, std::string_view payload) -> Result<E>` fails with
///    `deserialization` for an unknown type name or a payload that does not fit the type,
///    naming both; stores add the stream and version.
///
/// \code
/// static_assert(eventcore::Codec<eventcore::JsonCodec<BankEvent>, BankEvent>);
/// \endcode
template <class C, class E>
concept Codec = requires(const C& codec, const E& event, std::string_view type, std::string_view payload) {
    { codec.encode(event) } -> std::same_as<Result<EncodedEvent>>;
    { codec.decode(type, payload) } -> std::same_as<Result<E>>;
};

} // namespace eventcore
