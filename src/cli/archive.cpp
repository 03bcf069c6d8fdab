#include "archive.hpp"

#include "output.hpp"

#include <eventcore/detail/utf8.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <array>

namespace eventcore::cli {

namespace {

constexpr std::string_view base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

auto base64_encode(std::string_view in) -> std::string {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const auto n = (static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16) |
                       (static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8) |
                       static_cast<unsigned>(static_cast<unsigned char>(in[i + 2]));
        for (int shift = 18; shift >= 0; shift -= 6) out += base64_alphabet[(n >> shift) & 63];
    }
    if (i < in.size()) {
        auto n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
        if (i + 1 < in.size()) n |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += i + 1 < in.size() ? base64_alphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

auto base64_decode(std::string_view in) -> std::optional<std::string> {
    if (in.size() % 4 != 0) return std::nullopt;
    std::string out;
    unsigned n = 0;
    int bits = 0;
    std::size_t padding = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '=') {
            if (i + 2 < in.size()) return std::nullopt;
            ++padding;
            continue;
        }
        if (padding > 0) return std::nullopt;
        const auto at = base64_alphabet.find(c);
        if (at == std::string_view::npos) return std::nullopt;
        n = (n << 6) | static_cast<unsigned>(at);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((n >> bits) & 0xFF);
        }
    }
    return out;
}

auto parse_json(std::string_view text) -> std::optional<boost::json::value> {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec) return std::nullopt;
    return v;
}

/// The payload's own text in `line`, when `event_json` wrote it there (last, verbatim) and it
/// still says the same as the parsed value: then its bytes survive the round trip exactly. A
/// `"payload":` outside the payload can only be a key (quotes inside strings are escaped).
auto verbatim_payload(std::string_view line, const boost::json::value& payload) -> std::optional<std::string_view> {
    constexpr std::string_view key = "\"payload\":";
    const auto at = line.find(key);
    if (at == std::string_view::npos) return std::nullopt;
    auto rest = line.substr(at + key.size());
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t' || rest.back() == '\r')) rest.remove_suffix(1);
    if (rest.empty() || rest.back() != '}') return std::nullopt;
    rest.remove_suffix(1);
    const auto v = parse_json(rest);
    if (!v || *v != payload) return std::nullopt;
    return rest;
}

/// What a line holds, when it is not a JSON object: said so that the user can find and mend it.
auto diagnose_line(std::string_view line) -> std::string {
    if (line.starts_with("\xEF\xBB\xBF"))
        return "it starts with a UTF-8 byte order mark (bytes EF BB BF), which no export writes; remove it";
    for (std::size_t at = 0; at < line.size();) {
        const auto d = eventcore::detail::decode_utf8(line, at);
        if (!d.valid)
            return fmt::format("invalid UTF-8 at byte {} (0x{:02X}): JSON text is UTF-8", at + 1,
                               static_cast<unsigned char>(line[at]));
        at += d.length;
    }
    boost::json::stream_parser parser;
    boost::system::error_code ec;
    const auto used = parser.write_some(line.data(), line.size(), ec);
    if (!ec && used == line.size() && !parser.done()) parser.finish(ec);
    if (ec == boost::json::error::incomplete || (!ec && !parser.done()))
        return fmt::format("the line ends inside its JSON object, after {} bytes: it is cut short (a truncated file?)",
                           line.size());
    if (ec) return fmt::format("not JSON: {} at byte {}", ec.message(), used + 1);
    if (used < line.size()) return fmt::format("text after the JSON object, at byte {}", used + 1);
    const auto value = parser.release();
    return fmt::format("a JSON {}, not an object", value.is_array() ? "array"
                                                   : value.is_string() ? "string"
                                                   : value.is_null()   ? "null"
                                                   : value.is_bool()   ? "boolean"
                                                                       : "number");
}

/// A field's value, for a message: its type, and the value itself when short.
auto describe_value(const boost::json::value& v) -> std::string {
    switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return v.get_bool() ? "true" : "false";
    case boost::json::kind::string: return fmt::format("the string {}", eventcore::detail::quote_for_message(v.get_string()));
    case boost::json::kind::array: return "an array";
    case boost::json::kind::object: return "an object";
    default: return fmt::format("the number {}", boost::json::serialize(v));
    }
}

} // namespace

auto is_json(std::string_view payload) -> bool { return parse_json(payload).has_value(); }

auto payload_for_display(std::string_view payload) -> std::string {
    auto v = parse_json(payload);
    if (!v) return fmt::format("<{} bytes, not JSON>", payload.size());
    return boost::json::serialize(*v);
}

auto event_json(const StoredEvent& e, std::optional<GlobalPosition> commit_last) -> std::string {
    boost::json::object o;
    o["position"] = e.position.value();
    if (commit_last) o["commit"] = commit_last->value();
    o["stream"] = e.stream;
    o["version"] = e.version.value();
    o["type"] = e.type;
    o["event_id"] = fmt::format("{}", e.metadata.event_id);
    o["recorded_at"] = iso8601(e.metadata.recorded_at);
    o["correlation_id"] = fmt::format("{}", e.metadata.correlation_id);
    o["causation_id"] = fmt::format("{}", e.metadata.causation_id);
    o["command"] = e.metadata.command;
    boost::json::array custom;
    for (const auto& [key, value] : e.metadata.custom) custom.push_back(boost::json::array{key, value});
    o["metadata"] = std::move(custom);
    std::string line = boost::json::serialize(o);
    line.pop_back(); // the closing brace: the payload follows, as it is when we can
    const auto parsed = parse_json(e.payload);
    if (!parsed) {
        line += fmt::format(",\"payload_base64\":\"{}\"}}", base64_encode(e.payload));
    } else if (e.payload.find_first_of("\r\n") == std::string_view::npos) {
        line += ",\"payload\":";
        line += e.payload;
        line += '}';
    } else {
        line += ",\"payload\":" + boost::json::serialize(*parsed) + '}';
    }
    return line;
}

[[nodiscard]] auto parse_event_json(std::string_view line) -> Result<ArchivedEvent> {
    const auto parsed = parse_json(line);
    if (!parsed || !parsed->is_object()) return fail(ErrorKind::validation, "not an exported event: {}", diagnose_line(line));
    const auto& o = parsed->get_object();
    // Says which field, what it should be, and what it is.
    const auto missing = [&](std::string_view field, std::string_view what) {
        const auto* v = o.if_contains(field);
        if (v == nullptr) return fail(ErrorKind::validation, "field \"{}\" is missing ({} belongs there)", field, what);
        return fail(ErrorKind::validation, "field \"{}\" is {}, where {} belongs", field, describe_value(*v), what);
    };
    const auto number = [&](std::string_view field) -> Result<std::uint64_t> {
        const auto* v = o.if_contains(field);
        if (v == nullptr) return missing(field, "a positive integer");
        if (v->is_uint64()) return v->get_uint64();
        if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
        return missing(field, "a positive integer");
    };
    const auto text = [&](std::string_view field) -> Result<std::string> {
        const auto* v = o.if_contains(field);
        if (v == nullptr || !v->is_string()) return missing(field, "a string");
        return std::string(v->get_string());
    };
    const auto uuid = [&](std::string_view field) -> Result<Uuid> {
        auto t = text(field);
        if (!t) return fail(std::move(t).error());
        auto u = Uuid::parse(*t);
        if (!u) return fail(ErrorKind::validation, "field \"{}\": {}", field, u.error().message());
        return u;
    };

    ArchivedEvent e;
    auto position = number("position");
    if (!position) return fail(std::move(position).error());
    if (*position == 0) return fail(ErrorKind::validation, "field \"position\" is 0; positions start at 1");
    e.position = GlobalPosition{*position};
    if (o.contains("commit")) {
        auto commit = number("commit");
        if (!commit) return fail(std::move(commit).error());
        e.commit_last = GlobalPosition{*commit};
    } else {
        e.commit_last = e.position;
    }
    auto stream = text("stream");
    if (!stream) return fail(std::move(stream).error());
    auto id = StreamId::parse(*stream);
    if (!id) return fail(ErrorKind::validation, "field \"stream\": {}", id.error().message());
    e.stream = std::move(*id);
    auto version = number("version");
    if (!version) return fail(std::move(version).error());
    if (*version == 0) return fail(ErrorKind::validation, "field \"version\" is 0; versions start at 1");
    e.version = StreamVersion{*version};
    auto type = text("type");
    if (!type) return fail(std::move(type).error());
    if (type->empty()) return fail(ErrorKind::validation, "field \"type\" is empty");
    e.type = std::move(*type);
    auto event_id = uuid("event_id");
    if (!event_id) return fail(std::move(event_id).error());
    e.metadata.event_id = *event_id;
    auto recorded = text("recorded_at");
    if (!recorded) return fail(std::move(recorded).error());
    auto at = parse_iso8601(*recorded);
    if (!at) return fail(ErrorKind::validation, "field \"recorded_at\": {}", at.error().message());
    e.metadata.recorded_at = *at;
    auto correlation = uuid("correlation_id");
    if (!correlation) return fail(std::move(correlation).error());
    e.metadata.correlation_id = *correlation;
    auto causation = uuid("causation_id");
    if (!causation) return fail(std::move(causation).error());
    e.metadata.causation_id = *causation;
    auto command = text("command");
    if (!command) return fail(std::move(command).error());
    e.metadata.command = std::move(*command);
    if (const auto* custom = o.if_contains("metadata")) {
        const auto* pairs = custom->if_array();
        if (pairs == nullptr) return missing("metadata", "an array of [key, value] string pairs");
        for (std::size_t i = 0; i < pairs->size(); ++i) {
            const auto& item = (*pairs)[i];
            const auto* pair = item.if_array();
            if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_string())
                return fail(ErrorKind::validation, "field \"metadata\": entry {} is {}, where a [key, value] pair of "
                                                   "strings belongs",
                            i + 1, pair == nullptr ? describe_value(item) : boost::json::serialize(item));
            e.metadata.custom.emplace_back(std::string((*pair)[0].get_string()), std::string((*pair)[1].get_string()));
        }
    }
    if (const auto* payload = o.if_contains("payload")) {
        const auto verbatim = verbatim_payload(line, *payload);
        e.payload = verbatim ? std::string(*verbatim) : boost::json::serialize(*payload);
    } else if (const auto* raw = o.if_contains("payload_base64")) {
        if (!raw->is_string()) return missing("payload_base64", "a base64 string");
        auto bytes = base64_decode(raw->get_string());
        if (!bytes) return fail(ErrorKind::validation, "field \"payload_base64\" is not valid base64");
        e.payload = std::move(*bytes);
    } else {
        return fail(ErrorKind::validation, "field \"payload\" is missing (nor is there a \"payload_base64\")");
    }
    return e;
}

} // namespace eventcore::cli
