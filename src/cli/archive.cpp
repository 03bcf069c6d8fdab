#include "archive.hpp"

#include "output.hpp"

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

auto parse_event_json(std::string_view line) -> Result<ArchivedEvent> {
    const auto parsed = parse_json(line);
    if (!parsed || !parsed->is_object()) return fail(ErrorKind::validation, "not a JSON object");
    const auto& o = parsed->get_object();
    const auto missing = [](std::string_view field, std::string_view what) {
        return fail(ErrorKind::validation, "field \"{}\" is missing or not {}", field, what);
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
    if (*position == 0) return missing("position", "a positive integer");
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
    if (!id) return fail(std::move(id).error());
    e.stream = std::move(*id);
    auto version = number("version");
    if (!version) return fail(std::move(version).error());
    if (*version == 0) return missing("version", "a positive integer");
    e.version = StreamVersion{*version};
    auto type = text("type");
    if (!type) return fail(std::move(type).error());
    if (type->empty()) return missing("type", "a non-empty string");
    e.type = std::move(*type);
    auto event_id = uuid("event_id");
    if (!event_id) return fail(std::move(event_id).error());
    e.metadata.event_id = *event_id;
    auto recorded = text("recorded_at");
    if (!recorded) return fail(std::move(recorded).error());
    auto at = parse_iso8601(*recorded);
    if (!at) return fail(std::move(at).error());
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
        if (pairs == nullptr) return missing("metadata", "an array of [key, value] strings");
        for (const auto& item : *pairs) {
            const auto* pair = item.if_array();
            if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_string())
                return missing("metadata", "an array of [key, value] strings");
            e.metadata.custom.emplace_back(std::string((*pair)[0].get_string()), std::string((*pair)[1].get_string()));
        }
    }
    if (const auto* payload = o.if_contains("payload")) {
        const auto verbatim = verbatim_payload(line, *payload);
        e.payload = verbatim ? std::string(*verbatim) : boost::json::serialize(*payload);
    } else if (const auto* raw = o.if_contains("payload_base64"); raw != nullptr && raw->is_string()) {
        auto bytes = base64_decode(raw->get_string());
        if (!bytes) return missing("payload_base64", "base64");
        e.payload = std::move(*bytes);
    } else {
        return missing("payload", "present (or \"payload_base64\")");
    }
    return e;
}

} // namespace eventcore::cli
