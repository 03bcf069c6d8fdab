// <eventcore/core.hpp> is enough to define and run a command, with the store's own header.
#include <eventcore/core.hpp>
#include <eventcore/in_memory_event_store.hpp>

#include <variant>

namespace {
struct Opened {};
using Event = std::variant<Opened>;

struct Open {
    eventcore::StreamId account;
    using Event = ::Event;
    struct State {
        bool open = false;
    };
    static constexpr auto streams = eventcore::streams(&Open::account);
    void apply(State& s, const eventcore::RecordedEvent<Event>& e) const {
        eventcore::match(e.payload, [&](const Opened&) { s.open = true; });
    }
    void handle(const State& s, eventcore::Context<Open>& ctx) const {
        ctx.require(!s.open, "already open");
        ctx.write<&Open::account>(Opened{});
    }
};
static_assert(eventcore::check_command<Open>());
} // namespace

[[maybe_unused]] auto open_account(eventcore::InMemoryEventStore<Event>& store)
    -> eventcore::Result<eventcore::ExecutionResultOf<Event>> {
    const eventcore::CommandExecutor executor{store};
    return executor.execute(Open{eventcore::StreamId::from_static("account-1")});
}
