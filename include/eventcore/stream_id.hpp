#pragma once
/// \file
/// `StreamId`: the validated name of an event stream.

#include <eventcore/detail/utf8.hpp>
#include <eventcore/result.hpp>

#include <fmt/format.h>

#include <compare>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace eventcore {


/// The rule a candidate stream id breaks, or `ok`.
enum class StreamIdRule : unsigned char {
    ok,
    empty,                  ///< zero bytes
    too_long,               ///< more than `StreamId::max_size` bytes
    invalid_utf8,           ///< not well-formed UTF-8
    control_character,      ///< C0, DEL or C1 control character
    surrounding_whitespace, ///< starts or ends with a white-space character
    reserved_character,     ///< one of `* ? [ ]`, kept for stream patterns
};

/// What went wrong with a candidate stream id: the rule and the byte offset where it broke.
struct StreamIdViolation {
    StreamIdRule rule = StreamIdRule::ok;
    std::size_t offset = 0;

    [[nodiscard]] constexpr explicit operator bool() const noexcept { return rule != StreamIdRule::ok; }
};

/// A short description of a rule, for messages: `"must not contain control characters"`.
[[nodiscard]] constexpr auto describe(StreamIdRule rule) noexcept -> std::string_view {
    switch (rule) {
    case StreamIdRule::ok: return "is valid";
    case StreamIdRule::empty: return "must not be empty";
    case StreamIdRule::too_long: return "must be at most 255 bytes long";
    case StreamIdRule::invalid_utf8: return "must be valid UTF-8";
    case StreamIdRule::control_character: return "must not contain control characters";
    case StreamIdRule::surrounding_whitespace: return "must not start or end with white space";
    case StreamIdRule::reserved_character: return "must not contain '*', '?', '[' or ']' (reserved for patterns)";
    }
    return "is invalid";
}

/// Checks `text` against every stream id rule and reports the first one broken.
///
/// \code
/// static_assert(!eventcore::check_stream_id("account-1"));
/// static_assert(eventcore::check_stream_id("a*").rule == eventcore::StreamIdRule::reserved_character);
/// \endcode
[[nodiscard]] constexpr auto check_stream_id(std::string_view text) noexcept -> StreamIdViolation {
    constexpr std::size_t max_size = 255;
    if (text.empty()) return {StreamIdRule::empty, 0};
    if (text.size() > max_size) return {StreamIdRule::too_long, max_size};
    std::size_t offset = 0;
    char32_t first = 0;
    char32_t last = 0;
    while (offset < text.size()) {
        const auto decoded = detail::decode_utf8(text, offset);
        if (!decoded.valid) return {StreamIdRule::invalid_utf8, offset};
        const char32_t cp = decoded.code_point;
        if (detail::is_control(cp)) return {StreamIdRule::control_character, offset};
        if (cp == U'*' || cp == U'?' || cp == U'[' || cp == U']') return {StreamIdRule::reserved_character, offset};
        if (offset == 0) first = cp;
        last = cp;
        offset += decoded.length;
    }
    if (detail::is_white_space(first)) return {StreamIdRule::surrounding_whitespace, 0};
    if (detail::is_white_space(last)) return {StreamIdRule::surrounding_whitespace, text.size() - 1};
    return {};
}

namespace detail {
// Deliberately not constexpr: reaching one of these during constant evaluation makes
// the compiler name the broken rule in its diagnostic.
void stream_id_literal_is_empty();
void stream_id_literal_is_longer_than_255_bytes();
void stream_id_literal_is_not_valid_utf8();
void stream_id_literal_has_a_control_character();
void stream_id_literal_starts_or_ends_with_white_space();
void stream_id_literal_has_a_reserved_character_of_star_question_or_brackets();

/// A string literal checked against the stream id rules at compile time.
struct StreamIdLiteral {
    std::string_view text;

    template <std::size_t N>
    consteval StreamIdLiteral(const char (&literal)[N]) : text(literal, N - 1) { // NOLINT: implicit by design
        switch (check_stream_id(text).rule) {
        case StreamIdRule::ok: break;
        case StreamIdRule::empty: stream_id_literal_is_empty(); break;
        case StreamIdRule::too_long: stream_id_literal_is_longer_than_255_bytes(); break;
        case StreamIdRule::invalid_utf8: stream_id_literal_is_not_valid_utf8(); break;
        case StreamIdRule::control_character: stream_id_literal_has_a_control_character(); break;
        case StreamIdRule::surrounding_whitespace: stream_id_literal_starts_or_ends_with_white_space(); break;
        case StreamIdRule::reserved_character:
            stream_id_literal_has_a_reserved_character_of_star_question_or_brackets();
            break;
        }
    }
};
} // namespace detail

/// The name of an event stream: 1 to 255 bytes of valid UTF-8, without control characters,
/// without white space at either end, and without `* ? [ ]` (reserved for stream patterns).
///
/// Every `StreamId` that is not default-constructed or moved-from is valid.
///
/// \code
/// auto a = eventcore::StreamId::from_static("account-1");        // checked at compile time
/// auto b = eventcore::StreamId::parse(fmt::format("order-{}", n)); // Result<StreamId>
/// if (!b) fmt::print("{}\n", b.error().message());
/// \endcode
class StreamId {
public:
    static constexpr std::size_t max_size = 255;

    /// An empty id: a placeholder only, rejected wherever a stream is needed.
    StreamId() = default;
    StreamId(const StreamId&) = default;
    auto operator=(const StreamId&) -> StreamId& = default;
    /// A moved-from id is empty.
    StreamId(StreamId&& other) noexcept
        : value_(std::move(other.value_)), hash_(std::exchange(other.hash_, 0)) {
        other.value_.clear();
    }
    auto operator=(StreamId&& other) noexcept -> StreamId& {
        if (this == &other) return *this;
        value_ = std::move(other.value_);
        hash_ = std::exchange(other.hash_, 0);
        other.value_.clear();
        return *this;
    }
    ~StreamId() = default;

    /// Validates `text`; throws `eventcore::Exception` (kind `validation`) naming the broken rule.
    /// Prefer `parse` outside command handlers, where the executor turns the exception into an error.
    explicit StreamId(std::string_view text);

    /// Validates `text` and returns the id, or a `validation` error naming the broken rule.
    [[nodiscard]] static auto parse(std::string_view text) -> Result<StreamId>;

    /// An id from a string literal, validated at compile time.
    [[nodiscard]] static auto from_static(detail::StreamIdLiteral literal) -> StreamId {
        return StreamId(trusted, literal.text);
    }

    [[nodiscard]] auto view() const noexcept -> std::string_view { return value_; }
    [[nodiscard]] auto str() const noexcept -> const std::string& { return value_; }
    [[nodiscard]] auto size() const noexcept -> std::size_t { return value_.size(); }
    [[nodiscard]] auto empty() const noexcept -> bool { return value_.empty(); }
    [[nodiscard]] auto starts_with(std::string_view prefix) const noexcept -> bool {
        return value_.starts_with(prefix);
    }

    /// The hash of the id's text, computed once when the id is made: a command's streams are
    /// looked up many times on their way to a commit, and ids often share long prefixes.
    /// Equal to `hash_of(view())`.
    [[nodiscard]] auto hash() const noexcept -> std::size_t { return hash_; }
    /// The hash of an id's text (0 for the empty text).
    [[nodiscard]] static auto hash_of(std::string_view text) noexcept -> std::size_t {
        return text.empty() ? 0 : std::hash<std::string_view>{}(text);
    }

    friend auto operator==(const StreamId& a, const StreamId& b) noexcept -> bool {
        return a.hash_ == b.hash_ && a.value_ == b.value_;
    }
    friend auto operator<=>(const StreamId& a, const StreamId& b) noexcept -> std::strong_ordering {
        return a.value_ <=> b.value_;
    }
    friend auto operator==(const StreamId& a, std::string_view b) noexcept -> bool { return a.value_ == b; }

private:
    struct Trusted {};
    static constexpr Trusted trusted{};
    StreamId(Trusted, std::string_view text) : value_(text), hash_(hash_of(text)) {}

    std::string value_;
    std::size_t hash_ = 0;
};

/// Transparent hash: look up `StreamId` keys by `std::string_view` without a copy.
struct StreamIdHash {
    using is_transparent = void;
    auto operator()(std::string_view s) const noexcept -> std::size_t { return StreamId::hash_of(s); }
    auto operator()(const StreamId& s) const noexcept -> std::size_t { return s.hash(); }
};

/// Transparent equality to go with `StreamIdHash`.
struct StreamIdEqual {
    using is_transparent = void;
    auto operator()(const StreamId& a, const StreamId& b) const noexcept -> bool { return a == b; }
    auto operator()(const StreamId& a, std::string_view b) const noexcept -> bool { return a.view() == b; }
    auto operator()(std::string_view a, const StreamId& b) const noexcept -> bool { return a == b.view(); }
};

} // namespace eventcore

template <>
struct std::hash<eventcore::StreamId> {
    auto operator()(const eventcore::StreamId& s) const noexcept -> std::size_t { return eventcore::StreamIdHash{}(s); }
};

template <>
struct fmt::formatter<eventcore::StreamId> : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(const eventcore::StreamId& id, FormatContext& ctx) const {
        return fmt::formatter<std::string_view>::format(id.view(), ctx);
    }
};

// `parse` and the throwing constructor need the complete `Error`; error.hpp defines them.
#include <eventcore/error.hpp>
