#pragma once
/// \file
/// `StreamVersion`, `GlobalPosition` and `ExpectedVersion`.

#include <fmt/format.h>

#include <string>

#include <compare>
#include <cstdint>
#include <functional>

namespace eventcore {

namespace detail {
/// A strongly typed event counter; `Tag` keeps stream versions and global positions apart.
template <class Tag>
class Counter {
public:
    using value_type = std::uint64_t;

    constexpr Counter() noexcept = default;
    constexpr explicit Counter(value_type value) noexcept : value_(value) {}

    [[nodiscard]] constexpr auto value() const noexcept -> value_type { return value_; }
    [[nodiscard]] constexpr auto next() const noexcept -> Counter { return Counter{value_ + 1}; }
    [[nodiscard]] constexpr auto is_zero() const noexcept -> bool { return value_ == 0; }

    friend constexpr auto operator==(Counter, Counter) noexcept -> bool = default;
    friend constexpr auto operator<=>(Counter, Counter) noexcept = default;

private:
    value_type value_ = 0;
};

struct StreamVersionTag {};
struct GlobalPositionTag {};
} // namespace detail

/// The number of events in a stream. 0 means the stream has no events; the first event of a
/// stream has version 1, and versions within a stream are contiguous.
///
/// \code
/// eventcore::StreamVersion v{3};
/// assert(v.next() == eventcore::StreamVersion{4});
/// \endcode
using StreamVersion = detail::Counter<detail::StreamVersionTag>;

/// The place of an event in the store's global log: 1 for the first event ever committed,
/// strictly increasing along the log, a commit's events contiguous. The in-memory and SQLite
/// stores have no gaps; PostgreSQL's log has one where a commit failed after taking its
/// positions. A reader at position p has seen every event at or before p that will ever be
/// there. 0 means "before the first event".
using GlobalPosition = detail::Counter<detail::GlobalPositionTag>;

/// What an append expects of a stream's current version.
///
/// \code
/// using eventcore::ExpectedVersion;
/// auto create = ExpectedVersion::no_stream();          // stream must not exist yet
/// auto guard = ExpectedVersion::exact(StreamVersion{7}); // optimistic concurrency
/// \endcode
class ExpectedVersion {
public:
    enum class Kind : unsigned char {
        any,           ///< no check
        no_stream,     ///< the stream has no events
        stream_exists, ///< the stream has at least one event
        exact,         ///< the stream is at exactly `version()`
    };

    [[nodiscard]] static constexpr auto any() noexcept -> ExpectedVersion { return {Kind::any, StreamVersion{}}; }
    [[nodiscard]] static constexpr auto no_stream() noexcept -> ExpectedVersion {
        return {Kind::no_stream, StreamVersion{}};
    }
    [[nodiscard]] static constexpr auto stream_exists() noexcept -> ExpectedVersion {
        return {Kind::stream_exists, StreamVersion{}};
    }
    [[nodiscard]] static constexpr auto exact(StreamVersion version) noexcept -> ExpectedVersion {
        return {Kind::exact, version};
    }

    [[nodiscard]] constexpr auto kind() const noexcept -> Kind { return kind_; }
    /// The version an `exact` expectation names; zero for the other kinds.
    [[nodiscard]] constexpr auto version() const noexcept -> StreamVersion { return version_; }

    /// Whether a stream at `actual` satisfies this expectation.
    [[nodiscard]] constexpr auto matches(StreamVersion actual) const noexcept -> bool {
        switch (kind_) {
        case Kind::any: return true;
        case Kind::no_stream: return actual.is_zero();
        case Kind::stream_exists: return !actual.is_zero();
        case Kind::exact: return actual == version_;
        }
        return false;
    }

    friend constexpr auto operator==(ExpectedVersion, ExpectedVersion) noexcept -> bool = default;

private:
    constexpr ExpectedVersion(Kind kind, StreamVersion version) noexcept : kind_(kind), version_(version) {}

    Kind kind_;
    StreamVersion version_;
};

} // namespace eventcore

template <class Tag>
struct std::hash<eventcore::detail::Counter<Tag>> {
    auto operator()(eventcore::detail::Counter<Tag> c) const noexcept -> std::size_t {
        return std::hash<std::uint64_t>{}(c.value());
    }
};

template <class Tag>
struct fmt::formatter<eventcore::detail::Counter<Tag>> : fmt::formatter<std::uint64_t> {
    template <class FormatContext>
    auto format(eventcore::detail::Counter<Tag> c, FormatContext& ctx) const {
        return fmt::formatter<std::uint64_t>::format(c.value(), ctx);
    }
};

/// Formats as `any`, `no stream`, `stream exists` or `exactly 7`.
template <>
struct fmt::formatter<eventcore::ExpectedVersion> : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(eventcore::ExpectedVersion e, FormatContext& ctx) const {
        using Kind = eventcore::ExpectedVersion::Kind;
        switch (e.kind()) {
        case Kind::any: return fmt::formatter<std::string_view>::format("any", ctx);
        case Kind::no_stream: return fmt::formatter<std::string_view>::format("no stream", ctx);
        case Kind::stream_exists: return fmt::formatter<std::string_view>::format("stream exists", ctx);
        case Kind::exact: break;
        }
        // Not `format_to`, which would compile fmt's whole formatting engine into every file
        // that formats a conflict, used or not.
        return fmt::formatter<std::string_view>::format("exactly " + std::to_string(e.version().value()), ctx);
    }
};
