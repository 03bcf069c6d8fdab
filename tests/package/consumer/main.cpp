// A program that uses eventcore the way an application would, built against the installed
// package only.
#include <eventcore/eventcore.hpp>
#include <eventcore/json_codec.hpp>
#ifdef EVENTCORE_CONSUMER_POSTGRES
#include <eventcore/postgres_event_store.hpp>
#endif
#ifdef EVENTCORE_CONSUMER_SQLITE
#include <eventcore/sqlite_event_store.hpp>
#endif

#include <cstdint>

namespace {

struct Deposited {
    std::int64_t amount;
};
EVENTCORE_EVENT(Deposited, amount)

struct Deposit {
    eventcore::StreamId account;
    std::int64_t amount;

    using Event = Deposited;
    using State = std::int64_t;
    static constexpr auto streams = eventcore::streams(&Deposit::account);

    void apply(State& balance, const eventcore::RecordedEvent<Event>& e) const { balance += e.payload.amount; }
    void handle(const State&, eventcore::Context<Deposit>& ctx) const {
        ctx.require(amount > 0, "amount must be positive");
        ctx.write<&Deposit::account>(Deposited{amount});
    }
};

} // namespace

template <class Store>
auto deposit_three_times(Store& store) -> bool {
    eventcore::CommandExecutor executor{store};
    const auto account = eventcore::StreamId::from_static("account-1");
    for (int i = 0; i < 3; ++i) {
        if (!executor.execute(Deposit{account, 10})) return false;
    }
    auto events = eventcore::load_stream(store, account);
    return events && events->size() == 3;
}

int main() {
    eventcore::InMemoryEventStore<Deposited> memory;
    bool ok = deposit_three_times(memory);
#ifdef EVENTCORE_CONSUMER_SQLITE
    auto sqlite = eventcore::SqliteEventStore<Deposited>::open(":memory:");
    ok = ok && sqlite && deposit_three_times(*sqlite);
#endif
#ifdef EVENTCORE_CONSUMER_POSTGRES
    // Links and refuses a bad schema name before connecting: the PostgreSQL component is usable.
    auto postgres = eventcore::PostgresEventStore<Deposited>::open("", {.schema = "Not Valid"});
    ok = ok && !postgres && postgres.error().kind() == eventcore::ErrorKind::validation;
#endif
    return ok ? 0 : 1;
}
