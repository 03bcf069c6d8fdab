// otherwise(...) before another handler.
// expect: eventcore: match: eventcore::otherwise(...) must be the last argument
#include <eventcore/match.hpp>

#include <cstdint>

struct Deposited { std::int64_t amount; };
struct Withdrawn { std::int64_t amount; };
using BankEvent = std::variant<Deposited, Withdrawn>;

auto delta(const BankEvent& e) -> std::int64_t {
#ifdef EVENTCORE_COMPILE_FAIL
    return eventcore::match(e, eventcore::otherwise([] { return std::int64_t{0}; }),
                            [](const Deposited& d) { return d.amount; });
#else
    return eventcore::match(e, [](const Deposited& d) { return d.amount; },
                            eventcore::otherwise([] { return std::int64_t{0}; }));
#endif
}
