// A handle that takes the state to change it.
// expect: eventcore: the command's handle must take the state as `const State&`
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
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
    void handle(State&, eventcore::Context<Note>&) const {}
#endif
};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Noted>>& executor) {
    (void)executor.execute(Note{eventcore::StreamId::from_static("n")});
}
