#include "support/bank.hpp"
#include "support/interfering_store.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

using namespace bank;
using eventcore::CommandExecutor;
using eventcore::ErrorKind;
using eventcore::ExecuteOptions;
using eventcore::ExpectedVersion;
using eventcore::GlobalPosition;
using eventcore::RetryPolicy;
using eventcore::StreamVersion;
using testing_support::InterferingStore;

namespace {

template <class Executor>
void open(Executor& executor, std::string_view account, std::int64_t balance) {
    auto r = executor.execute(OpenAccount{id(account), balance});
    REQUIRE(r);
}

auto fast_retries(std::uint32_t attempts = 10) -> RetryPolicy {
    return RetryPolicy{.max_attempts = attempts,
                       .initial_delay = std::chrono::microseconds{10},
                       .max_delay = std::chrono::microseconds{200}};
}

} // namespace

// The seed chapter's first test.
TEST_CASE("a transfer updates both accounts atomically", "[executor][seed]") {
    Store store;
    CommandExecutor executor{store};
    open(executor, "account-1", 1000);
    open(executor, "account-2", 500);

    auto result = executor.execute(TransferMoney{id("account-1"), id("account-2"), 300});
    REQUIRE(result);
    CHECK(result->attempts == 1);
    REQUIRE(result->events.size() == 2);
    CHECK(result->events[0].stream == id("account-1"));
    CHECK(result->events[0].version == StreamVersion{2});
    CHECK(result->events[1].position == GlobalPosition{4});
    CHECK(result->streams == std::vector<eventcore::StreamState>{{id("account-1"), StreamVersion{2}},
                                                                  {id("account-2"), StreamVersion{2}}});

    const auto account1 = balance(store, id("account-1"));
    const auto account2 = balance(store, id("account-2"));
    CHECK(account1 == 700);
    CHECK(account2 == 800);
    CHECK(account1 + account2 == 1500);
}

// The seed chapter's second test: a cycle of concurrent transfers all succeed, with retries.
TEST_CASE("concurrent transfers in a cycle all succeed and conserve money", "[executor][seed][concurrency]") {
    for (int round = 0; round < 50; ++round) {
        Store store;
        CommandExecutor executor{store};
        open(executor, "A", 1000);
        open(executor, "B", 1000);
        open(executor, "C", 1000);

        auto run = [&](const char* from, const char* to) {
            return std::async(std::launch::async,
                              [&executor, from, to] { return executor.execute(TransferMoney{id(from), id(to), 100}); });
        };
        auto r1 = run("A", "B");
        auto r2 = run("B", "C");
        auto r3 = run("C", "A");
        const auto a = r1.get();
        const auto b = r2.get();
        const auto c = r3.get();
        REQUIRE(a);
        REQUIRE(b);
        REQUIRE(c);
        CHECK(balance(store, id("A")) + balance(store, id("B")) + balance(store, id("C")) == 3000);
        CHECK(balance(store, id("A")) == 1000);
        CHECK(eventcore::load_log(store)->size() == 9);
    }
}

TEST_CASE("a business rule failure writes nothing and says why", "[executor]") {
    Store store;
    CommandExecutor executor{store};
    open(executor, "a", 100);
    open(executor, "b", 0);
    auto r = executor.execute(TransferMoney{id("a"), id("b"), 500});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == ErrorKind::business_rule);
    CHECK(r.error().message() == "insufficient funds in a: 100 < 500");
    CHECK(store.head().value() == GlobalPosition{2});
}

TEST_CASE("a version conflict is detected and the command retried on fresh state", "[executor]") {
    Store inner;
    {
        CommandExecutor setup{inner};
        open(setup, "a", 100);
        open(setup, "b", 0);
    }
    // Another writer withdraws 60 from `a` just before our first commit.
    InterferingStore store(inner, 1, [](Store& s) {
        REQUIRE(eventcore::append_to_stream(s, id("a"), ExpectedVersion::any(), {MoneyWithdrawn{60}}));
    });
    std::vector<std::string> seen;
    struct Recorder : eventcore::ExecutorObserver {
        std::vector<std::string>* log;
        void on_attempt(const eventcore::AttemptInfo& i) override { log->push_back(fmt::format("attempt {}", i.attempt)); }
        void on_conflict(const eventcore::ConflictInfo& i) override {
            log->push_back(fmt::format("conflict {} on {}", i.attempt, i.conflicts[0].stream));
        }
        void on_retry(const eventcore::RetryInfo& i) override { log->push_back(fmt::format("retry {}", i.next_attempt)); }
        void on_commit(const eventcore::CommitInfo& i) override {
            log->push_back(fmt::format("commit {} events after {} attempts", i.events, i.attempts));
        }
        void on_failure(const eventcore::FailureInfo& i) override {
            log->push_back(fmt::format("failure {}", eventcore::to_string(i.error.kind())));
        }
    };
    auto recorder = std::make_shared<Recorder>();
    recorder->log = &seen;
    CommandExecutor executor{store, {.retry = fast_retries(), .observer = recorder}};

    SECTION("the retry sees the other writer's withdrawal") {
        auto r = executor.execute(TransferMoney{id("a"), id("b"), 30});
        REQUIRE(r);
        CHECK(r->attempts == 2);
        CHECK(balance(inner, id("a")) == 10);
        CHECK(balance(inner, id("b")) == 30);
        CHECK(seen == std::vector<std::string>{"attempt 1", "conflict 1 on a", "retry 2", "attempt 2",
                                               "commit 2 events after 2 attempts"});
    }
    SECTION("and the retry decides again: now funds are short") {
        auto r = executor.execute(TransferMoney{id("a"), id("b"), 50});
        REQUIRE_FALSE(r);
        CHECK(r.error().kind() == ErrorKind::business_rule);
        CHECK(balance(inner, id("a")) == 40);
        CHECK(seen.back() == "failure business_rule");
    }
}

TEST_CASE("retries stop at max_attempts with concurrency_exhausted", "[executor]") {
    Store inner;
    {
        CommandExecutor setup{inner};
        open(setup, "a", 100);
        open(setup, "b", 0);
    }
    InterferingStore store(inner, 1000, [](Store& s) {
        REQUIRE(eventcore::append_to_stream(s, id("b"), ExpectedVersion::any(), {MoneyDeposited{1}}));
    });
    CommandExecutor executor{store, {.retry = fast_retries(3)}};
    auto r = executor.execute(TransferMoney{id("a"), id("b"), 10});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == ErrorKind::concurrency_exhausted);
    CHECK_THAT(r.error().message(), Catch::Contains("3 attempts") && Catch::Contains("'b'"));
    REQUIRE(r.error().conflicts().size() == 1);
    CHECK(r.error().conflicts()[0].stream == id("b"));
    CHECK(store.appends() == 3);
    CHECK(balance(inner, id("a")) == 100);

    SECTION("a per-call policy overrides the executor's") {
        auto once = executor.execute(TransferMoney{id("a"), id("b"), 10}, {.retry = RetryPolicy{.max_attempts = 1}});
        CHECK(testing_support::error_of(once).kind() == ErrorKind::concurrency_exhausted);
        CHECK(store.appends() == 4);
    }
}

TEST_CASE("only version conflicts are retried", "[executor]") {
    Store inner;
    InterferingStore store(inner, 1000, [](Store&) {});
    CommandExecutor executor{store, {.retry = fast_retries()}};
    auto r = executor.execute(TransferMoney{id("a"), id("b"), 10}); // accounts not open
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == ErrorKind::business_rule);
    CHECK(store.reads() == 1);
    CHECK(store.appends() == 0);
}

TEST_CASE("a stale read-only stream rejects the whole commit", "[executor]") {
    Store inner;
    {
        CommandExecutor setup{inner};
        open(setup, "a", 100);
        open(setup, "b", 0);
        REQUIRE(eventcore::append_to_stream(inner, id("limits"), ExpectedVersion::no_stream(), {LimitSet{50}}));
    }
    // Just before the commit, the limit drops to 20: the decision made under 50 must not land.
    InterferingStore store(inner, 1, [](Store& s) {
        REQUIRE(eventcore::append_to_stream(s, id("limits"), ExpectedVersion::any(), {LimitSet{20}}));
    });
    CommandExecutor executor{store, {.retry = fast_retries()}};
    auto r = executor.execute(LimitedTransfer{id("a"), id("b"), id("limits"), 30});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == ErrorKind::business_rule);
    CHECK(r.error().message() == "amount 30 exceeds the limit 20");
    CHECK(store.appends() == 1); // the first commit was refused for the read-only stream
    CHECK(balance(inner, id("a")) == 100);
    CHECK(eventcore::load_stream(inner, id("limits"))->size() == 2);

    SECTION("a current read-only stream lets it through, unwritten") {
        auto ok = executor.execute(LimitedTransfer{id("a"), id("b"), id("limits"), 20});
        REQUIRE(ok);
        CHECK(ok->events.size() == 2);
        CHECK(ok->streams.back() == eventcore::StreamState{id("limits"), StreamVersion{2}});
        CHECK(eventcore::load_stream(inner, id("limits"))->size() == 2);
    }
}

namespace {
/// Writes to a stream it never read.
struct Sneaky {
    StreamId account;
    StreamId elsewhere;
    bool use_try_write = false;

    using Event = BankEvent;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Sneaky::account);
    static constexpr auto ignored_stream_fields = eventcore::streams(&Sneaky::elsewhere);
    void apply(State&, const RecordedEvent<Event>&) const {}
    auto handle(const State&, Context<Sneaky>& ctx) const -> eventcore::CommandResult {
        ctx.write<&Sneaky::account>(MoneyDeposited{1});
        if (use_try_write) return ctx.try_write(elsewhere, MoneyDeposited{1});
        ctx.write(elsewhere, MoneyDeposited{1});
        return {};
    }
};
} // namespace

TEST_CASE("a write to an undeclared stream is rejected and nothing is written", "[executor]") {
    Store store;
    CommandExecutor executor{store};
    for (bool use_try_write : {false, true}) {
        auto r = executor.execute(Sneaky{id("mine"), id("theirs"), use_try_write});
        REQUIRE_FALSE(r);
        CHECK(r.error().kind() == ErrorKind::undeclared_stream);
        CHECK_THAT(r.error().message(), Catch::Contains("'theirs'") && Catch::Contains("did not read"));
        CHECK(store.head().value() == GlobalPosition{0});
    }
}

namespace {
struct Seen {
    std::vector<std::string> order;
};
struct Trace {
    StreamId x;
    StreamId y;
    using Event = BankEvent;
    using State = Seen;
    static constexpr auto streams = eventcore::streams(&Trace::x, &Trace::y);
    void apply(State& s, const RecordedEvent<Event>& e) const {
        s.order.push_back(fmt::format("{}@{}#{}", e.stream, e.version, e.position));
    }
    void handle(const State& s, Context<Trace>& ctx) const {
        ctx.require(false, "{}", fmt::join(s.order, " "));
    }
};
} // namespace

TEST_CASE("state folds in global-position order and apply sees stream and version", "[executor]") {
    Store store;
    REQUIRE(eventcore::append_to_stream(store, id("y"), ExpectedVersion::any(), {MoneyDeposited{1}}));
    REQUIRE(eventcore::append_to_stream(store, id("x"), ExpectedVersion::any(), {MoneyDeposited{1}}));
    REQUIRE(eventcore::append_to_stream(store, id("y"), ExpectedVersion::any(), {MoneyDeposited{1}}));
    CommandExecutor executor{store};
    auto r = executor.execute(Trace{id("x"), id("y")});
    CHECK(testing_support::error_of(r).message() == "y@1#1 x@1#2 y@2#3");
}

TEST_CASE("the same command id executes once and returns the first result", "[executor]") {
    Store store;
    CommandExecutor executor{store};
    open(executor, "a", 100);
    open(executor, "b", 0);
    const ExecuteOptions once{.command_id = eventcore::Uuid::v7()};
    auto first = executor.execute(TransferMoney{id("a"), id("b"), 10}, once);
    REQUIRE(first);
    CHECK_FALSE(first->duplicate);
    auto second = executor.execute(TransferMoney{id("a"), id("b"), 10}, once);
    REQUIRE(second);
    CHECK(second->duplicate);
    CHECK(second->events == first->events);
    CHECK(second->streams == first->streams);
    CHECK(second->command_id == first->command_id);
    CHECK(balance(store, id("a")) == 90);

    SECTION("also when a twin commits between our check and our read") {
        const ExecuteOptions twin_id{.command_id = eventcore::Uuid::v7()};
        // The twin takes the last 90: our decision, made after it, must not report a shortfall.
        testing_support::InterferingStore racing(
            store, 1,
            [&](Store& s) {
                CommandExecutor twin{s};
                REQUIRE(twin.execute(TransferMoney{id("a"), id("b"), 90}, twin_id));
            },
            testing_support::InterferingStore<Store>::When::before_read);
        CommandExecutor ours{racing};
        auto r = ours.execute(TransferMoney{id("a"), id("b"), 90}, twin_id);
        REQUIRE(r);
        CHECK(r->duplicate);
        CHECK(balance(store, id("a")) == 0);
        CHECK(balance(store, id("b")) == 100);
    }
    SECTION("also when both run at once") {
        const ExecuteOptions shared{.command_id = eventcore::Uuid::v7()};
        std::vector<std::future<eventcore::Result<eventcore::ExecutionResult>>> runs;
        for (int i = 0; i < 4; ++i) {
            runs.push_back(std::async(std::launch::async, [&]() -> eventcore::Result<eventcore::ExecutionResult> {
                return executor.execute(TransferMoney{id("a"), id("b"), 10}, shared);
            }));
        }
        int fresh = 0;
        for (auto& f : runs) {
            auto r = f.get();
            REQUIRE(r);
            if (!r->duplicate) ++fresh;
        }
        CHECK(fresh == 1);
        CHECK(balance(store, id("a")) == 80);
    }
}

TEST_CASE("a result holds the events it wrote whole, also for a duplicate (memory)", "[executor]") {
    Store store;
    bank::check_result_holds_written_events(store);
}

TEST_CASE("events carry the command's metadata", "[executor]") {
    Store store;
    CommandExecutor executor{store};
    const auto correlation = eventcore::Uuid::v7();
    auto r = executor.execute(OpenAccount{id("a"), 5},
                              {.correlation_id = correlation, .metadata = {{"user", "ada"}, {"ip", "10.0.0.1"}}});
    REQUIRE(r);
    const auto events = eventcore::load_stream(store, id("a")).value();
    REQUIRE(events.size() == 1);
    const auto& m = events[0].metadata;
    CHECK(m.command == "OpenAccount");
    CHECK(m.causation_id == r->command_id);
    CHECK(m.correlation_id == correlation);
    CHECK(m.custom == std::vector<std::pair<std::string, std::string>>{{"user", "ada"}, {"ip", "10.0.0.1"}});
    CHECK(m.event_id == r->events[0].event_id);
}

TEST_CASE("a deadline stops retries with a timeout error", "[executor]") {
    Store inner;
    {
        CommandExecutor setup{inner};
        open(setup, "a", 100);
        open(setup, "b", 0);
    }
    InterferingStore store(inner, 1000, [](Store& s) {
        REQUIRE(eventcore::append_to_stream(s, id("b"), ExpectedVersion::any(), {MoneyDeposited{1}}));
    });
    CommandExecutor executor{
        store, {.retry = RetryPolicy{.max_attempts = 1000, .initial_delay = std::chrono::milliseconds{5},
                                     .max_delay = std::chrono::milliseconds{5}, .jitter = false}}};
    auto r = executor.execute(TransferMoney{id("a"), id("b"), 10},
                              {.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{30}});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == ErrorKind::timeout);
    CHECK(store.appends() <= 10); // about 30 ms of 5 ms waits
    CHECK(balance(inner, id("a")) == 100);

    auto already = executor.execute(TransferMoney{id("a"), id("b"), 10},
                                    {.deadline = std::chrono::steady_clock::now() - std::chrono::seconds{1}});
    CHECK(testing_support::error_of(already).kind() == ErrorKind::timeout);
}

TEST_CASE("bad settings and bad commands are clear errors", "[executor]") {
    Store store;
    CHECK_THROWS_AS(CommandExecutor(store, {.retry = RetryPolicy{.max_attempts = 0}}), eventcore::Exception);
    CommandExecutor executor{store};
    auto bad_policy = executor.execute(OpenAccount{id("a"), 1}, {.retry = RetryPolicy{.multiplier = 0.5}});
    CHECK(testing_support::error_of(bad_policy).kind() == ErrorKind::validation);
    CHECK_THAT(bad_policy.error().message(), Catch::Contains("multiplier"));

    auto empty_stream = executor.execute(OpenAccount{StreamId{}, 1});
    CHECK(testing_support::error_of(empty_stream).kind() == ErrorKind::validation);
    CHECK_THAT(empty_stream.error().message(), Catch::Contains("empty stream id"));

    CHECK(testing_support::error_of(executor.execute(OpenAccount{id("a"), -1})).kind() == ErrorKind::business_rule);
    CHECK(store.head().value() == GlobalPosition{0});
}

TEST_CASE("retry delays grow, cap and jitter as configured", "[executor]") {
    using std::chrono::microseconds;
    const RetryPolicy exp{.initial_delay = microseconds{100}, .max_delay = microseconds{1000}, .jitter = false};
    CHECK(exp.delay_after(1) == microseconds{100});
    CHECK(exp.delay_after(2) == microseconds{200});
    CHECK(exp.delay_after(4) == microseconds{800});
    CHECK(exp.delay_after(5) == microseconds{1000});
    CHECK(exp.delay_after(60) == microseconds{1000});
    const RetryPolicy fixed{.backoff = RetryPolicy::Backoff::fixed, .initial_delay = microseconds{300}, .jitter = false};
    CHECK(fixed.delay_after(7) == microseconds{300});
    RetryPolicy jittered = exp;
    jittered.jitter = true;
    bool varied = false;
    for (int i = 0; i < 100; ++i) {
        const auto d = jittered.delay_after(3);
        CHECK(d >= microseconds{0});
        CHECK(d <= microseconds{400});
        if (d != jittered.delay_after(3)) varied = true;
    }
    CHECK(varied);
}

namespace {
struct Look {
    StreamId account;
    using Event = BankEvent;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Look::account);
    void apply(State& n, const RecordedEvent<Event>&) const { ++n; }
    void handle(const State&, Context<Look>&) const {}
};
} // namespace

TEST_CASE("a command that writes nothing commits nothing", "[executor]") {
    Store store;
    CommandExecutor executor{store};
    open(executor, "a", 1);
    auto r = executor.execute(Look{id("a")});
    REQUIRE(r);
    CHECK(r->events.empty());
    CHECK(r->streams == std::vector<eventcore::StreamState>{{id("a"), StreamVersion{1}}});
    CHECK(store.head().value() == GlobalPosition{1});
}

namespace {

/// Pays the same amount from one account to each of a list of accounts: a `std::vector<StreamId>`
/// field declared in `streams` next to a single one.
struct PayEach {
    StreamId from_account;
    std::vector<StreamId> to_accounts;
    std::int64_t amount;

    struct State {
        std::map<StreamId, AccountState> accounts;
    };
    using Event = BankEvent;
    static constexpr std::string_view name = "PayEach";
    static constexpr auto streams = eventcore::streams(&PayEach::from_account, &PayEach::to_accounts);

    void apply(State& s, const eventcore::RecordedEvent<Event>& e) const { s.accounts[e.stream].apply(e.payload); }
    void handle(const State& s, eventcore::Context<PayEach>& ctx) const {
        const auto total = amount * static_cast<std::int64_t>(to_accounts.size());
        const auto from = s.accounts.find(from_account);
        ctx.require(from != s.accounts.end() && from->second.balance >= total, "insufficient funds in {}",
                    from_account);
        ctx.write<&PayEach::from_account>(MoneyWithdrawn{total});
        for (const auto& to : to_accounts) ctx.write(to, MoneyDeposited{amount});
    }
};
static_assert(eventcore::Command<PayEach>);

struct TouchAll {
    std::vector<StreamId> ids;
    struct State {};
    using Event = BankEvent;
    static constexpr std::string_view name = "TouchAll";
    static constexpr auto streams = eventcore::streams(&TouchAll::ids);
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
    void handle(const State&, eventcore::Context<TouchAll>& ctx) const {
        for (const auto& s : ids) ctx.write(s, MoneyDeposited{1});
    }
};
static_assert(eventcore::Command<TouchAll>);

} // namespace

TEST_CASE("a command may declare a list of streams", "[executor][streams]") {
    Store store;
    CommandExecutor executor{store};
    open(executor, "payer", 1000);
    open(executor, "a", 0);
    open(executor, "b", 0);
    open(executor, "c", 0);

    auto result = executor.execute(PayEach{id("payer"), {id("a"), id("b"), id("c")}, 100});
    REQUIRE(result);
    CHECK(result->attempts == 1);
    CHECK(result->events.size() == 4);
    CHECK(result->streams.size() == 4);
    CHECK(balance(store, id("payer")) == 700);
    for (const char* to : {"a", "b", "c"}) CHECK(balance(store, id(to)) == 100);

    SECTION("every listed stream is version-checked at commit") {
        InterferingStore interfering(store, 1, [](Store& s) {
            REQUIRE(eventcore::append_to_stream(s, id("c"), ExpectedVersion::any(), {MoneyDeposited{50}}));
        });
        CommandExecutor racing{interfering, {.retry = fast_retries()}};
        auto raced = racing.execute(PayEach{id("payer"), {id("b"), id("c")}, 10});
        REQUIRE(raced);
        CHECK(raced->attempts == 2);
        CHECK(balance(store, id("payer")) == 680);
        CHECK(balance(store, id("c")) == 160);
    }
    SECTION("a stream named twice is read and checked once") {
        auto twice = executor.execute(PayEach{id("payer"), {id("a"), id("a")}, 10});
        REQUIRE(twice);
        CHECK(twice->streams.size() == 2);
        CHECK(balance(store, id("a")) == 120);
    }
    SECTION("a list holding an empty stream id is a validation error that names the field") {
        auto bad = executor.execute(PayEach{id("payer"), {id("a"), StreamId{}}, 10});
        REQUIRE_FALSE(bad);
        CHECK(bad.error().kind() == ErrorKind::validation);
        CHECK_THAT(bad.error().message(), Catch::Contains("empty stream id"));
        CHECK(balance(store, id("payer")) == 700);
    }
}

TEST_CASE("a command whose only stream field is an empty list is a validation error", "[executor][streams]") {
    Store store;
    CommandExecutor executor{store};
    auto none = executor.execute(TouchAll{});
    REQUIRE_FALSE(none);
    CHECK(none.error().kind() == ErrorKind::validation);
    CHECK_THAT(none.error().message(), Catch::Contains("TouchAll declares no stream"));
    auto some = executor.execute(TouchAll{{id("x"), id("y")}});
    REQUIRE(some);
    CHECK(some->events.size() == 2);
}

namespace boxoffice {
struct AddFunds {};
template <class T>
struct Wrapped {};
} // namespace boxoffice
namespace {
struct Hidden {};
} // namespace

TEST_CASE("a command is named by its unqualified type name, the same with every compiler", "[executor]") {
    STATIC_REQUIRE(eventcore::detail::command_name<boxoffice::AddFunds>() == "AddFunds");
    STATIC_REQUIRE(eventcore::detail::command_name<Hidden>() == "Hidden"); // not "{anonymous}::Hidden"
    STATIC_REQUIRE(eventcore::detail::command_name<boxoffice::Wrapped<int>>() == "Wrapped<int>");
    struct Local {};
    STATIC_REQUIRE(eventcore::detail::command_name<Local>() == "Local");
    STATIC_REQUIRE(eventcore::detail::command_name<bank::OpenAccount>() == "OpenAccount");
}
