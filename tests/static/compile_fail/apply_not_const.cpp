// An apply that is not const.
// expect: eventcore: the command's apply must be a const member function
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
    void apply(State&, const eventcore::RecordedEvent<Event>&) {}
    void handle(const State&, eventcore::Context<Note>&) const {}
#endif
};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Noted>>& executor) {
    (void)executor.execute(Note{eventcore::StreamId::from_static("n")});
}
