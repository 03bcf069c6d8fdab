#pragma once
/// \file
/// Event type names: how an event's type is named in stores, filters and codecs.

#include <eventcore/detail/type_name.hpp>

#include <array>
#include <cstddef>
#include <string_view>
#include <variant>

namespace eventcore {

namespace detail {
template <class T>
inline constexpr bool is_variant = false;
template <class... Ts>
inline constexpr bool is_variant<std::variant<Ts...>> = true;
} // namespace detail

/// The name stored with events of type `T`: its `static constexpr std::string_view
/// event_type_name` if it has one, else its unqualified type name (`bank::MoneyDeposited` ->
/// `"MoneyDeposited"`). Renaming a type renames its events: give it an explicit name first.
///
/// \code
/// struct Deposited {
///     static constexpr std::string_view event_type_name = "MoneyDeposited"; // kept after a rename
///     std::int64_t amount;
/// };
/// static_assert(eventcore::event_type_name<Deposited>() == "MoneyDeposited");
/// \endcode
template <class T>
[[nodiscard]] constexpr auto event_type_name() noexcept -> std::string_view {
    if constexpr (requires { std::string_view{T::event_type_name}; }) {
        return std::string_view{T::event_type_name};
    } else {
        return detail::unqualified(detail::type_name<T>());
    }
}

/// Every event type name an event type `E` can hold: one per alternative of a `std::variant`,
/// or `E`'s own name.
template <class E>
inline constexpr auto event_type_names = std::array{event_type_name<E>()};
template <class... Ts>
inline constexpr auto event_type_names<std::variant<Ts...>> = std::array{event_type_name<Ts>()...};

namespace detail {
template <class E>
consteval auto event_type_names_are_unique() -> bool {
    const auto& names = event_type_names<E>;
    for (std::size_t i = 0; i < names.size(); ++i) {
        for (std::size_t j = i + 1; j < names.size(); ++j) {
            if (names[i] == names[j]) return false;
        }
    }
    return true;
}
} // namespace detail

/// The type name of the event `e` holds (for a variant, its current alternative's).
template <class E>
[[nodiscard]] constexpr auto event_type_name_of(const E& e) noexcept -> std::string_view {
    static_assert(detail::event_type_names_are_unique<E>(),
                  "eventcore: two alternatives of the event variant have the same event type name; give one a "
                  "`static constexpr std::string_view event_type_name`");
    if constexpr (detail::is_variant<E>) {
        return event_type_names<E>[e.index()];
    } else {
        (void)e;
        return event_type_name<E>();
    }
}

} // namespace eventcore
