// Two handlers that fit one event type equally well: named, not reported as missing, and not
// handed to otherwise(...) in silence.
// expect: eventcore: match: more than one handler fits one of the event types equally well
// expect: match_has_ambiguous_handlers_for<Deposited>
#include <eventcore/match.hpp>

#include <cstdint>

struct Deposited { std::int64_t amount; };
struct Withdrawn { std::int64_t amount; };
using BankEvent = std::variant<Deposited, Withdrawn>;

auto delta(const BankEvent& e) -> std::int64_t {
    return eventcore::match(e, [](const Deposited& d) { return d.amount; },
#ifdef EVENTCORE_COMPILE_FAIL
                            [](Deposited d) { return d.amount * 2; },
#endif
                            eventcore::otherwise([] { return std::int64_t{0}; }));
}
