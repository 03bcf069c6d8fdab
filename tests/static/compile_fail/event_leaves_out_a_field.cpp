// A field left out of EVENTCORE_EVENT would never be stored: it does not compile, unless the
// field is named transient.
// expect: eventcore: EVENTCORE_EVENT(SeatReserved, ...) does not name every field of SeatReserved
#include <eventcore/json_codec.hpp>

#include <string>

struct SeatReserved {
    std::string show;
    int seat;
    std::string customer;
};
#ifdef EVENTCORE_COMPILE_FAIL
EVENTCORE_EVENT(SeatReserved, show, seat)
#else
EVENTCORE_EVENT(SeatReserved, show, seat, customer)
#endif

struct SeatHeld {
    std::string show;
    int seat;
    std::string display_cache; // derived from the others, not stored
};
EVENTCORE_EVENT_TRANSIENT(SeatHeld, (display_cache), show, seat)

struct Empty {};
EVENTCORE_EVENT(Empty)

// Types with constructors are not aggregates, and are not counted.
class Built {
public:
    explicit Built(int v = 0) : value(v), cache(v) {}
    int value;
    int cache;
};
EVENTCORE_EVENT(Built, value)
