// A command with an undeclared StreamId field given to executors of two store types: one error,
// which gives the counts.
// expect: declares_of_stream_id_fields<Move, 2, 3>
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

/// Another store type, as a service has its durable store and its tests the in-memory one.
struct TestStore : eventcore::InMemoryEventStore<Moved> {};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Moved>>& a, eventcore::CommandExecutor<TestStore>& b) {
    using eventcore::StreamId;
    const Move move{StreamId::from_static("a"), StreamId::from_static("b"), StreamId::from_static("c")};
    (void)a.execute(move);
    (void)b.execute(move);
}
