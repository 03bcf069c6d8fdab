#pragma once

#include <cstddef>
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

/// `ns::Outer::Deposited` -> `Deposited`: the name after the last `::` outside template
/// arguments, so that the namespaces (and GCC's `{anonymous}::` or Clang's
/// `(anonymous namespace)::`) drop out; template arguments are kept as the compiler spells them.
[[nodiscard]] constexpr auto unqualified(std::string_view name) noexcept -> std::string_view {
    int depth = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '<' || name[i] == '(') ++depth;
        if (name[i] == '>' || name[i] == ')') --depth;
        if (depth == 0 && name[i] == ':' && i + 1 < name.size() && name[i + 1] == ':') start = i + 2;
    }
    return name.substr(start);
}

/// A command's name in metadata and messages: its `static constexpr std::string_view name` if
/// it has one, else its unqualified type name (`boxoffice::AddFunds` -> `AddFunds`), the same
/// with every compiler, as event type names are.
template <class C>
[[nodiscard]] constexpr auto command_name() noexcept -> std::string_view {
    // `*&C::name` is ill-formed for a data member called `name`, which is then just a field.
    if constexpr (requires { std::string_view{*&C::name}; }) {
        return std::string_view{C::name};
    } else {
        return unqualified(type_name<C>());
    }
}

} // namespace eventcore::detail
