// ctx.write<&Command::field> with a std::vector<StreamId> field: which stream would it be?
// expect: eventcore: ctx.write<&Command::field> takes a StreamId field
#include <eventcore/eventcore.hpp>

#include <vector>

struct Touched {};

struct TouchAll {
    eventcore::StreamId first;
    std::vector<eventcore::StreamId> rest;
    using Event = Touched;
    using State = int;
    static constexpr auto streams = eventcore::streams(&TouchAll::first, &TouchAll::rest);
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
    void handle(const State&, eventcore::Context<TouchAll>& ctx) const {
#ifdef EVENTCORE_COMPILE_FAIL
        ctx.write<&TouchAll::rest>(Touched{});
#else
        ctx.write<&TouchAll::first>(Touched{});
        for (const auto& stream : rest) ctx.write(stream, Touched{});
#endif
    }
};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Touched>>& executor) {
    using eventcore::StreamId;
    (void)executor.execute(TouchAll{StreamId::from_static("a"), {StreamId::from_static("b")}});
}
