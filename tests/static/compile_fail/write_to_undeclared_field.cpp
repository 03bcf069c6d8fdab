// ctx.write<&Command::field> with a field that is not one of the declared streams.
// expect: eventcore: ctx.write<&Command::field> needs a field declared in the command's streams
#include <eventcore/eventcore.hpp>

struct Moved {};

struct Move {
    eventcore::StreamId from;
    eventcore::StreamId audit;
    using Event = Moved;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Move::from);
    static constexpr auto ignored_stream_fields = eventcore::streams(&Move::audit);
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
    void handle(const State&, eventcore::Context<Move>& ctx) const {
#ifdef EVENTCORE_COMPILE_FAIL
        ctx.write<&Move::audit>(Moved{});
#else
        ctx.write<&Move::from>(Moved{});
#endif
    }
};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Moved>>& executor) {
    using eventcore::StreamId;
    (void)executor.execute(Move{StreamId::from_static("a"), StreamId::from_static("b")});
}
