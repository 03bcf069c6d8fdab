#include <eventcore/eventcore.hpp>
#include <eventcore/match.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace {

struct Opened {
    std::int64_t initial;
};
struct Deposited {
    std::int64_t amount;
};
struct Withdrawn {
    std::int64_t amount;
};
struct Renamed {
    std::string name;
};
using AccountEvent = std::variant<Opened, Deposited, Withdrawn, Renamed>;

auto delta(const AccountEvent& e) -> std::int64_t {
    return eventcore::match(
        e, [](const Opened& o) { return o.initial; }, [](const Deposited& d) { return d.amount; },
        [](const Withdrawn& w) { return -w.amount; }, eventcore::otherwise([] { return std::int64_t{0}; }));
}

struct Account {
    std::int64_t balance = 0;
    std::string name;
    int events = 0;
};

// A command whose apply is a match over every event type, as the examples write it.
struct Spend {
    eventcore::StreamId account;
    std::int64_t amount;

    using Event = AccountEvent;
    using State = Account;
    static constexpr auto streams = eventcore::streams(&Spend::account);

    void apply(State& s, const eventcore::RecordedEvent<Event>& e) const {
        ++s.events;
        eventcore::match(
            e.payload, [&](const Opened& o) { s.balance = o.initial; },
            [&](const Deposited& d) { s.balance += d.amount; }, [&](const Withdrawn& w) { s.balance -= w.amount; },
            [&](const Renamed& r) { s.name = r.name; });
    }

    void handle(const State& s, eventcore::Context<Spend>& ctx) const {
        ctx.require(s.balance >= amount, "{} has {}, less than {}", s.name, s.balance, amount);
        ctx.write<&Spend::account>(Withdrawn{amount});
    }
};

struct Base {
    int value;
};
struct Derived : Base {};
using Hierarchy = std::variant<Derived, Renamed>;

} // namespace

TEST_CASE("match calls the handler of the alternative held, and returns its result", "[match]") {
    CHECK(delta(Opened{100}) == 100);
    CHECK(delta(Deposited{30}) == 30);
    CHECK(delta(Withdrawn{20}) == -20);
    CHECK(delta(Renamed{"savings"}) == 0); // otherwise
}

TEST_CASE("match folds a command's events in the executor", "[match]") {
    eventcore::InMemoryEventStore<AccountEvent> store;
    eventcore::CommandExecutor executor{store};
    const auto account = eventcore::StreamId::from_static("account-1");
    auto seeded = eventcore::append_to_stream(store, account, eventcore::ExpectedVersion::no_stream(),
                                              {Opened{100}, Renamed{"savings"}, Deposited{50}, Withdrawn{30}});
    REQUIRE(seeded);

    auto spent = executor.execute(Spend{account, 120});
    REQUIRE(spent);
    auto refused = executor.execute(Spend{account, 1});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind() == eventcore::ErrorKind::business_rule);
    // The message is built from the state match folded: the name, and 100 + 50 - 30 - 120.
    CHECK(refused.error().message().find("savings has 0, less than 1") != std::string::npos);
}

TEST_CASE("otherwise is called only for the event types no handler takes", "[match]") {
    std::vector<std::string> calls;
    const auto record = [&](const AccountEvent& e) {
        eventcore::match(
            e, [&](const Deposited&) { calls.emplace_back("deposited"); },
            eventcore::otherwise([&](const auto& other) {
                calls.emplace_back(std::is_same_v<std::decay_t<decltype(other)>, Renamed> ? "other renamed"
                                                                                           : "other");
            }));
    };
    record(Deposited{1});
    record(Renamed{"x"});
    record(Withdrawn{1});
    CHECK(calls == std::vector<std::string>{"deposited", "other renamed", "other"});
}

TEST_CASE("otherwise never competes with a handler that takes the event by a conversion", "[match]") {
    // In a plain overload set, a generic `const auto&` is an exact match for Derived and would
    // beat the handler of its base class. The fallback is only asked about what no handler takes.
    const auto which = [](const Hierarchy& h) {
        return eventcore::match(
            h, [](const Base& b) { return b.value; }, eventcore::otherwise([](const auto&) { return -1; }));
    };
    CHECK(which(Derived{{7}}) == 7);
    CHECK(which(Renamed{"x"}) == -1);
}

TEST_CASE("a generic handler is instantiated only for the event types it is chosen for", "[match]") {
    // The generic handler's body does not compile for Opened or Renamed (no `amount`), as with std::visit.
    const auto amount = [](const AccountEvent& e) -> std::int64_t {
        return eventcore::match(
            e, [](const Opened& o) { return o.initial; }, [](const Renamed&) { return std::int64_t{0}; },
            [](const auto& movement) { return movement.amount; });
    };
    CHECK(amount(Opened{5}) == 5);
    CHECK(amount(Withdrawn{9}) == 9);
    CHECK(amount(Renamed{"x"}) == 0);
}

TEST_CASE("match keeps the variant's constness and value category", "[match]") {
    AccountEvent mutable_event = Deposited{10};
    eventcore::match(
        mutable_event, [](Deposited& d) { d.amount *= 2; }, eventcore::otherwise([](auto&) {}));
    CHECK(std::get<Deposited>(mutable_event).amount == 20);

    AccountEvent named = Renamed{std::string(100, 'n')};
    std::string taken = eventcore::match(
        std::move(named), [](Renamed&& r) { return std::move(r.name); },
        eventcore::otherwise([](auto&&) { return std::string{}; }));
    CHECK(taken == std::string(100, 'n'));

    // A handler may return a reference into the event.
    const AccountEvent held = Renamed{"held"};
    const std::string& name = eventcore::match(
        held, [](const Renamed& r) -> const std::string& { return r.name; },
        eventcore::otherwise([](const auto&) -> const std::string& {
            static const std::string none;
            return none;
        }));
    CHECK(&name == &std::get<Renamed>(held).name);
}

TEST_CASE("match takes a single event type as a variant of one", "[match]") {
    const Deposited single{4};
    CHECK(eventcore::match(single, [](const Deposited& d) { return d.amount; }) == 4);
}

TEST_CASE("match is usable in constant expressions", "[match]") {
    constexpr auto twice = [](std::variant<int, char> v) {
        return eventcore::match(
            v, [](int i) { return 2 * i; }, [](char c) { return static_cast<int>(c); });
    };
    STATIC_REQUIRE(twice(21) == 42);
    STATIC_REQUIRE(twice('a') == 97);
}
