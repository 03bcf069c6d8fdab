// A base class's fields would not be stored by EVENTCORE_EVENT: it does not compile.
// expect: eventcore: EVENTCORE_EVENT(Refunded, ...) does not name every field of Refunded
#include <eventcore/json_codec.hpp>

#include <cstdint>
#include <string>

struct Payment {
    std::string order;
};
EVENTCORE_EVENT(Payment, order)

#ifdef EVENTCORE_COMPILE_FAIL
struct Refunded : Payment {
    std::int64_t cents;
};
#else
struct Refunded {
    std::int64_t cents;
};
#endif
EVENTCORE_EVENT(Refunded, cents)
