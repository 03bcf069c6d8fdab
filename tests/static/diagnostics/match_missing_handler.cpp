// An apply whose match leaves an event type out, and a function that returns a match's result:
// one error for each mistake, naming the event type, and none for the use of the result.
// expect: eventcore: match: no handler for one of the event types
// expect: match_has_no_handler_for<Withdrawn>
#include <eventcore/eventcore.hpp>

#include <cstdint>

struct Deposited { std::int64_t amount; };
struct Withdrawn { std::int64_t amount; };
using BankEvent = std::variant<Deposited, Withdrawn>;

struct Spend {
    eventcore::StreamId account;
    using Event = BankEvent;
    using State = std::int64_t;
    static constexpr auto streams = eventcore::streams(&Spend::account);
    void apply(State& balance, const eventcore::RecordedEvent<Event>& e) const {
        balance += eventcore::match(e.payload, [](const Deposited& d) { return d.amount; }
#ifndef EVENTCORE_COMPILE_FAIL
                                    , [](const Withdrawn& w) { return -w.amount; }
#endif
        );
    }
    void handle(const State&, eventcore::Context<Spend>&) const {}
};

void run(eventcore::CommandExecutor<eventcore::InMemoryEventStore<BankEvent>>& executor) {
    (void)executor.execute(Spend{eventcore::StreamId::from_static("account-1")});
}
