#pragma once
// The `custom` metadata column: key/value pairs as a JSON array of two-string arrays,
// `[["user","ada"],["ip","10.0.0.1"]]`, readable with SQLite's own JSON functions.

#include <eventcore/error.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventcore::sqlite::detail {

using Custom = std::vector<std::pair<std::string, std::string>>;

/// Empty for no pairs (stored as NULL).
[[nodiscard]] auto encode_custom(const Custom& custom) -> std::string;

/// Replaces `out` with the pairs in `text`; a `deserialization` error if it is not that shape.
[[nodiscard]] auto decode_custom(std::string_view text, Custom& out) -> Result<void>;

} // namespace eventcore::sqlite::detail
