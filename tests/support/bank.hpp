#pragma once
// A small bank for the tests: accounts are streams; money moves between them atomically.

#include <eventcore/eventcore.hpp>
#include <eventcore/json_codec.hpp>

#include "catch_result.hpp"

#include <cstdint>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace bank {

using eventcore::Context;
using eventcore::RecordedEvent;
using eventcore::StreamId;

struct AccountOpened {
    std::int64_t initial_balance;
    friend auto operator==(const AccountOpened&, const AccountOpened&) -> bool = default;
};
struct MoneyDeposited {
    std::int64_t amount;
    friend auto operator==(const MoneyDeposited&, const MoneyDeposited&) -> bool = default;
};
struct MoneyWithdrawn {
    std::int64_t amount;
    friend auto operator==(const MoneyWithdrawn&, const MoneyWithdrawn&) -> bool = default;
};
/// A limit on single transfers, kept in its own stream and read (never written) by transfers.
struct LimitSet {
    std::int64_t max_transfer;
    friend auto operator==(const LimitSet&, const LimitSet&) -> bool = default;
};

EVENTCORE_EVENT(AccountOpened, initial_balance)
EVENTCORE_EVENT(MoneyDeposited, amount)
EVENTCORE_EVENT(MoneyWithdrawn, amount)
EVENTCORE_EVENT(LimitSet, max_transfer)

using BankEvent = std::variant<AccountOpened, MoneyDeposited, MoneyWithdrawn, LimitSet>;
using Store = eventcore::InMemoryEventStore<BankEvent>;

/// The change an event makes to its account's balance.
inline auto balance_delta(const BankEvent& e) -> std::int64_t {
    return std::visit(
        [](const auto& x) -> std::int64_t {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, AccountOpened>) return x.initial_balance;
            if constexpr (std::is_same_v<T, MoneyDeposited>) return x.amount;
            if constexpr (std::is_same_v<T, MoneyWithdrawn>) return -x.amount;
            return 0;
        },
        e);
}

struct AccountState {
    bool open = false;
    std::int64_t balance = 0;
    void apply(const BankEvent& e) {
        if (std::holds_alternative<AccountOpened>(e)) open = true;
        balance += balance_delta(e);
    }
};

struct OpenAccount {
    StreamId account;
    std::int64_t initial_balance;

    using Event = BankEvent;
    using State = AccountState;
    static constexpr std::string_view name = "OpenAccount";
    static constexpr auto streams = eventcore::streams(&OpenAccount::account);

    void apply(State& s, const RecordedEvent<Event>& e) const { s.apply(e.payload); }
    void handle(const State& s, Context<OpenAccount>& ctx) const {
        ctx.require(!s.open, "account {} is already open", account);
        ctx.require(initial_balance >= 0, "initial balance must not be negative, got {}", initial_balance);
        ctx.write<&OpenAccount::account>(AccountOpened{initial_balance});
    }
};

struct TransferState {
    AccountState from;
    AccountState to;
};

struct TransferMoney {
    StreamId from_account;
    StreamId to_account;
    std::int64_t amount;

    using Event = BankEvent;
    using State = TransferState;
    static constexpr std::string_view name = "TransferMoney";
    static constexpr auto streams = eventcore::streams(&TransferMoney::from_account, &TransferMoney::to_account);

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

/// Many small deposits, alternating between two accounts: a commit of many events.
struct DepositInInstalments {
    StreamId first;
    StreamId second;
    std::int64_t instalments;

    using Event = BankEvent;
    using State = TransferState;
    static constexpr std::string_view name = "DepositInInstalments";
    static constexpr auto streams = eventcore::streams(&DepositInInstalments::first, &DepositInInstalments::second);

    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<DepositInInstalments>& ctx) const {
        for (std::int64_t i = 0; i < instalments; ++i) {
            if (i % 2 == 0) {
                ctx.write<&DepositInInstalments::first>(MoneyDeposited{i + 1});
            } else {
                ctx.write<&DepositInInstalments::second>(MoneyDeposited{i + 1});
            }
        }
    }
};

/// A transfer checked against a limit stream it reads but does not write.
struct LimitedTransfer {
    StreamId from_account;
    StreamId to_account;
    StreamId limits;
    std::int64_t amount;

    struct State {
        TransferState accounts;
        std::int64_t max_transfer = 0;
    };
    using Event = BankEvent;
    static constexpr std::string_view name = "LimitedTransfer";
    static constexpr auto streams = eventcore::streams(&LimitedTransfer::from_account, &LimitedTransfer::to_account,
                                                       &LimitedTransfer::limits);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        if (e.stream == limits) {
            if (const auto* l = std::get_if<LimitSet>(&e.payload)) s.max_transfer = l->max_transfer;
        } else {
            TransferMoney{from_account, to_account, amount}.apply(s.accounts, e);
        }
    }
    void handle(const State& s, Context<LimitedTransfer>& ctx) const {
        ctx.require(amount <= s.max_transfer, "amount {} exceeds the limit {}", amount, s.max_transfer);
        ctx.require(s.accounts.from.balance >= amount, "insufficient funds");
        ctx.write<&LimitedTransfer::from_account>(MoneyWithdrawn{amount});
        ctx.write<&LimitedTransfer::to_account>(MoneyDeposited{amount});
    }
};

/// The balance of `account`, folded from its events.
template <eventcore::EventStore S>
auto balance(const S& store, const StreamId& account) -> std::int64_t {
    std::int64_t total = 0;
    (void)store.read_stream(account, eventcore::StreamVersion{1},
                            [&](const RecordedEvent<BankEvent>& e) { total += balance_delta(e.payload); });
    return total;
}

inline auto id(std::string_view text) -> StreamId { return StreamId::parse(text).value(); }

/// The events at the places `where` names, as a reader of the whole log reads them, in the order
/// of `where`.
template <eventcore::EventStore S>
auto read_back(const S& store, const std::vector<eventcore::WrittenEvent>& where)
    -> std::vector<RecordedEvent<BankEvent>> {
    std::vector<RecordedEvent<BankEvent>> all;
    REQUIRE(eventcore::visit_log(store, {}, [&](const RecordedEvent<BankEvent>& e) { all.push_back(e); }));
    std::vector<RecordedEvent<BankEvent>> out;
    for (const auto& w : where) {
        for (const auto& e : all) {
            if (e.position == w.position) out.push_back(e);
        }
    }
    return out;
}

/// Checks, on `store`, that a result holds its written events whole (payload, metadata, places)
/// exactly as a reader reads them, and that a duplicate holds the first execution's.
template <eventcore::EventStore S>
void check_result_holds_written_events(S& store) {
    eventcore::CommandExecutor executor{store};
    REQUIRE(executor.execute(OpenAccount{id("account-1"), 1000}));
    REQUIRE(executor.execute(OpenAccount{id("account-2"), 500}));
    const eventcore::ExecuteOptions once{.command_id = eventcore::Uuid::v7(), .metadata = {{"request", "r-1"}}};
    const auto first = executor.execute(TransferMoney{id("account-1"), id("account-2"), 300}, once);
    REQUIRE(first);
    REQUIRE(first->written.size() == 2);
    CHECK(first->written == read_back(store, first->events));
    CHECK(std::get<MoneyWithdrawn>(first->written[0].payload).amount == 300);
    CHECK(first->written[0].stream == id("account-1"));
    CHECK(std::get<MoneyDeposited>(first->written[1].payload).amount == 300);
    CHECK(first->written[1].metadata.causation_id == once.command_id);
    CHECK(first->written[1].metadata.custom == once.metadata);
    for (std::size_t i = 0; i < first->written.size(); ++i) {
        CHECK(first->written[i].position == first->events[i].position);
        CHECK(first->written[i].metadata.event_id == first->events[i].event_id);
    }

    // Later commits do not get into a duplicate's events, read back from the store.
    REQUIRE(executor.execute(TransferMoney{id("account-2"), id("account-1"), 5}));
    const auto again = executor.execute(TransferMoney{id("account-1"), id("account-2"), 300}, once);
    REQUIRE(again);
    CHECK(again->duplicate);
    CHECK(again->written == first->written);

    // A duplicate of a commit of many events, on two streams, read back in the commit's order.
    const eventcore::ExecuteOptions many{.command_id = eventcore::Uuid::v7()};
    const auto big = executor.execute(DepositInInstalments{id("account-1"), id("account-2"), 301}, many);
    REQUIRE(big);
    REQUIRE(big->written.size() == 301);
    const auto big_again = executor.execute(DepositInInstalments{id("account-1"), id("account-2"), 301}, many);
    REQUIRE(big_again);
    CHECK(big_again->duplicate);
    CHECK(big_again->written == big->written);
    CHECK(std::get<MoneyDeposited>(big_again->written.back().payload).amount == 301);
    CHECK(big_again->written[1].stream == id("account-2"));

    // A plain `ExecutionResult` is still what it was.
    const eventcore::Result<eventcore::ExecutionResult> plain =
        executor.execute(TransferMoney{id("account-1"), id("account-2"), 1});
    REQUIRE(plain);
    CHECK(plain->events.size() == 2);
}

} // namespace bank

namespace testing_support {
/// The error of a result that must have failed (a clean test failure if it did not).
template <class T>
auto error_of(const eventcore::Result<T>& result) -> const eventcore::Error& {
    REQUIRE_FALSE(result.has_value());
    return result.error();
}
} // namespace testing_support
