// Handlers that return different types.
// expect: eventcore: match: the handlers return different types
// expect: match_handlers_return_different_types<Withdrawn>
#include <eventcore/match.hpp>

#include <cstdint>

struct Deposited { std::int64_t amount; };
struct Withdrawn { std::int64_t amount; };
using BankEvent = std::variant<Deposited, Withdrawn>;

auto delta(const BankEvent& e) -> std::int64_t {
    return eventcore::match(e, [](const Deposited& d) { return d.amount; },
#ifdef EVENTCORE_COMPILE_FAIL
                            [](const Withdrawn& w) { return -static_cast<int>(w.amount); });
#else
                            [](const Withdrawn& w) { return -w.amount; });
#endif
}
