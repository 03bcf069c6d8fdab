// `check_command` in a user's own static_assert gives the executor's message, once.
// expect: eventcore: a command needs `void handle(const State&, eventcore::Context<Command>&) const`
#include <eventcore/eventcore.hpp>

struct Noted {};

struct Note {
    eventcore::StreamId stream;
    using Event = Noted;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Note::stream);
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
#ifndef EVENTCORE_COMPILE_FAIL
    void handle(const State&, eventcore::Context<Note>&) const {}
#endif
};

static_assert(eventcore::check_command<Note>());
