// The README's complete example, kept compiling and running by ctest.
#include <eventcore/eventcore.hpp>

#include <variant>

struct MoneyDeposited { std::int64_t amount; };
struct MoneyWithdrawn { std::int64_t amount; };
using BankEvent = std::variant<MoneyDeposited, MoneyWithdrawn>;

struct Balances { std::int64_t from = 0, to = 0; };

struct TransferMoney {
    eventcore::StreamId from_account;
    eventcore::StreamId to_account;
    std::int64_t amount;

    using Event = BankEvent;
    using State = Balances;
    static constexpr auto streams =
        eventcore::streams(&TransferMoney::from_account, &TransferMoney::to_account);

    void apply(State& s, const eventcore::RecordedEvent<Event>& e) const {
        auto& balance = e.stream == from_account ? s.from : s.to;
        eventcore::match(e.payload,   // a handler for every event type, or it does not compile
                         [&](const MoneyDeposited& d) { balance += d.amount; },
                         [&](const MoneyWithdrawn& w) { balance -= w.amount; });
    }

    void handle(const State& s, eventcore::Context<TransferMoney>& ctx) const {
        ctx.require(s.from >= amount, "insufficient funds: {} < {}", s.from, amount);
        ctx.write<&TransferMoney::from_account>(MoneyWithdrawn{amount});
        ctx.write<&TransferMoney::to_account>(MoneyDeposited{amount});
    }
};

int main() {
    eventcore::InMemoryEventStore<BankEvent> store;
    eventcore::CommandExecutor executor{store};

    const auto alice = eventcore::StreamId::from_static("account-alice");
    const auto bob = eventcore::StreamId::from_static("account-bob");
    if (auto opened = eventcore::append_to_stream(store, alice, eventcore::ExpectedVersion::no_stream(),
                                                  {MoneyDeposited{1000}});
        !opened) {
        fmt::print("could not open the account: {}\n", opened.error());
        return 1;
    }

    auto result = executor.execute(TransferMoney{alice, bob, 300});
    if (!result) {
        fmt::print("rejected: {}\n", result.error());   // e.g. business_rule: insufficient funds
        return 1;
    }
    fmt::print("committed {} events in {} attempt(s)\n", result->events.size(), result->attempts);
}
