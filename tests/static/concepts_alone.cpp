// <eventcore/concepts.hpp> states requirements without the executor or any store.
#include <eventcore/concepts.hpp>

#include <variant>

namespace {
struct Noted {};
struct Note {
    eventcore::StreamId stream;
    using Event = std::variant<Noted>;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Note::stream);
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
    void handle(const State&, eventcore::Context<Note>&) const {}
};
static_assert(eventcore::Command<Note>);
static_assert(!eventcore::Command<int>);
static_assert(!eventcore::EventStore<Note>);

template <eventcore::EventStore S>
[[maybe_unused]] auto last_position(const S& store) -> eventcore::Result<eventcore::GlobalPosition> {
    return store.head();
}
} // namespace
