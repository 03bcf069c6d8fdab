#include "custom_metadata.hpp"

#include <boost/json.hpp>

namespace eventcore::sqlite::detail {

auto encode_custom(const Custom& custom) -> std::string {
    if (custom.empty()) return {};
    boost::json::array pairs;
    pairs.reserve(custom.size());
    for (const auto& [key, value] : custom) pairs.push_back(boost::json::array{key, value});
    return boost::json::serialize(pairs);
}

auto decode_custom(std::string_view text, Custom& out) -> Result<void> {
    out.clear();
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(text, ec);
    const auto bad = [&] {
        return fail(ErrorKind::deserialization, "custom metadata is not a JSON array of [key, value] strings: {}",
                    eventcore::detail::quote_for_message(text));
    };
    if (ec || !parsed.is_array()) return bad();
    for (const auto& item : parsed.get_array()) {
        const auto* pair = item.if_array();
        if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_string()) return bad();
        out.emplace_back(std::string((*pair)[0].get_string()), std::string((*pair)[1].get_string()));
    }
    return {};
}

} // namespace eventcore::sqlite::detail
