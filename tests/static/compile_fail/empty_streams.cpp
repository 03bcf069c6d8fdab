// `streams()` with nothing in it.
// expect: eventcore: a command must declare at least one stream
#include <eventcore/eventcore.hpp>

struct Ping {
    eventcore::StreamId target;
#ifdef EVENTCORE_COMPILE_FAIL
    static constexpr auto streams = eventcore::streams();
#else
    static constexpr auto streams = eventcore::streams(&Ping::target);
#endif
};
