// The command of the signature tests: `Note`, right as it stands, and with EVENTCORE_COMPILE_FAIL
// defined, with the members the including test defines as NOTE_WRONG_MEMBERS.
#pragma once
#include <eventcore/eventcore.hpp>

struct Noted {};

struct Note {
    eventcore::StreamId stream;
    using Event = Noted;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Note::stream);
#ifndef EVENTCORE_COMPILE_FAIL
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
    void handle(const State&, eventcore::Context<Note>&) const {}
#else
    NOTE_WRONG_MEMBERS
#endif
};

inline void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Noted>>& executor) {
    (void)executor.execute(Note{eventcore::StreamId::from_static("n")});
}
