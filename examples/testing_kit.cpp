// The testing kit: a command tested with given/when/then scenarios, its retries tested with a
// store whose first appends conflict, and a burst of transfers run through a ChaosStore that
// injects conflicts, failures and latency, after which the money still adds up.

#include <eventcore/eventcore.hpp>
#include <eventcore/testing.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <mutex>
#include <string_view>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

namespace {

using eventcore::Context;
using eventcore::ErrorKind;
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
using BankEvent = std::variant<AccountOpened, MoneyDeposited, MoneyWithdrawn>;

auto delta(const BankEvent& event) -> std::int64_t {
    if (const auto* o = std::get_if<AccountOpened>(&event)) return o->initial_balance;
    if (const auto* d = std::get_if<MoneyDeposited>(&event)) return d->amount;
    return -std::get<MoneyWithdrawn>(event).amount;
}

struct Balances {
    std::int64_t from = 0;
    std::int64_t to = 0;
};

struct TransferMoney {
    StreamId from_account;
    StreamId to_account;
    std::int64_t amount;

    using Event = BankEvent;
    using State = Balances;
    static constexpr auto streams = eventcore::streams(&TransferMoney::from_account, &TransferMoney::to_account);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        (e.stream == from_account ? s.from : s.to) += delta(e.payload);
    }
    void handle(const State& s, Context<TransferMoney>& ctx) const {
        ctx.require(s.from >= amount, "insufficient funds: {} < {}", s.from, amount);
        ctx.write<&TransferMoney::from_account>(MoneyWithdrawn{amount});
        ctx.write<&TransferMoney::to_account>(MoneyDeposited{amount});
    }
};

int failures = 0;

void check(const eventcore::testing::ScenarioOutcome& outcome, std::string_view what) {
    fmt::print("{}: {}\n", outcome.passed() ? "ok  " : "FAIL", what);
    if (!outcome.passed()) {
        fmt::print("{}", outcome.message);
        ++failures;
    }
}

void expect(bool condition, std::string_view what) {
    fmt::print("{}: {}\n", condition ? "ok  " : "FAIL", what);
    if (!condition) ++failures;
}

} // namespace

int main() {
    using eventcore::testing::Scenario;
    const auto alice = StreamId::from_static("account-alice");
    const auto bob = StreamId::from_static("account-bob");

    // 1. Given/when/then.
    check(Scenario<BankEvent>{}
              .given(alice, {AccountOpened{100}})
              .when(TransferMoney{alice, bob, 30})
              .then({{alice, MoneyWithdrawn{30}}, {bob, MoneyDeposited{30}}}),
          "a transfer withdraws from one account and deposits to the other");
    check(Scenario<BankEvent>{}
              .given(alice, {AccountOpened{10}})
              .when(TransferMoney{alice, bob, 30})
              .then_fails(ErrorKind::business_rule, "insufficient funds"),
          "a transfer beyond the balance is refused");

    // A wrong expectation fails with a message that shows both sides.
    const auto wrong =
        Scenario<BankEvent>{}.given(alice, {AccountOpened{100}}).when(TransferMoney{alice, bob, 30}).then(
            {{alice, MoneyWithdrawn{20}}});
    expect(!wrong.passed(), "a wrong expectation fails; its message:");
    fmt::print("{}", wrong.message);

    // 2. Deterministic conflicts: the first two appends conflict, the third attempt commits.
    {
        eventcore::InMemoryEventStore<BankEvent> memory;
        (void)eventcore::append_to_stream(memory, alice, eventcore::ExpectedVersion::no_stream(),
                                          {AccountOpened{100}});
        eventcore::testing::ConflictingStore store{memory, 2};
        eventcore::CommandExecutor executor{store};
        const auto result = executor.execute(TransferMoney{alice, bob, 30});
        expect(result && result->attempts == 3, "two forced conflicts: committed on the third attempt");
    }

    // 3. Chaos: 4 threads of transfers through conflicts, transient failures and latency.
    {
        eventcore::InMemoryEventStore<BankEvent> memory;
        const std::vector<StreamId> accounts{alice, bob, StreamId::from_static("account-carol")};
        for (const auto& a : accounts)
            (void)eventcore::append_to_stream(memory, a, eventcore::ExpectedVersion::no_stream(), {AccountOpened{500}});
        eventcore::testing::ChaosStore chaos{memory, {.seed = 42,
                                                      .conflict_rate = 0.2,
                                                      .transient_rate = 0.2,
                                                      .latency_rate = 0.3,
                                                      .max_latency = std::chrono::microseconds{300}}};
        eventcore::CommandExecutor executor{chaos, {.retry = {.max_attempts = 30}}};
        int committed = 0;
        int failed = 0;
        std::mutex counted;
        std::vector<std::jthread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 50; ++i) {
                    const auto from = static_cast<std::size_t>(t + i) % accounts.size();
                    const auto to = (from + 1) % accounts.size();
                    const auto result = executor.execute(TransferMoney{accounts[from], accounts[to], 1 + i % 5});
                    const std::scoped_lock lock(counted);
                    ++(result ? committed : failed);
                }
            });
        }
        threads.clear();
        std::int64_t total = 0;
        for (const auto& a : accounts) {
            (void)memory.read_stream(a, eventcore::StreamVersion{1},
                                     [&](const RecordedEvent<BankEvent>& e) { total += delta(e.payload); });
        }
        const auto counts = chaos.counts();
        fmt::print("chaos: {} committed, {} failed; injected {} conflicts, {} transient failures, {} delays\n",
                   committed, failed, counts.conflicts, counts.transient, counts.delays);
        expect(total == 1500, "money is conserved through the chaos");
    }
    return failures == 0 ? 0 : 1;
}
