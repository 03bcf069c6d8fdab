// A handler for an event type the variant does not hold (it was removed, or misspelt).
// expect: eventcore: match: a handler takes none of the event types
// expect: match_handler_takes_no_event_type<1>
#include <eventcore/match.hpp>

#include <cstdint>

struct Deposited { std::int64_t amount; };
struct Withdrawn { std::int64_t amount; };
struct Closed {};
using BankEvent = std::variant<Deposited, Withdrawn>;

auto delta(const BankEvent& e) -> std::int64_t {
    return eventcore::match(e, [](const Deposited& d) { return d.amount; },
#ifdef EVENTCORE_COMPILE_FAIL
                            [](const Closed&) { return std::int64_t{0}; },
#endif
                            [](const Withdrawn& w) { return -w.amount; });
}
