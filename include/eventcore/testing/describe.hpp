#pragma once
/// \file
/// `describe(value)`: events and their fields as readable text, for test failure messages.

#include <eventcore/event_type_name.hpp>
#include <eventcore/recorded_event.hpp>

#include <boost/describe/members.hpp>
#include <boost/mp11/algorithm.hpp>
#include <boost/pfr/core.hpp>
#include <fmt/format.h>

#include <cstddef>
#include <iterator>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace eventcore::testing {

template <class T>
void describe_to(std::string& out, const T& value);

namespace detail {
template <class T>
inline constexpr bool is_optional = false;
template <class T>
inline constexpr bool is_optional<std::optional<T>> = true;

template <class T>
concept StringLike = std::is_convertible_v<const T&, std::string_view>;

template <class T>
concept Described = boost::describe::has_describe_members<T>::value;

template <class T>
concept PfrAggregate = std::is_aggregate_v<T> && !std::is_array_v<T>;

inline void quote_to(std::string& out, std::string_view text) {
    out += '"';
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte == 0x7f) {
            out += fmt::format("\\x{:02x}", byte);
        } else {
            out += c;
        }
    }
    out += '"';
}
} // namespace detail

/// Appends `value`, readably, to `out`; see `describe`.
template <class T>
void describe_to(std::string& out, const T& value) {
    if constexpr (detail::StringLike<T>) {
        detail::quote_to(out, std::string_view(value));
    } else if constexpr (eventcore::detail::is_variant<T>) {
        std::visit([&](const auto& alternative) { describe_to(out, alternative); }, value);
    } else if constexpr (detail::is_optional<T>) {
        if (value) {
            describe_to(out, *value);
        } else {
            out += "nullopt";
        }
    } else if constexpr (std::is_same_v<T, bool>) {
        out += value ? "true" : "false";
    } else if constexpr (detail::Described<T>) {
        out += event_type_name<T>();
        out += '{';
        bool first = true;
        boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_any_access>>(
            [&](auto member) {
                if (!first) out += ", ";
                first = false;
                out += member.name;
                out += ": ";
                describe_to(out, value.*member.pointer);
            });
        out += '}';
    } else if constexpr (fmt::is_formattable<T>::value) {
        fmt::format_to(std::back_inserter(out), "{}", value);
    } else if constexpr (std::ranges::input_range<const T>) {
        out += '[';
        bool first = true;
        for (const auto& element : value) {
            if (!first) out += ", ";
            first = false;
            describe_to(out, element);
        }
        out += ']';
    } else if constexpr (detail::PfrAggregate<T>) {
        out += event_type_name<T>();
        out += '{';
        std::size_t index = 0;
        boost::pfr::for_each_field(value, [&](const auto& field) {
            if (index++ > 0) out += ", ";
            describe_to(out, field);
        });
        out += '}';
    } else {
        out += '<';
        out += event_type_name<T>();
        out += '>';
    }
}

/// `value` as text for a test's failure message. Strings are quoted; a `std::variant` shows its
/// alternative; a struct registered with `EVENTCORE_EVENT` (Boost.Describe) shows its fields by
/// name; a type fmt can format is formatted; another aggregate shows its fields in order
/// (Boost.PFR); anything else shows its type name.
///
/// \code
/// eventcore::testing::describe(BankEvent{MoneyDeposited{30}});   // "MoneyDeposited{amount: 30}"
/// \endcode
template <class T>
[[nodiscard]] auto describe(const T& value) -> std::string {
    std::string out;
    describe_to(out, value);
    return out;
}

/// A recorded event as `stream@version: payload`.
template <class E>
[[nodiscard]] auto describe(const RecordedEvent<E>& event) -> std::string {
    std::string out = fmt::format("{}@{}: ", event.stream, event.version);
    describe_to(out, event.payload);
    return out;
}

} // namespace eventcore::testing
