#pragma once
// The parameters of a caller's `SqlSession` statement: `$1`, `$2`, ... on every store, each
// value bound to the parameter of its number. Shared by the SQLite and PostgreSQL sessions, so
// that both accept and refuse the same statements with the same words.

#include <eventcore/error.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <string_view>
#include <vector>

namespace eventcore::detail {

/// How many values, as a message says it: "1 value", "3 values".
inline auto values_given(std::size_t count) -> std::string {
    return fmt::format("{} value{} {} given", count, count == 1 ? "" : "s", count == 1 ? "was" : "were");
}

/// Checks that the parameter numbers a statement uses are exactly 1 to `values`: a value
/// without its `$N`, or a `$N` without its value, would bind something other than meant.
/// `used[n]` tells whether `$n` appears (index 0 unused).
[[nodiscard]] inline auto check_parameter_numbers(std::string_view sql, const std::vector<bool>& used,
                                                  std::size_t values) -> Result<void> {
    for (std::size_t n = values + 1; n < used.size(); ++n) {
        if (used[n])
            return fail(ErrorKind::validation, "`{}` uses ${}, but {} (one per parameter, $1 to ${})", sql, n,
                        values_given(values), values);
    }
    for (std::size_t n = 1; n <= values; ++n) {
        if (n >= used.size() || !used[n])
            return fail(ErrorKind::validation,
                        "`{}` never uses ${}, but {}: each value is bound to the parameter of its number, $1 to ${}",
                        sql, n, values_given(values), values);
    }
    return {};
}

/// The `$N` parameters of PostgreSQL statement text, found as the server's lexer finds them:
/// not inside string literals ('...', E'...'), quoted identifiers, dollar-quoted strings or
/// comments, and not as part of an identifier (`a$1`). `used[n]` is true for each `$n`; a number
/// too large to be one is reported as `too_large`.
struct ParameterScan {
    std::vector<bool> used;
    bool too_large = false;
};

[[nodiscard]] inline auto scan_postgres_parameters(std::string_view sql) -> ParameterScan {
    ParameterScan scan;
    const auto ident = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
               static_cast<unsigned char>(c) >= 0x80;
    };
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    const std::size_t n = sql.size();
    std::size_t i = 0;
    while (i < n) {
        const char c = sql[i];
        const bool after_ident = i > 0 && ident(sql[i - 1]);
        if (c == '\'') {
            // E'...' (or e'...') takes backslash escapes; '...' only doubled quotes.
            const bool escapes = i > 0 && (sql[i - 1] == 'e' || sql[i - 1] == 'E') && (i < 2 || !ident(sql[i - 2]));
            for (++i; i < n; ++i) {
                if (escapes && sql[i] == '\\') {
                    ++i;
                } else if (sql[i] == '\'') {
                    if (i + 1 < n && sql[i + 1] == '\'') {
                        ++i;
                    } else {
                        break;
                    }
                }
            }
            ++i;
        } else if (c == '"') {
            for (++i; i < n; ++i) {
                if (sql[i] == '"') {
                    if (i + 1 < n && sql[i + 1] == '"') {
                        ++i;
                    } else {
                        break;
                    }
                }
            }
            ++i;
        } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
            while (i < n && sql[i] != '\n') ++i;
        } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
            int depth = 0; // block comments nest
            while (i < n) {
                if (sql[i] == '/' && i + 1 < n && sql[i + 1] == '*') {
                    ++depth;
                    i += 2;
                } else if (sql[i] == '*' && i + 1 < n && sql[i + 1] == '/') {
                    i += 2;
                    if (--depth == 0) break;
                } else {
                    ++i;
                }
            }
        } else if (c == '$' && !after_ident && i + 1 < n && digit(sql[i + 1])) {
            std::size_t number = 0;
            for (++i; i < n && digit(sql[i]); ++i) {
                number = number * 10 + static_cast<std::size_t>(sql[i] - '0');
                if (number > 65535) scan.too_large = true; // the protocol's limit
            }
            if (!scan.too_large) {
                if (scan.used.size() <= number) scan.used.resize(number + 1, false);
                scan.used[number] = true;
            }
        } else if (c == '$' && !after_ident) {
            // A dollar quote: $$...$$ or $tag$...$tag$ (a tag does not start with a digit).
            std::size_t end = i + 1;
            while (end < n && sql[end] != '$' && ident(sql[end])) ++end;
            if (end < n && sql[end] == '$') {
                const std::string_view tag = sql.substr(i, end - i + 1);
                const auto close = sql.find(tag, end + 1);
                i = close == std::string_view::npos ? n : close + tag.size();
            } else {
                ++i;
            }
        } else {
            ++i;
        }
    }
    return scan;
}

} // namespace eventcore::detail
