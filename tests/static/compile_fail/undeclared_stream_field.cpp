// A StreamId field that is neither declared nor opted out: found with Boost.PFR.
// expect: eventcore: every StreamId field of a command must be declared in `streams`
#include <eventcore/eventcore.hpp>

struct Moved {};

struct Move {
    eventcore::StreamId from;
    eventcore::StreamId to;
    eventcore::StreamId audit; // mentioned in events, never read
    using Event = Moved;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Move::from, &Move::to);
#ifndef EVENTCORE_COMPILE_FAIL
    static constexpr auto ignored_stream_fields = eventcore::streams(&Move::audit);
#endif
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
    void handle(const State&, eventcore::Context<Move>&) const {}
};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Moved>>& executor) {
    using eventcore::StreamId;
    (void)executor.execute(Move{StreamId::from_static("a"), StreamId::from_static("b"), StreamId::from_static("c")});
}
