// EVENTCORE_EVENT used with the umbrella header alone says where it is defined, at the line that
// uses it.
// expect: eventcore: EVENTCORE_EVENT is defined in <eventcore/json_codec.hpp>
#include <eventcore/eventcore.hpp>
#ifndef EVENTCORE_COMPILE_FAIL
#include <eventcore/json_codec.hpp>
#endif

#include <string>

struct SeatReserved {
    std::string show;
    int seat;
};
EVENTCORE_EVENT(SeatReserved, show, seat)
