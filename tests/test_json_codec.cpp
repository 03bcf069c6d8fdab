#include <eventcore/json_codec.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
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
