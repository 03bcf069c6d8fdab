// The same field declared twice.
// expect: eventcore_command_declares_the_same_stream_field_twice
// clang-errors: 2 (clang also names the call that is not a constant expression)
#include <eventcore/eventcore.hpp>

struct Pair {
    eventcore::StreamId a;
    eventcore::StreamId b;
#ifdef EVENTCORE_COMPILE_FAIL
    static constexpr auto streams = eventcore::streams(&Pair::a, &Pair::b, &Pair::a);
#else
    static constexpr auto streams = eventcore::streams(&Pair::a, &Pair::b);
#endif
};
