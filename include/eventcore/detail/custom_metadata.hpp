#pragma once
// The `custom` metadata of stored events: key/value pairs as a JSON array of two-string arrays,
// `[["user","ada"],["ip","10.0.0.1"]]`, readable with the database's own JSON functions.

#include <eventcore/error.hpp>

#include <boost/json.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventcore::detail {

using CustomMetadata = std::vector<std::pair<std::string, std::string>>;

/// Empty for no pairs (stored as NULL).
[[nodiscard]] inline auto encode_custom(const CustomMetadata& custom) -> std::string {
    if (custom.empty()) return {};
    boost::json::array pairs;
    pairs.reserve(custom.size());
    for (const auto& [key, value] : custom) pairs.push_back(boost::json::array{key, value});
    return boost::json::serialize(pairs);
}

/// Replaces `out` with the pairs in `text`; a `deserialization` error if it is not that shape.
[[nodiscard]] inline auto decode_custom(std::string_view text, CustomMetadata& out) -> Result<void> {
    out.clear();
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(text, ec);
    const auto bad = [&] {
        return fail(ErrorKind::deserialization, "custom metadata is not a JSON array of [key, value] strings: {}",
                    quote_for_message(text));
    };
    if (ec || !parsed.is_array()) return bad();
    for (const auto& item : parsed.get_array()) {
        const auto* pair = item.if_array();
        if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_string()) return bad();
        out.emplace_back(std::string((*pair)[0].get_string()), std::string((*pair)[1].get_string()));
    }
    return {};
}

} // namespace eventcore::detail
