// A scenario sends registered events through the JSON codec, so an event variant with an
// alternative that was never registered fails to compile in its unit tests, not in production.
// expect: eventcore: JsonCodec needs each event type described
#include <eventcore/testing/scenario.hpp>

#include <string>
#include <variant>

struct Registered {
    std::string text;
    friend auto operator==(const Registered&, const Registered&) -> bool = default;
};
EVENTCORE_EVENT(Registered, text)

struct Forgotten {
    int value;
    friend auto operator==(const Forgotten&, const Forgotten&) -> bool = default;
};
#ifndef EVENTCORE_COMPILE_FAIL
EVENTCORE_EVENT(Forgotten, value)
#endif

using Event = std::variant<Registered, Forgotten>;

[[maybe_unused]] const eventcore::testing::Scenario<Event> scenario{};
