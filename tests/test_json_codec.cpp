#include <eventcore/json_codec.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace shop {

enum class Channel { web, store };
BOOST_DESCRIBE_ENUM(Channel, web, store)

struct Line {
    std::string sku;
    int quantity;
    friend auto operator==(const Line&, const Line&) -> bool = default;
};
EVENTCORE_EVENT(Line, sku, quantity)

struct OrderPlaced {
    std::string order;
    std::vector<Line> lines;
    std::optional<std::string> coupon;
    std::map<std::string, std::int64_t> totals;
    Channel channel;
    std::int64_t big;
    friend auto operator==(const OrderPlaced&, const OrderPlaced&) -> bool = default;
};
EVENTCORE_EVENT(OrderPlaced, order, lines, coupon, totals, channel, big)

struct OrderShipped {
    static constexpr std::string_view event_type_name = "shop.order-shipped";
    std::string order;
    friend auto operator==(const OrderShipped&, const OrderShipped&) -> bool = default;
};
EVENTCORE_EVENT(OrderShipped, order)

struct Nothing {
    friend auto operator==(const Nothing&, const Nothing&) -> bool = default;
};
EVENTCORE_EVENT(Nothing)

using ShopEvent = std::variant<OrderPlaced, OrderShipped, Nothing>;

} // namespace shop

using eventcore::ErrorKind;
using eventcore::JsonCodec;
using shop::ShopEvent;

static_assert(eventcore::Codec<JsonCodec<ShopEvent>, ShopEvent>);
static_assert(eventcore::Codec<JsonCodec<shop::OrderShipped>, shop::OrderShipped>);

namespace {
auto placed() -> shop::OrderPlaced {
    return {"o-1",
            {{"apple", 2}, {"pear", 1}},
            std::string("SPRING"),
            {{"net", 1200}, {"tax", 240}},
            shop::Channel::store,
            std::numeric_limits<std::int64_t>::min()};
}
auto decode(std::string_view type, std::string_view payload) {
    return JsonCodec<ShopEvent>{}.decode(type, payload);
}
} // namespace

TEST_CASE("every alternative round-trips under its type name", "[codec]") {
    const JsonCodec<ShopEvent> codec;
    for (const ShopEvent& e : {ShopEvent{placed()}, ShopEvent{shop::OrderShipped{"o-1"}}, ShopEvent{shop::Nothing{}}}) {
        const auto encoded = codec.encode(e);
        REQUIRE(encoded);
        const auto decoded = codec.decode(encoded->type, encoded->payload);
        REQUIRE(decoded);
        CHECK(*decoded == e);
    }
    CHECK(codec.encode(ShopEvent{placed()})->type == "OrderPlaced");
    CHECK(codec.encode(ShopEvent{shop::OrderShipped{"x"}})->type == "shop.order-shipped");
    CHECK(codec.encode(ShopEvent{shop::OrderShipped{"x"}})->payload == R"({"order":"x"})");
    CHECK(codec.encode(ShopEvent{shop::Nothing{}})->payload == "{}");
}

TEST_CASE("decoding names the type and the field that do not fit", "[codec]") {
    auto unknown = decode("OrderCancelled", "{}");
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().kind() == ErrorKind::deserialization);
    CHECK_THAT(unknown.error().message(), Catch::Contains("unknown event type 'OrderCancelled'") &&
                                              Catch::Contains("OrderPlaced, shop.order-shipped, Nothing"));

    auto not_json = decode("OrderPlaced", "{\"order\": ");
    REQUIRE_FALSE(not_json);
    CHECK_THAT(not_json.error().message(), Catch::Contains("'OrderPlaced'") && Catch::Contains("not valid JSON"));

    auto wrong_type = decode("OrderPlaced", R"({"order":"o","lines":[{"sku":"a","quantity":"two"}],"coupon":null,
                                              "totals":{},"channel":"web","big":1})");
    REQUIRE_FALSE(wrong_type);
    CHECK_THAT(wrong_type.error().message(), Catch::Contains("lines[0].quantity"));

    auto missing = decode("OrderPlaced", R"({"order":"o","lines":[],"totals":{},"channel":"web"})");
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message(), Catch::Contains("big: missing"));

    auto bad_enum = decode("OrderPlaced", R"({"order":"o","lines":[],"totals":{},"channel":"phone","big":1})");
    REQUIRE_FALSE(bad_enum);
    CHECK_THAT(bad_enum.error().message(), Catch::Contains("channel"));

    auto inexact = decode("OrderPlaced", R"({"order":"o","lines":[],"totals":{},"channel":"web","big":1.5})");
    REQUIRE_FALSE(inexact);
    CHECK_THAT(inexact.error().message(), Catch::Contains("big"));

    auto not_object = decode("OrderShipped", "[1]");
    REQUIRE_FALSE(not_object); // the name is shop.order-shipped
    auto array = decode("shop.order-shipped", "[1]");
    REQUIRE_FALSE(array);
    CHECK_THAT(array.error().message(), Catch::Contains("expected an object"));
}

TEST_CASE("old events decode after fields are added as optional or removed", "[codec]") {
    // Written before `coupon` existed, and with a field since removed.
    auto old = decode("OrderPlaced", R"({"order":"o","lines":[],"totals":{},"channel":"web","big":7,"legacy":true})");
    REQUIRE(old);
    const auto& e = std::get<shop::OrderPlaced>(*old);
    CHECK_FALSE(e.coupon.has_value());
    CHECK(e.big == 7);
}

namespace lab {
struct Reading {
    std::string label;
    double value;
    std::vector<double> samples;
    std::map<std::string, std::string> tags;
    friend auto operator==(const Reading&, const Reading&) -> bool = default;
};
EVENTCORE_EVENT(Reading, label, value, samples, tags)
} // namespace lab

TEST_CASE("an event whose JSON could not be read back is refused at encoding, naming the type and field",
          "[codec]") {
    const JsonCodec<lab::Reading> codec;
    const auto refused = [&](lab::Reading r, std::string_view field, std::string_view why) {
        const auto encoded = codec.encode(r);
        REQUIRE_FALSE(encoded);
        CHECK(encoded.error().kind() == ErrorKind::serialization);
        CHECK_THAT(encoded.error().message(),
                   Catch::Contains("event type 'Reading'") && Catch::Contains(std::string(field) + ": ") &&
                       Catch::Contains(std::string(why)));
    };
    refused({"t", std::numeric_limits<double>::quiet_NaN(), {}, {}}, "value", "nan");
    refused({"t", std::numeric_limits<double>::infinity(), {}, {}}, "value", "inf");
    refused({"t", 1, {1, -std::numeric_limits<double>::infinity()}, {}}, "samples[1]", "-inf");
    refused({"caf\xe9", 1, {}, {}}, "label", "not valid UTF-8");             // Latin-1, not UTF-8
    refused({"\xed\xa0\x80", 1, {}, {}}, "label", "not valid UTF-8");        // an encoded surrogate
    refused({"ok", 1, {}, {{"k", "\xc3"}}}, "tags.k", "not valid UTF-8");    // cut short
    refused({"ok", 1, {}, {{"\xff", "v"}}}, "tags", "has a key that is not valid UTF-8");

    // What is valid gets through, NUL and other control characters included (JSON escapes them).
    const lab::Reading fine{std::string("a\0b\x01\xe2\x82\xac", 7), -0.0, {1e308, 5e-324}, {{"\xf0\x9f\x98\x80", ""}}};
    const auto encoded = codec.encode(fine);
    INFO((encoded ? std::string() : encoded.error().message()));
    REQUIRE(encoded);
    const auto decoded = codec.decode(encoded->type, encoded->payload);
    REQUIRE(decoded);
    CHECK(*decoded == fine);
}

TEST_CASE("every double reads back exactly as it was written", "[codec]") {
    // Boost.JSON 1.81's own parser gives a neighbouring double for about a quarter of these.
    const JsonCodec<lab::Reading> codec;
    std::uint64_t state = 0x9E3779B97F4A7C15ULL;
    std::size_t checked = 0;
    for (int i = 0; i < 20000; ++i) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        double d = 0;
        std::memcpy(&d, &state, sizeof d);
        if (!std::isfinite(d)) continue;
        const lab::Reading r{"r", d, {d, -d}, {}};
        const auto encoded = codec.encode(r);
        REQUIRE(encoded);
        const auto decoded = codec.decode(encoded->type, encoded->payload);
        REQUIRE(decoded);
        INFO(encoded->payload);
        REQUIRE(std::memcmp(&decoded->value, &d, sizeof d) == 0);
        REQUIRE(decoded->samples == r.samples);
        ++checked;
    }
    CHECK(checked > 19000);
}

TEST_CASE("a number too large for a double is a decoding error, not an infinity", "[codec]") {
    const JsonCodec<lab::Reading> codec;
    for (const char* payload : {R"({"label":"x","value":1e400,"samples":[],"tags":{}})",
                                R"({"label":"x","value":1,"samples":[-1e999],"tags":{}})"}) {
        const auto decoded = codec.decode("Reading", payload);
        REQUIRE_FALSE(decoded);
        CHECK(decoded.error().kind() == ErrorKind::deserialization);
    }
    const auto tiny = codec.decode("Reading", R"({"label":"x","value":1e-400,"samples":[],"tags":{}})");
    REQUIRE(tiny);
    CHECK(tiny->value == 0.0);
}

namespace box {
struct SeatHeld {
    std::string show;
    int seat;
    std::string display_cache; // derived, not stored
    friend auto operator==(const SeatHeld&, const SeatHeld&) -> bool = default;
};
EVENTCORE_EVENT_TRANSIENT(SeatHeld, (display_cache), show, seat)
} // namespace box

TEST_CASE("transient fields are not stored, and read back default-initialized", "[codec]") {
    const JsonCodec<box::SeatHeld> codec;
    const auto encoded = codec.encode(box::SeatHeld{"hamlet", 12, "Hamlet, seat 12"});
    REQUIRE(encoded);
    CHECK(encoded->payload == R"({"show":"hamlet","seat":12})");
    const auto decoded = codec.decode(encoded->type, encoded->payload);
    REQUIRE(decoded);
    CHECK(*decoded == box::SeatHeld{"hamlet", 12, ""});
}

namespace tree {
struct Node {
    std::string name;
    std::vector<Node> children;
    friend auto operator==(const Node&, const Node&) -> bool = default;
};
EVENTCORE_EVENT(Node, name, children)

auto chain(std::size_t depth) -> Node {
    Node root{"leaf", {}};
    for (std::size_t i = 0; i < depth; ++i) root = Node{"n", {std::move(root)}};
    return root;
}
} // namespace tree

TEST_CASE("deep events read back up to the codec's depth, and deeper ones are refused at encoding", "[codec]") {
    const JsonCodec<tree::Node> codec;
    // Each level is an object holding an array: two levels of JSON nesting.
    const auto deep = tree::chain(100);   // deeper than Boost.JSON's default limit of 32
    const auto encoded = codec.encode(deep);
    REQUIRE(encoded);
    const auto decoded = codec.decode(encoded->type, encoded->payload);
    INFO((decoded ? std::string() : decoded.error().message()));
    REQUIRE(decoded);
    CHECK(*decoded == deep);

    // The deepest that is accepted reads back: its innermost (empty) array is at the limit.
    const auto edge = tree::chain(eventcore::detail::json::max_depth / 2 - 1);
    const auto edge_encoded = codec.encode(edge);
    REQUIRE(edge_encoded);
    const auto edge_decoded = codec.decode(edge_encoded->type, edge_encoded->payload);
    INFO((edge_decoded ? std::string() : edge_decoded.error().message()));
    REQUIRE(edge_decoded);
    CHECK(*edge_decoded == edge);
    CHECK_FALSE(codec.encode(tree::chain(eventcore::detail::json::max_depth / 2)));

    const auto too_deep = codec.encode(tree::chain(eventcore::detail::json::max_depth));
    REQUIRE_FALSE(too_deep);
    CHECK(too_deep.error().kind() == ErrorKind::serialization);
    CHECK_THAT(too_deep.error().message(), Catch::Contains("deeper than"));
}
