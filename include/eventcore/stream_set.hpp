#pragma once
/// \file
/// `streams(...)`: how a command declares the streams it reads and writes.

#include <eventcore/stream_id.hpp>

#include <array>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <vector>

namespace eventcore {

namespace detail {
template <class M>
struct MemberTraits : std::false_type {};
template <class C>
struct MemberTraits<StreamId C::*> : std::true_type {
    using class_type = C;
};
template <class C>
struct MemberTraits<const StreamId C::*> : std::true_type {
    using class_type = C;
};
template <class C>
struct MemberTraits<std::vector<StreamId> C::*> : std::true_type {
    using class_type = C;
};
template <class C>
struct MemberTraits<const std::vector<StreamId> C::*> : std::true_type {
    using class_type = C;
};

// Not constexpr on purpose: reaching it while evaluating `streams(...)` stops compilation
// with its name in the diagnostic.
void eventcore_command_declares_the_same_stream_field_twice();

/// What `streams(...)` gives for a declaration it refused (with its own error).
struct InvalidStreams {};
} // namespace detail

/// One declared field: a `StreamId`, or a `std::vector<StreamId>` of streams known when the
/// command is made (the accounts of a batch transfer, say).
template <class C>
struct StreamField {
    const StreamId C::*one = nullptr;
    const std::vector<StreamId> C::*many = nullptr;

    constexpr StreamField() = default;
    constexpr StreamField(const StreamId C::*m) noexcept : one(m) {}             // NOLINT: implicit by design
    constexpr StreamField(const std::vector<StreamId> C::*m) noexcept : many(m) {} // NOLINT: implicit by design

    friend constexpr auto operator==(const StreamField&, const StreamField&) -> bool = default;
};

/// The stream fields a command declares: pointers to its `StreamId` (or `std::vector<StreamId>`)
/// members. Made by `eventcore::streams(...)`; usable in constant expressions.
template <class C, std::size_t N>
struct StreamSet {
    using command_type = C;
    std::array<StreamField<C>, N> fields;

    [[nodiscard]] static constexpr auto size() noexcept -> std::size_t { return N; }

    /// Whether `member` is one of the declared fields.
    [[nodiscard]] constexpr auto contains(StreamField<C> member) const noexcept -> bool {
        for (const auto& f : fields) {
            if (f == member) return true;
        }
        return false;
    }

    [[nodiscard]] constexpr auto begin() const noexcept { return fields.begin(); }
    [[nodiscard]] constexpr auto end() const noexcept { return fields.end(); }
};

/// Declares a command's streams, the way `#[stream]` marks fields in the Rust original:
///
/// \code
/// struct TransferMoney {
///     eventcore::StreamId from_account;
///     eventcore::StreamId to_account;
///     std::int64_t amount;
///     static constexpr auto streams =
///         eventcore::streams(&TransferMoney::from_account, &TransferMoney::to_account);
///     // ...
/// };
/// \endcode
///
/// Every argument must point to a `StreamId` (or `std::vector<StreamId>`) member of the same
/// command, each at most once.
template <class... Members>
[[nodiscard]] consteval auto streams(Members... members) {
    // Each mistake stops here with its own message and nothing after it, so that it is the only
    // error: `detail::InvalidStreams` then stands in for the set, and the command checks leave it
    // alone.
    if constexpr (sizeof...(Members) == 0) {
        static_assert(sizeof...(Members) > 0,
                      "eventcore: a command must declare at least one stream, as in "
                      "eventcore::streams(&Command::account)");
        return detail::InvalidStreams{};
    } else if constexpr (!(detail::MemberTraits<Members>::value && ...)) {
        static_assert((detail::MemberTraits<Members>::value && ...),
                      "eventcore: command streams must be pointers to StreamId members (or std::vector<StreamId> "
                      "members), as in eventcore::streams(&Command::account)");
        return detail::InvalidStreams{};
    } else {
        using First = std::tuple_element_t<0, std::tuple<Members...>>;
        using C = typename detail::MemberTraits<First>::class_type;
        if constexpr (!(std::is_same_v<typename detail::MemberTraits<Members>::class_type, C> && ...)) {
            static_assert((std::is_same_v<typename detail::MemberTraits<Members>::class_type, C> && ...),
                          "eventcore: all streams of a command must be members of the same command type");
            return detail::InvalidStreams{};
        } else {
            StreamSet<C, sizeof...(Members)> set{{StreamField<C>(members)...}};
            for (std::size_t i = 0; i < set.size(); ++i) {
                for (std::size_t j = i + 1; j < set.size(); ++j) {
                    if (set.fields[i] == set.fields[j])
                        detail::eventcore_command_declares_the_same_stream_field_twice();
                }
            }
            return set;
        }
    }
}

} // namespace eventcore
