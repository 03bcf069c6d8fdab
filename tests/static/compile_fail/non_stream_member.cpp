// A stream declaration that points to a field that is not a StreamId.
// expect: eventcore: command streams must be pointers to StreamId members
#include <eventcore/eventcore.hpp>

#include <cstdint>

struct Deposit {
    eventcore::StreamId account;
    std::int64_t amount;
#ifdef EVENTCORE_COMPILE_FAIL
    static constexpr auto streams = eventcore::streams(&Deposit::account, &Deposit::amount);
#else
    static constexpr auto streams = eventcore::streams(&Deposit::account);
#endif
};
