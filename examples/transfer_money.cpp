// Multi-stream atomicity, the motivating case: a transfer declares both account streams, so
// the withdrawal and the deposit commit together or not at all, with no saga in between.
// Also shows that a rejected transfer leaves every stream untouched.

#include "checks.hpp"

#include <eventcore/eventcore.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <variant>

namespace {

using eventcore::Context;
using eventcore::RecordedEvent;
using eventcore::StreamId;

struct AccountOpened {
    std::int64_t initial_balance;
};
struct MoneyDeposited {
    std::int64_t amount;
};
struct MoneyWithdrawn {
    std::int64_t amount;
};
using BankEvent = std::variant<AccountOpened, MoneyDeposited, MoneyWithdrawn>;
using Store = eventcore::InMemoryEventStore<BankEvent>;

auto balance_delta(const BankEvent& event) -> std::int64_t {
    return eventcore::match(
        event, [](const AccountOpened& o) { return o.initial_balance; },
        [](const MoneyDeposited& d) { return d.amount; }, [](const MoneyWithdrawn& w) { return -w.amount; });
}

struct Account {
    bool open = false;
    std::int64_t balance = 0;

    void apply(const BankEvent& event) {
        if (std::holds_alternative<AccountOpened>(event)) open = true;
        balance += balance_delta(event);
    }
};

struct OpenAccount {
    StreamId account;
    std::int64_t initial_balance;

    using Event = BankEvent;
    using State = Account;
    static constexpr auto streams = eventcore::streams(&OpenAccount::account);

    void apply(State& s, const RecordedEvent<Event>& e) const { s.apply(e.payload); }
    void handle(const State& s, Context<OpenAccount>& ctx) const {
        ctx.require(!s.open, "account {} is already open", account);
        ctx.require(initial_balance >= 0, "initial balance must not be negative, got {}", initial_balance);
        ctx.write<&OpenAccount::account>(AccountOpened{initial_balance});
    }
};

struct TransferState {
    Account from;
    Account to;
};

struct TransferMoney {
    StreamId from_account;
    StreamId to_account;
    std::int64_t amount;

    using Event = BankEvent;
    using State = TransferState;
    static constexpr auto streams = eventcore::streams(&TransferMoney::from_account, &TransferMoney::to_account);

    // Events of both streams arrive in one fold: the stream of each says which account it moves.
    void apply(State& s, const RecordedEvent<Event>& e) const {
        if (e.stream == from_account) s.from.apply(e.payload);
        if (e.stream == to_account) s.to.apply(e.payload);
    }

    void handle(const State& s, Context<TransferMoney>& ctx) const {
        ctx.require(from_account != to_account, "cannot transfer from {} to itself", from_account);
        ctx.require(amount > 0, "amount must be positive, got {}", amount);
        ctx.require(s.from.open && s.to.open, "both accounts must be open");
        ctx.require(s.from.balance >= amount, "insufficient funds in {}: {} < {}", from_account, s.from.balance,
                    amount);
        ctx.write<&TransferMoney::from_account>(MoneyWithdrawn{amount});
        ctx.write<&TransferMoney::to_account>(MoneyDeposited{amount});
    }
};

static_assert(eventcore::Command<OpenAccount>);
static_assert(eventcore::Command<TransferMoney>);

using examples::check;
using examples::must;

auto balance(const Store& store, const StreamId& account) -> std::int64_t {
    Account state;
    const auto events = must(eventcore::load_stream(store, account), "reading an account");
    for (const auto& e : events) state.apply(e.payload);
    return state.balance;
}

void run() {
    Store store;
    eventcore::CommandExecutor executor{store};
    const auto account_1 = StreamId::from_static("account-1");
    const auto account_2 = StreamId::from_static("account-2");

    must(executor.execute(OpenAccount{.account = account_1, .initial_balance = 1000}), "opening account-1");
    must(executor.execute(OpenAccount{.account = account_2, .initial_balance = 500}), "opening account-2");
    fmt::print("opened {} with {} and {} with {}\n", account_1, balance(store, account_1), account_2,
               balance(store, account_2));

    const auto before_transfer = must(store.head(), "reading the head");
    const auto transfer = must(
        executor.execute(TransferMoney{.from_account = account_1, .to_account = account_2, .amount = 300}),
        "transferring 300");
    const auto after_1 = balance(store, account_1);
    const auto after_2 = balance(store, account_2);
    fmt::print("transferred 300: {} has {}, {} has {} (total {})\n", account_1, after_1, account_2, after_2,
               after_1 + after_2);
    check(after_1 == 700, "account-1 is debited to 700");
    check(after_2 == 800, "account-2 is credited to 800");
    check(after_1 + after_2 == 1500, "the transfer preserves the total");

    check(transfer.events.size() == 2, "the transfer writes two events");
    const auto& withdrawal = transfer.events[0];
    const auto& deposit = transfer.events[1];
    fmt::print("  {} v{} at position {}, {} v{} at position {}\n", withdrawal.stream, withdrawal.version,
               withdrawal.position, deposit.stream, deposit.version, deposit.position);
    check(withdrawal.stream == account_1 && deposit.stream == account_2, "the events go to both accounts");
    // Adjacent positions and a shared causation id: one commit, not two that happened to succeed.
    check(deposit.position == withdrawal.position.next(), "both events are adjacent in the global log");
    const auto log = must(eventcore::load_log(store, {.after = before_transfer}), "reading the log");
    check(log.size() == 2, "the transfer is the only commit since the openings");
    check(log[0].metadata.causation_id == transfer.command_id && log[1].metadata.causation_id == transfer.command_id,
          "both events were caused by the same command execution");
    fmt::print("  both caused by command {}\n", transfer.command_id);

    const auto head_before = must(store.head(), "reading the head");
    const auto failed =
        executor.execute(TransferMoney{.from_account = account_2, .to_account = account_1, .amount = 5000});
    check(!failed, "a transfer of more than the balance is rejected");
    fmt::print("transfer of 5000 from {}: rejected ({})\n", account_2, failed.error());
    check(failed.error().is(eventcore::ErrorKind::business_rule), "the rejection is a business rule");
    check(must(store.head(), "reading the head") == head_before, "a rejected transfer writes nothing");
    check(balance(store, account_1) == 700 && balance(store, account_2) == 800, "both balances are unchanged");
    fmt::print("balances unchanged: {} has {}, {} has {}\n", account_1, balance(store, account_1), account_2,
               balance(store, account_2));
}

} // namespace

int main() {
    try {
        run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "transfer_money: {}\n", e.what());
        return 1;
    }
    return 0;
}
