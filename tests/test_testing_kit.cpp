// The testing kit: scenarios, describe, ChaosStore, ConflictingStore.

#include "support/bank.hpp"
#include "support/interfering_store.hpp"
#include "support/testing_kit_catch.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

using namespace bank;
using eventcore::CommandExecutor;
using eventcore::ErrorKind;
using eventcore::ExpectedVersion;
using eventcore::RetryPolicy;
using eventcore::testing::ChaosOptions;
using eventcore::testing::ChaosStore;
using eventcore::testing::ConflictingStore;
using eventcore::testing::describe;
using eventcore::testing::Scenario;

static_assert(eventcore::EventStore<ChaosStore<Store>>);
static_assert(eventcore::LiveEventStore<ChaosStore<Store>>);
static_assert(eventcore::LiveEventStore<ConflictingStore<Store>>);
static_assert(eventcore::EventStore<ChaosStore<ConflictingStore<Store>>>);
// A wrapper is the kind of store it wraps: not live over a store that is not.
static_assert(eventcore::EventStore<ChaosStore<testing_support::InterferingStore<Store>>>);
static_assert(!eventcore::LiveEventStore<ChaosStore<testing_support::InterferingStore<Store>>>);

namespace {

const auto alice = id("account-alice");
const auto bob = id("account-bob");

/// Plain aggregates, not registered with the codec: described by position (Boost.PFR).
struct Point {
    int x;
    int y;
};
struct Labelled {
    std::string label;
    Point at;
    std::vector<int> tags;
};

/// Reads an account and writes nothing.
struct CheckOpen {
    StreamId account;
    using Event = BankEvent;
    using State = AccountState;
    static constexpr auto streams = eventcore::streams(&CheckOpen::account);
    void apply(State& s, const RecordedEvent<Event>& e) const { s.apply(e.payload); }
    void handle(const State& s, Context<CheckOpen>& ctx) const { ctx.require(s.open, "{} is not open", account); }
};

auto no_wait(std::uint32_t attempts) -> RetryPolicy {
    return RetryPolicy{.max_attempts = attempts, .initial_delay = std::chrono::microseconds{0},
                       .max_delay = std::chrono::microseconds{0}, .jitter = false};
}

} // namespace

TEST_CASE("a scenario passes when the command writes exactly the expected events", "[testing][scenario]") {
    CHECK(Scenario<BankEvent>{}
              .given(alice, {AccountOpened{100}})
              .given(bob, {AccountOpened{0}})
              .when(TransferMoney{alice, bob, 30})
              .then({{alice, MoneyWithdrawn{30}}, {bob, MoneyDeposited{30}}}));
}

TEST_CASE("a scenario passes when the command fails with the expected kind and message", "[testing][scenario]") {
    const auto run = Scenario<BankEvent>{}
                         .given({{alice, AccountOpened{10}}, {bob, AccountOpened{0}}})
                         .when(TransferMoney{alice, bob, 30});
    CHECK(run.then_fails(ErrorKind::business_rule, "insufficient funds"));
    CHECK(run.then_fails(ErrorKind::business_rule));
    CHECK_FALSE(run.result().has_value());
    CHECK(run.written().empty());
}

TEST_CASE("a scenario passes then_nothing when the command commits without writing", "[testing][scenario]") {
    CHECK(Scenario<BankEvent>{}.given(alice, {AccountOpened{1}}).when(CheckOpen{alice}).then_nothing());
}

TEST_CASE("a failed scenario shows expected and actual events", "[testing][scenario]") {
    const auto run =
        Scenario<BankEvent>{}.given(alice, {AccountOpened{100}}).given(bob, {AccountOpened{0}}).when(
            TransferMoney{alice, bob, 30});

    SECTION("different events") {
        const auto outcome = run.then({{alice, MoneyWithdrawn{20}}, {bob, MoneyDeposited{20}}});
        REQUIRE_FALSE(outcome.passed());
        CHECK_THAT(outcome.message, Catch::Contains("TransferMoney: expected it to write these events:"));
        CHECK_THAT(outcome.message, Catch::Contains("#0 account-alice: MoneyWithdrawn{amount: 20}"));
        CHECK_THAT(outcome.message, Catch::Contains("but it wrote:\n  #0 account-alice: MoneyWithdrawn{amount: 30}"));
        CHECK_THAT(outcome.message, Catch::Contains("first difference at #0"));
    }
    SECTION("fewer events than written") {
        const auto outcome = run.then({{alice, MoneyWithdrawn{30}}});
        REQUIRE_FALSE(outcome.passed());
        CHECK_THAT(outcome.message, Catch::Contains("#1 account-bob: MoneyDeposited{amount: 30}"));
        CHECK_THAT(outcome.message, Catch::Contains("first difference at #1"));
    }
    SECTION("the right events on the wrong stream") {
        const auto outcome = run.then({{bob, MoneyWithdrawn{30}}, {alice, MoneyDeposited{30}}});
        REQUIRE_FALSE(outcome.passed());
    }
    SECTION("a failure was expected") {
        const auto outcome = run.then_fails(ErrorKind::business_rule);
        REQUIRE_FALSE(outcome.passed());
        CHECK_THAT(outcome.message,
                   Catch::Contains("expected a business_rule error, but it committed, writing:\n"
                                   "  #0 account-alice: MoneyWithdrawn{amount: 30}"));
    }
}

TEST_CASE("a failed scenario names the error that was not expected", "[testing][scenario]") {
    const auto run = Scenario<BankEvent>{}.given(alice, {AccountOpened{5}}).when(TransferMoney{alice, bob, 30});
    const auto wrong_kind = run.then_fails(ErrorKind::validation);
    REQUIRE_FALSE(wrong_kind.passed());
    CHECK_THAT(wrong_kind.message,
               Catch::Contains("expected a validation error, but it failed with business_rule: both accounts must be open"));
    const auto wrong_message = run.then_fails(ErrorKind::business_rule, "insufficient funds");
    REQUIRE_FALSE(wrong_message.passed());
    const auto events_expected = run.then({{alice, MoneyWithdrawn{30}}});
    REQUIRE_FALSE(events_expected.passed());
    CHECK_THAT(events_expected.message, Catch::Contains("but it failed with business_rule"));
}

TEST_CASE("describe shows events and fields readably", "[testing][describe]") {
    CHECK(describe(BankEvent{MoneyDeposited{30}}) == "MoneyDeposited{amount: 30}");
    CHECK(describe(Point{1, -2}) == "Point{1, -2}");
    CHECK(describe(Labelled{"a \"b\"\n", {3, 4}, {5, 6}}) == R"(Labelled{"a \"b\"\x0a", Point{3, 4}, [5, 6]})");
    CHECK(describe(std::optional<int>{}) == "nullopt");
    CHECK(describe(alice) == "account-alice");
    const eventcore::RecordedEvent<BankEvent> recorded{alice, eventcore::StreamVersion{2}, eventcore::GlobalPosition{7},
                                                       {}, MoneyWithdrawn{4}};
    CHECK(describe(recorded) == "account-alice@2: MoneyWithdrawn{amount: 4}");
}

TEST_CASE("ConflictingStore makes the first n appends conflict", "[testing][conflicting]") {
    Store memory;
    REQUIRE(eventcore::append_to_stream(memory, alice, ExpectedVersion::no_stream(), {AccountOpened{100}}));
    REQUIRE(eventcore::append_to_stream(memory, bob, ExpectedVersion::no_stream(), {AccountOpened{0}}));

    SECTION("fewer than the attempts allowed: committed on attempt n + 1, once") {
        ConflictingStore store{memory, 2};
        CommandExecutor executor{store, {.retry = no_wait(5)}};
        const auto result = executor.execute(TransferMoney{alice, bob, 30});
        REQUIRE(result);
        CHECK(result->attempts == 3);
        CHECK(store.appends() == 3);
        CHECK(store.conflicts() == 2);
        CHECK(store.conflicts_left() == 0);
        CHECK(balance(memory, alice) == 70);
        CHECK(balance(memory, bob) == 30);
    }
    SECTION("as many as the attempts allowed: concurrency_exhausted, nothing written") {
        ConflictingStore store{memory, 3};
        CommandExecutor executor{store, {.retry = no_wait(3)}};
        const auto result = executor.execute(TransferMoney{alice, bob, 30});
        const auto& error = testing_support::error_of(result);
        CHECK(error.kind() == ErrorKind::concurrency_exhausted);
        REQUIRE(error.conflicts().size() == 1);
        CHECK(error.conflicts()[0].stream == alice);
        CHECK(memory.head().value() == eventcore::GlobalPosition{2});
        CHECK(store.conflicts_left() == 0);
    }
}

TEST_CASE("ChaosStore validates its rates", "[testing][chaos]") {
    Store memory;
    CHECK_THROWS_AS(ChaosStore(memory, {.conflict_rate = 1.5}), eventcore::Exception);
    CHECK_THROWS_AS(ChaosStore(memory, {.transient_rate = -0.1}), eventcore::Exception);
    CHECK_THROWS_AS(ChaosStore(memory, {.conflict_rate = 0.6, .unavailable_rate = 0.6}), eventcore::Exception);
    CHECK_NOTHROW(ChaosStore(memory, {.conflict_rate = 0.5, .unavailable_rate = 0.5, .latency_rate = 1}));
}

TEST_CASE("ChaosStore injects each kind of fault, writing nothing", "[testing][chaos]") {
    Store memory;
    REQUIRE(eventcore::append_to_stream(memory, alice, ExpectedVersion::no_stream(), {AccountOpened{100}}));
    REQUIRE(eventcore::append_to_stream(memory, bob, ExpectedVersion::no_stream(), {AccountOpened{0}}));
    const auto transfer = TransferMoney{alice, bob, 30};

    SECTION("every append conflicts") {
        ChaosStore chaos{memory, {.conflict_rate = 1}};
        CommandExecutor executor{chaos, {.retry = no_wait(4)}};
        CHECK(testing_support::error_of(executor.execute(transfer)).kind() == ErrorKind::concurrency_exhausted);
        CHECK(chaos.counts().conflicts == 4);
        CHECK(chaos.counts().appends == 4);
    }
    SECTION("every append fails as unavailable: not retried") {
        ChaosStore chaos{memory, {.unavailable_rate = 1, .faults_on_reads = false}};
        CommandExecutor executor{chaos, {.retry = no_wait(4)}};
        const auto result = executor.execute(transfer);
        const auto& error = testing_support::error_of(result);
        CHECK(error.kind() == ErrorKind::store_unavailable);
        CHECK(error.code() == eventcore::testing::chaos_error_code);
        CHECK(chaos.counts().unavailable == 1);
    }
    SECTION("every read fails as transient: retried, then reported") {
        ChaosStore chaos{memory, {.transient_rate = 1}};
        CommandExecutor executor{chaos, {.retry = no_wait(3)}};
        CHECK(testing_support::error_of(executor.execute(transfer)).kind() == ErrorKind::transient);
        CHECK(chaos.counts().reads == 3);
        CHECK(chaos.counts().appends == 0);
        CHECK(chaos.counts().transient == 3);
    }
    CHECK(memory.head().value() == eventcore::GlobalPosition{2});
}

TEST_CASE("ChaosStore's in-doubt commits land, and a command id makes the retry find them", "[testing][chaos]") {
    Store memory;
    REQUIRE(eventcore::append_to_stream(memory, alice, ExpectedVersion::no_stream(), {AccountOpened{100}}));
    REQUIRE(eventcore::append_to_stream(memory, bob, ExpectedVersion::no_stream(), {AccountOpened{0}}));
    const auto command_id = eventcore::Uuid::v7();

    SECTION("one commit in doubt: the retry finds it") {
        ChaosStore chaos{memory, {.in_doubt_rate = 1, .max_faults = 1}};
        CommandExecutor executor{chaos, {.retry = no_wait(3)}};
        const auto result = executor.execute(TransferMoney{alice, bob, 30}, {.command_id = command_id});
        REQUIRE(result);
        CHECK_FALSE(result->duplicate); // this call's own commit, found: not an earlier execution's
        CHECK(result->attempts == 2);
        CHECK(chaos.counts().in_doubt == 1);
    }
    SECTION("every commit in doubt: the command says it may have committed, never that it conflicted") {
        ChaosStore chaos{memory, {.in_doubt_rate = 1}};
        CommandExecutor executor{chaos, {.retry = no_wait(3)}};
        const auto result = executor.execute(TransferMoney{alice, bob, 30}, {.command_id = command_id});
        const auto& error = testing_support::error_of(result);
        CHECK(error.kind() == ErrorKind::in_doubt);
        CHECK_THAT(error.message(), Catch::Contains("may have committed"));
    }
    SECTION("without a command id nobody can tell: the executor reports it at once") {
        ChaosStore chaos{memory, {.in_doubt_rate = 1}};
        CommandExecutor executor{chaos, {.retry = no_wait(3)}};
        CHECK(testing_support::error_of(executor.execute(TransferMoney{alice, bob, 30})).kind() == ErrorKind::in_doubt);
        CHECK(chaos.counts().appends == 1);
    }
    // In each case the transfer landed exactly once.
    CHECK(balance(memory, alice) == 70);
    CHECK(balance(memory, bob) == 30);
}

TEST_CASE("ChaosStore's max_faults stops the faults", "[testing][chaos]") {
    Store memory;
    ChaosStore chaos{memory, {.transient_rate = 1, .max_faults = 2}};
    for (int i = 0; i < 5; ++i)
        (void)eventcore::append_to_stream(chaos, alice, ExpectedVersion::any(), {MoneyDeposited{1}});
    CHECK(chaos.counts().transient == 2);
    CHECK(memory.head().value() == eventcore::GlobalPosition{3});
}

TEST_CASE("ChaosStore is repeatable: the same seed injects the same faults", "[testing][chaos]") {
    const ChaosOptions options{.seed = 7, .conflict_rate = 0.2, .unavailable_rate = 0.1, .transient_rate = 0.2};
    auto trace = [&](std::uint64_t seed) {
        Store memory;
        ChaosOptions o = options;
        o.seed = seed;
        ChaosStore chaos{memory, o};
        std::vector<int> kinds;
        for (int i = 0; i < 200; ++i) {
            auto r = eventcore::append_to_stream(chaos, alice, ExpectedVersion::any(), {MoneyDeposited{1}});
            kinds.push_back(r ? -1 : static_cast<int>(r.error().kind()));
        }
        return std::pair{kinds, chaos.counts().faults()};
    };
    const auto first = trace(7);
    CHECK(first == trace(7));
    CHECK(first != trace(8));
    // 50% faults over 200 draws: a count far from 100 would mean the rates are not applied.
    CHECK(first.second > 60);
    CHECK(first.second < 140);
}

TEST_CASE("transfers through a ChaosStore at high fault rates: each command commits or fails clearly, money is "
          "conserved",
          "[testing][chaos]") {
    Store memory;
    constexpr int accounts = 6;
    constexpr std::int64_t opening = 1000;
    for (int a = 0; a < accounts; ++a) {
        REQUIRE(eventcore::append_to_stream(memory, id(fmt::format("account-{}", a)), ExpectedVersion::no_stream(),
                                            {AccountOpened{opening}}));
    }
    ChaosStore chaos{memory, {.seed = 3, .conflict_rate = 0.2, .unavailable_rate = 0.05, .transient_rate = 0.2,
                              .in_doubt_rate = 0.1, .latency_rate = 0.2, .max_latency = std::chrono::microseconds{200}}};
    CommandExecutor executor{chaos, {.retry = no_wait(20)}};
    std::atomic<int> committed{0}, rejected{0}, unexpected{0};
    std::vector<std::vector<eventcore::Uuid>> ids(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                const int from = (t + i) % accounts;
                const int to = (from + 1 + i % (accounts - 1)) % accounts;
                ids[static_cast<std::size_t>(t)].push_back(eventcore::Uuid::v7());
                auto r = executor.execute(TransferMoney{id(fmt::format("account-{}", from)),
                                                        id(fmt::format("account-{}", to)), 1 + i % 7},
                                          {.command_id = ids[static_cast<std::size_t>(t)].back()});
                if (r) {
                    ++committed;
                } else if (r.error().is(ErrorKind::store_unavailable) || r.error().is(ErrorKind::transient) ||
                           r.error().is(ErrorKind::in_doubt) || r.error().is(ErrorKind::concurrency_exhausted) ||
                           r.error().is(ErrorKind::business_rule)) {
                    ++rejected;
                } else {
                    ++unexpected;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(unexpected == 0);
    CHECK(committed + rejected == 400);
    CHECK(committed > 0);
    CHECK(chaos.counts().faults() > 0);
    std::int64_t total = 0;
    for (int a = 0; a < accounts; ++a) total += balance(memory, id(fmt::format("account-{}", a)));
    CHECK(total == accounts * opening);
    // A command that failed after an in-doubt commit may have landed: the store knows by its id.
    // Each landed command wrote its two events once: none lost, none twice.
    std::uint64_t landed = 0;
    for (const auto& thread_ids : ids) {
        for (const auto& command : thread_ids) landed += memory.find_commit(command).value().has_value() ? 1U : 0U;
    }
    CHECK(landed >= static_cast<std::uint64_t>(committed.load()));
    CHECK(memory.head().value().value() == accounts + 2 * landed);
}

TEST_CASE("a projection runs through a ChaosStore", "[testing][chaos]") {
    Store memory;
    REQUIRE(eventcore::append_to_stream(memory, alice, ExpectedVersion::no_stream(), {AccountOpened{7}}));
    ChaosStore chaos{memory, {.latency_rate = 1, .max_latency = std::chrono::microseconds{50}}};
    struct Count {
        int seen = 0;
        void apply(const RecordedEvent<BankEvent>&) { ++seen; }
    } projector;
    eventcore::ProjectionRunner runner{chaos, projector, {.name = "count"}};
    REQUIRE(runner.catch_up());
    CHECK(projector.seen == 1);
    CHECK(chaos.counts().delays > 0);
}

namespace kit_codec {
// Registered with the JSON codec: a scenario sends these through it by default.
struct Measured {
    std::string sensor;
    double value;
    friend auto operator==(const Measured&, const Measured&) -> bool = default;
};
struct Noted {
    std::string text;
    friend auto operator==(const Noted&, const Noted&) -> bool = default;
};
} // namespace kit_codec
namespace kit_codec {
struct Plain {
    std::string text;
    friend auto operator==(const Plain&, const Plain&) -> bool = default;
};
} // namespace kit_codec

namespace kit_codec {
EVENTCORE_EVENT(Measured, sensor, value)
EVENTCORE_EVENT(Noted, text)

using Event = std::variant<Measured, Noted>;
using PlainEvent = std::variant<Plain>;

/// Records a reading, as given.
struct Record {
    StreamId sensor;
    double value;
    using Event = kit_codec::Event;
    struct State {};
    static constexpr auto streams = eventcore::streams(&Record::sensor);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<Record>& ctx) const { ctx.write<&Record::sensor>(Measured{sensor.str(), value}); }
};

/// Writes the note it was given.
struct Note {
    StreamId stream;
    std::string text;
    using Event = kit_codec::PlainEvent;
    struct State {};
    static constexpr auto streams = eventcore::streams(&Note::stream);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<Note>& ctx) const { ctx.write<&Note::stream>(Plain{text}); }
};

/// A codec that loses what follows the first 3 bytes of the text.
struct TruncatingCodec {
    [[nodiscard]] auto encode(const PlainEvent& e) const -> eventcore::Result<eventcore::EncodedEvent> {
        return eventcore::EncodedEvent{"Plain", std::get<Plain>(e).text.substr(0, 3)};
    }
    [[nodiscard]] auto decode(std::string_view, std::string_view payload) const -> eventcore::Result<PlainEvent> {
        return PlainEvent{Plain{std::string(payload)}};
    }
};
} // namespace kit_codec

TEST_CASE("a scenario sends its events through the store's codec: what a store could not keep fails it",
          "[testing][scenario]") {
    using kit_codec::Measured;
    const auto sensor = id("sensor-1");
    const std::string name = "sensor-1";

    // What the JSON codec keeps passes as before.
    CHECK(Scenario<kit_codec::Event>{}
              .given(sensor, {Measured{name, 1.5}})
              .when(kit_codec::Record{sensor, 2.25})
              .then({{sensor, Measured{name, 2.25}}}));

    // A written event the codec refuses: the in-memory store alone would take it.
    const auto nan = Scenario<kit_codec::Event>{}.when(kit_codec::Record{sensor, std::nan("")});
    CHECK(nan.result().has_value());
    const auto outcome = nan.then({{sensor, Measured{name, std::nan("")}}});
    REQUIRE_FALSE(outcome.passed());
    CHECK_THAT(outcome.message, Catch::Contains("written event #0 on stream 'sensor-1' cannot go through the store's "
                                                "codec") &&
                                    Catch::Contains("value: is nan"));
    CHECK_FALSE(nan.then_fails(ErrorKind::serialization).passed());

    // A given event the codec refuses.
    const auto given = Scenario<kit_codec::Event>{}
                           .given(sensor, {Measured{name, std::numeric_limits<double>::infinity()}})
                           .when(kit_codec::Record{sensor, 1});
    REQUIRE(given.codec_problem().has_value());
    CHECK_THAT(*given.codec_problem(), Catch::Contains("given event #0"));

    // Turned off, the in-memory store's view is all there is.
    CHECK(Scenario<kit_codec::Event>{}
              .without_codec()
              .when(kit_codec::Record{sensor, std::numeric_limits<double>::infinity()})
              .then({{sensor, Measured{name, std::numeric_limits<double>::infinity()}}}));
}

TEST_CASE("a scenario with a codec of its own fails when an event reads back different", "[testing][scenario]") {
    const auto stream = id("notes-1");
    // Unregistered types get no round trip by default.
    CHECK(Scenario<kit_codec::PlainEvent>{}.when(kit_codec::Note{stream, "hello"}).then({{stream, kit_codec::Plain{"hello"}}}));
    const auto run =
        Scenario<kit_codec::PlainEvent>{}.with_codec(kit_codec::TruncatingCodec{}).when(kit_codec::Note{stream, "hello"});
    const auto outcome = run.then({{stream, kit_codec::Plain{"hello"}}});
    REQUIRE_FALSE(outcome.passed());
    CHECK_THAT(outcome.message, Catch::Contains("reads back different") && Catch::Contains("\"hello\"") &&
                                    Catch::Contains("\"hel\""));
    CHECK(Scenario<kit_codec::PlainEvent>{}
              .with_codec(kit_codec::TruncatingCodec{})
              .when(kit_codec::Note{stream, "hey"})
              .then({{stream, kit_codec::Plain{"hey"}}}));
}
