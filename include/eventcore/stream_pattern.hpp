#pragma once
/// \file
/// `StreamPattern`: glob patterns over stream ids, for subscriptions and log reads.

#include <eventcore/detail/utf8.hpp>
#include <eventcore/error.hpp>

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

namespace eventcore {

/// A glob pattern matched against whole stream ids: `*` matches any run of characters (none
/// included), `?` exactly one character, `[abc]` one of a set, `[a-z]` one of a range, and
/// `[!abc]` or `[^abc]` one character not in the set. These characters cannot occur in stream
/// ids, so a pattern never has to escape them; every other character matches itself.
///
/// \code
/// auto orders = eventcore::StreamPattern::parse("order-*").value();
/// assert(orders.matches("order-17") && !orders.matches("orders"));
/// auto sharded = eventcore::StreamPattern::parse("account-[0-4]?").value();
/// \endcode
class StreamPattern {
public:
    /// Checks the syntax: every `[` is closed, no class is empty, ranges go upwards, and the
    /// text is valid UTF-8.
    [[nodiscard]] static auto parse(std::string_view text) -> Result<StreamPattern>;

    [[nodiscard]] auto text() const noexcept -> const std::string& { return text_; }

    /// Whether the whole of `stream` matches.
    [[nodiscard]] auto matches(std::string_view stream) const -> bool { return match(stream); }

    /// The same pattern for SQLite's GLOB operator.
    [[nodiscard]] auto to_sqlite_glob() const -> std::string;

    /// The same pattern as an anchored POSIX regular expression, for PostgreSQL's `~`.
    [[nodiscard]] auto to_regex() const -> std::string;

private:
    struct Token {
        enum class Kind : unsigned char { literal, star, any, set };
        Kind kind;
        std::vector<std::pair<char32_t, char32_t>> ranges;
        bool negated = false;
        std::string literal{};
    };

    /// Glob matching in O(pattern x stream) time: when a token fails, only the last `*` seen
    /// takes one more character, since whatever an earlier `*` could take, the last one can too.
    /// (Trying every split at every `*` recursively took exponential time on `*a*a*a*...b`.)
    auto match(std::string_view s) const -> bool;

    /// The bytes `t` (not a `*`) matches at `s[i]`, or 0 if it does not match there.
    static auto match_one(const Token& t, std::string_view s, std::size_t i) -> std::size_t;

    static auto next_length(std::string_view s, std::size_t i) -> std::size_t;

    static auto utf8(char32_t cp) -> std::string;

    static auto escape_in_brackets(char32_t cp) -> std::string;

    static auto set_text(const Token& t, char negation) -> std::string;

    std::string text_;
    std::vector<Token> tokens_;
};

} // namespace eventcore
