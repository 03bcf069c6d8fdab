#pragma once
/// \file
/// `Uuid`, with time-ordered version 7 generation (RFC 9562).

#include <eventcore/result.hpp>

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>
#include <string_view>

namespace eventcore {

/// A 128-bit universally unique identifier. Event ids are version 7: their first 48 bits are
/// the Unix time in milliseconds, so they sort by creation time.
///
/// \code
/// auto a = eventcore::Uuid::v7();
/// auto b = eventcore::Uuid::v7();
/// assert(a < b);                         // strictly increasing within a process
/// auto c = eventcore::Uuid::parse(fmt::format("{}", a)).value();
/// assert(a == c);
/// \endcode
class Uuid {
public:
    using Bytes = std::array<std::uint8_t, 16>;

    /// The nil UUID (all zero).
    constexpr Uuid() noexcept = default;
    constexpr explicit Uuid(const Bytes& bytes) noexcept : bytes_(bytes) {}

    /// A new version 7 UUID. Within one process every call returns a value greater than every
    /// earlier one, from any thread: a 12-bit counter under the millisecond timestamp orders ids
    /// made in the same millisecond (when it overflows, the timestamp field moves ahead).
    [[nodiscard]] static auto v7() -> Uuid { return v7(std::chrono::system_clock::now()); }

    /// As `v7()`, with the time read by the caller: one clock read for many ids (a commit's
    /// events). Still greater than every id made before, whatever `now` says.
    [[nodiscard]] static auto v7(std::chrono::system_clock::time_point now) -> Uuid;

    /// Parses the canonical form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case).
    [[nodiscard]] static auto parse(std::string_view text) -> Result<Uuid>;

    [[nodiscard]] constexpr auto bytes() const noexcept -> const Bytes& { return bytes_; }
    [[nodiscard]] constexpr auto is_nil() const noexcept -> bool { return *this == Uuid{}; }
    /// The version field (7 for ids made by `v7()`).
    [[nodiscard]] constexpr auto version() const noexcept -> int { return bytes_[6] >> 4; }
    /// For a version 7 UUID, the Unix time in milliseconds when it was made.
    [[nodiscard]] constexpr auto unix_ms() const noexcept -> std::uint64_t {
        std::uint64_t ms = 0;
        for (std::size_t i = 0; i < 6; ++i) ms = (ms << 8) | bytes_[i];
        return ms;
    }

    friend constexpr auto operator==(const Uuid&, const Uuid&) noexcept -> bool = default;
    friend constexpr auto operator<=>(const Uuid&, const Uuid&) noexcept = default;

private:
    Bytes bytes_{};
};

} // namespace eventcore

template <>
struct std::hash<eventcore::Uuid> {
    auto operator()(const eventcore::Uuid& u) const noexcept -> std::size_t {
        std::uint64_t hi = 0;
        std::uint64_t lo = 0;
        for (std::size_t i = 0; i < 8; ++i) hi = (hi << 8) | u.bytes()[i];
        for (std::size_t i = 8; i < 16; ++i) lo = (lo << 8) | u.bytes()[i];
        return std::hash<std::uint64_t>{}(hi ^ (lo * 0x9E3779B97F4A7C15ULL));
    }
};

/// Formats in the canonical lower-case form.
template <>
struct fmt::formatter<eventcore::Uuid> : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(const eventcore::Uuid& u, FormatContext& ctx) const {
        constexpr char digits[] = "0123456789abcdef";
        std::array<char, 36> text{};
        std::size_t out = 0;
        for (std::size_t i = 0; i < 16; ++i) {
            if (i == 4 || i == 6 || i == 8 || i == 10) text[out++] = '-';
            text[out++] = digits[u.bytes()[i] >> 4];
            text[out++] = digits[u.bytes()[i] & 0x0F];
        }
        return fmt::formatter<std::string_view>::format(std::string_view(text.data(), text.size()), ctx);
    }
};

// `parse` needs the complete `Error`; error.hpp defines it.
#include <eventcore/error.hpp>
