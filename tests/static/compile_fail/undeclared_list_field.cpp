// A std::vector<StreamId> field left out of `streams`: its streams would never be checked.
// expect: eventcore: every StreamId field of a command must be declared in `streams`
#include <eventcore/eventcore.hpp>

#include <vector>

struct Touched {};

struct TouchAll {
    eventcore::StreamId first;
    std::vector<eventcore::StreamId> rest;
    using Event = Touched;
    using State = int;
#ifdef EVENTCORE_COMPILE_FAIL
    static constexpr auto streams = eventcore::streams(&TouchAll::first);
#else
    static constexpr auto streams = eventcore::streams(&TouchAll::first, &TouchAll::rest);
#endif
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
    void handle(const State&, eventcore::Context<TouchAll>& ctx) const { ctx.write<&TouchAll::first>(Touched{}); }
};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<Touched>>& executor) {
    using eventcore::StreamId;
    (void)executor.execute(TouchAll{StreamId::from_static("a"), {}});
}
