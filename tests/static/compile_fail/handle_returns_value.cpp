// A handle that returns something other than void or CommandResult.
// expect: eventcore: the command's handle returns something other than void or eventcore::CommandResult
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
    int handle(const State&, eventcore::Context<Note>&) const { return 0; }
#endif
};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Noted>>& executor) {
    (void)executor.execute(Note{eventcore::StreamId::from_static("n")});
}
