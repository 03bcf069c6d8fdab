// A command whose events the store does not hold.
// expect: eventcore: the command's Event type must be the store's event_type
#include <eventcore/eventcore.hpp>

struct Noted {};
struct Other {};

struct Note {
    eventcore::StreamId stream;
    using Event = Noted;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Note::stream);
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
    void handle(const State&, eventcore::Context<Note>&) const {}
};

#ifdef EVENTCORE_COMPILE_FAIL
using Store = eventcore::InMemoryEventStore<Other>;
#else
using Store = eventcore::InMemoryEventStore<Noted>;
#endif

void run(eventcore::CommandExecutor<Store>& executor) {
    (void)executor.execute(Note{eventcore::StreamId::from_static("n")});
}
