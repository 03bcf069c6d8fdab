#include <eventcore/stream_id.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <unordered_set>

using eventcore::ErrorKind;
using eventcore::StreamId;
using eventcore::StreamIdRule;

namespace {
auto rule_of(std::string_view text) -> StreamIdRule { return eventcore::check_stream_id(text).rule; }
} // namespace

TEST_CASE("valid stream ids parse and keep their text", "[stream_id]") {
    for (std::string_view text : {"a", "account-1", "order/2024/17", "produit-\xc3\xa9t\xc3\xa9", "a b",
                                  "\xf0\x9f\x93\xa6-box"}) {
        auto id = StreamId::parse(text);
        REQUIRE(id);
        CHECK(id->view() == text);
    }
    CHECK(StreamId::parse(std::string(255, 'x')));
}

TEST_CASE("each stream id rule is enforced and named", "[stream_id]") {
    CHECK(rule_of("") == StreamIdRule::empty);
    CHECK(rule_of(std::string(256, 'x')) == StreamIdRule::too_long);
    CHECK(rule_of("bad\xff") == StreamIdRule::invalid_utf8);
    CHECK(rule_of("\xc0\xaf") == StreamIdRule::invalid_utf8);         // overlong '/'
    CHECK(rule_of("\xed\xa0\x80") == StreamIdRule::invalid_utf8);     // surrogate
    CHECK(rule_of("\xf4\x90\x80\x80") == StreamIdRule::invalid_utf8); // above U+10FFFF
    CHECK(rule_of("\xe2\x82") == StreamIdRule::invalid_utf8);         // truncated
    CHECK(rule_of(std::string_view("a\0b", 3)) == StreamIdRule::control_character);
    CHECK(rule_of("tab\there") == StreamIdRule::control_character);
    CHECK(rule_of("del\x7f") == StreamIdRule::control_character);
    CHECK(rule_of("c1\xc2\x85") == StreamIdRule::control_character);
    CHECK(rule_of(" lead") == StreamIdRule::surrounding_whitespace);
    CHECK(rule_of("trail ") == StreamIdRule::surrounding_whitespace);
    CHECK(rule_of("\xe3\x80\x80ideographic") == StreamIdRule::surrounding_whitespace); // U+3000
    CHECK(rule_of("nbsp\xc2\xa0") == StreamIdRule::surrounding_whitespace);            // U+00A0
    for (std::string_view reserved : {"a*", "a?", "[a", "a]"}) CHECK(rule_of(reserved) == StreamIdRule::reserved_character);

    auto error = StreamId::parse("orders-*");
    REQUIRE_FALSE(error);
    CHECK(error.error().kind() == ErrorKind::validation);
    CHECK_THAT(error.error().message(), Catch::Contains("\"orders-*\"") && Catch::Contains("'*'") &&
                                            Catch::Contains("byte 7"));

    auto control = StreamId::parse(std::string_view("x\x01y", 3));
    REQUIRE_FALSE(control);
    CHECK_THAT(control.error().message(), Catch::Contains("\\x01") && Catch::Contains("control"));
}

TEST_CASE("the throwing constructor carries the same error", "[stream_id]") {
    CHECK_NOTHROW(StreamId("fine"));
    try {
        StreamId bad("  ");
        FAIL("expected an exception");
    } catch (const eventcore::Exception& e) {
        CHECK(e.error().kind() == ErrorKind::validation);
        CHECK_THAT(std::string(e.what()), Catch::StartsWith("validation: invalid stream id"));
    }
}

TEST_CASE("literals are validated at compile time", "[stream_id]") {
    const auto id = StreamId::from_static("account-1");
    CHECK(id.view() == "account-1");
}

TEST_CASE("stream ids hash, order and format", "[stream_id]") {
    const auto a = StreamId::from_static("a");
    const auto b = StreamId::from_static("b");
    CHECK(a < b);
    CHECK(a == StreamId::from_static("a"));
    CHECK(a == std::string_view("a"));
    std::unordered_set<StreamId> set{a, b, StreamId::from_static("a")};
    CHECK(set.size() == 2);
    std::set<StreamId> ordered{b, a};
    CHECK(ordered.begin()->view() == "a");
    CHECK(fmt::format("[{}]", a) == "[a]");
    CHECK(fmt::format("{:>3}", a) == "  a");
    CHECK(StreamId{}.empty());
}

TEST_CASE("a stream id's hash is its text's, however the id was made, copied or moved", "[stream_id]") {
    const std::string text = "account-0123456789-abcdef";
    const auto expected = StreamId::hash_of(text);
    CHECK(expected == eventcore::StreamIdHash{}(std::string_view{text}));
    CHECK(StreamId::parse(text)->hash() == expected);
    CHECK(StreamId{text}.hash() == expected);
    CHECK(StreamId::from_static("account-0123456789-abcdef").hash() == expected);
    auto original = StreamId::parse(text).value();
    const StreamId copy = original;
    CHECK(copy.hash() == expected);
    StreamId moved = std::move(original);
    CHECK(moved.hash() == expected);
    // A moved-from id is the empty id, hash and all, so it cannot be found under its old text.
    CHECK(original.empty()); // NOLINT(bugprone-use-after-move): the moved-from state is specified
    CHECK(original == StreamId{});
    CHECK(original.hash() == StreamId{}.hash());
    StreamId assigned;
    assigned = std::move(moved);
    CHECK(assigned.hash() == expected);
    CHECK(moved == StreamId{}); // NOLINT(bugprone-use-after-move)
    // Equal text, equal ids; different text, different ids, even where the hashes could meet.
    CHECK(assigned == copy);
    CHECK_FALSE(assigned == StreamId::from_static("account-0123456789-abcdeg"));
    std::unordered_set<StreamId, eventcore::StreamIdHash, eventcore::StreamIdEqual> set{copy};
    CHECK(set.contains(std::string_view{text}));
    CHECK(set.contains(assigned));
}
