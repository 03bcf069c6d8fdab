#pragma once
/// \file
/// Stable command ids from names: an HTTP `Idempotency-Key` header or a business id
/// ("booking-42") becomes the same `Uuid` on every machine, build and run, so that a request
/// repeated with the same key executes once (`ExecuteOptions::command_id`).

#include <eventcore/uuid.hpp>

#include <string_view>

namespace eventcore {

/// The namespace of `command_id_for`: the name-based UUID (version 5) of the URL
/// `urn:eventcore:command-id` in the URL namespace of RFC 9562, c6a26fe6-460f-52e6-a463-c91a5fcaf632.
inline constexpr Uuid command_id_namespace{Uuid::Bytes{0xc6, 0xa2, 0x6f, 0xe6, 0x46, 0x0f, 0x52, 0xe6, 0xa4, 0x63,
                                                       0xc9, 0x1a, 0x5f, 0xca, 0xf6, 0x32}};

/// The name-based UUID of `name` in namespace `ns`: version 5 of RFC 9562 (SHA-1 of the
/// namespace's 16 bytes followed by the name's bytes, as they are: no case folding or Unicode
/// normalization). Any RFC 9562 implementation gives the same id
/// (Python: `uuid.uuid5(ns, name)`).
///
/// \code
/// const auto dns = eventcore::Uuid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8").value();
/// assert(fmt::format("{}", eventcore::name_based_uuid(dns, "www.example.com")) ==
///        "2ed6657d-e927-568b-95e1-2665a8aea6a2");
/// \endcode
[[nodiscard]] auto name_based_uuid(const Uuid& ns, std::string_view name) -> Uuid;

/// The command id for an idempotency key: `name_based_uuid(command_id_namespace, key)`. The
/// same key always gives the same id, so a request that arrives twice commits once; keys of
/// different meaning should not collide, so prefix them with what they name if they could
/// ("booking:42", "payment:42").
///
/// \code
/// const eventcore::ExecuteOptions once{.command_id = eventcore::command_id_for(request.header("Idempotency-Key"))};
/// auto result = executor.execute(ConfirmBooking{...}, once);   // a retried request: result->duplicate
/// \endcode
[[nodiscard]] inline auto command_id_for(std::string_view key) -> Uuid { return name_based_uuid(command_id_namespace, key); }

} // namespace eventcore
