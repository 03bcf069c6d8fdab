// A command that does not declare its streams is refused by the executor.
// expect: eventcore: a command must declare its streams
#include <eventcore/eventcore.hpp>

struct Noted {};

struct Note {
    eventcore::StreamId stream;
    using Event = Noted;
    using State = int;
#ifndef EVENTCORE_COMPILE_FAIL
    static constexpr auto streams = eventcore::streams(&Note::stream);
#endif
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
    void handle(const State&, eventcore::Context<Note>&) const {}
};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Noted>>& executor) {
    (void)executor.execute(Note{eventcore::StreamId::from_static("n")});
}
