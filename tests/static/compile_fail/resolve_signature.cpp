// A resolve hook with the wrong signature would never be called: refused.
// expect: eventcore: a command's resolve must be `void resolve(const State&, eventcore::StreamResolver&) const`
#include <eventcore/eventcore.hpp>

struct Noted {};

struct Note {
    eventcore::StreamId stream;
    using Event = Noted;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Note::stream);
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
#ifdef EVENTCORE_COMPILE_FAIL
    void resolve(const State&, eventcore::StreamResolver&) {}
#else
    void resolve(const State&, eventcore::StreamResolver&) const {}
#endif
    void handle(const State&, eventcore::Context<Note>&) const {}
};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Noted>>& executor) {
    (void)executor.execute(Note{eventcore::StreamId::from_static("n")});
}
