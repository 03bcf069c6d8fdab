#pragma once

#include <string_view>

namespace eventcore::detail {

/// The name of `T` as the compiler spells it, e.g. `bank::TransferMoney`.
template <class T>
[[nodiscard]] constexpr auto type_name() noexcept -> std::string_view {
    // GCC: "... [with T = bank::TransferMoney; ...]"; Clang: "... [T = bank::TransferMoney]".
    std::string_view pretty = __PRETTY_FUNCTION__;
    const auto start = pretty.find("T = ") + 4;
    const auto end = pretty.find_first_of(";]", start);
    return pretty.substr(start, end - start);
}

/// A command's name in metadata and messages: its `static constexpr std::string_view name` if
/// it has one, else its type name.
template <class C>
[[nodiscard]] constexpr auto command_name() noexcept -> std::string_view {
    // `*&C::name` is ill-formed for a data member called `name`, which is then just a field.
    if constexpr (requires { std::string_view{*&C::name}; }) {
        return std::string_view{C::name};
    } else {
        return type_name<C>();
    }
}

} // namespace eventcore::detail
