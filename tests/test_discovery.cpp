#include "support/bank.hpp"
#include "support/interfering_store.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <string>
#include <vector>

using eventcore::CommandExecutor;
using eventcore::Context;
using eventcore::ErrorKind;
using eventcore::ExpectedVersion;
using eventcore::RecordedEvent;
using eventcore::StreamId;
using eventcore::StreamVersion;

namespace {

struct ItemAdded {
    std::string product;
    int quantity;
};
struct Restocked {
    int quantity;
};
struct Reserved {
    int quantity;
};
struct CheckedOut {};
using ShopEvent = std::variant<ItemAdded, Restocked, Reserved, CheckedOut>;
using Store = eventcore::InMemoryEventStore<ShopEvent>;

auto id(std::string_view text) -> StreamId { return StreamId::parse(text).value(); }

struct ShopState {
    std::map<std::string, int> cart;
    std::map<std::string, int> stock; // by product stream
    bool checked_out = false;
};

/// Reserves stock for every item in the cart: the product streams come from the cart.
struct Checkout {
    StreamId cart;
    std::atomic<int>* handle_calls = nullptr;

    using Event = ShopEvent;
    using State = ShopState;
    static constexpr auto streams = eventcore::streams(&Checkout::cart);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        if (e.stream == cart) {
            if (const auto* item = std::get_if<ItemAdded>(&e.payload)) s.cart[item->product] += item->quantity;
            if (std::holds_alternative<CheckedOut>(e.payload)) s.checked_out = true;
            return;
        }
        auto& stock = s.stock[e.stream.str()];
        if (const auto* r = std::get_if<Restocked>(&e.payload)) stock += r->quantity;
        if (const auto* r = std::get_if<Reserved>(&e.payload)) stock -= r->quantity;
    }

    void handle(const State& s, Context<Checkout>& ctx) const {
        if (handle_calls) ++*handle_calls;
        ctx.require(!s.checked_out, "cart {} is already checked out", cart);
        ctx.require(!s.cart.empty(), "cart {} is empty", cart);
        for (const auto& [product, quantity] : s.cart) {
            const auto stream = StreamId(fmt::format("product-{}", product));
            ctx.add_stream(stream);
            const auto it = s.stock.find(stream.str());
            const int available = it == s.stock.end() ? 0 : it->second;
            // In the first round the product streams are not read yet: this fails, and the
            // executor runs the command again once they are.
            ctx.require(available >= quantity, "insufficient stock of {}: {} < {}", product, available, quantity);
            ctx.write(stream, Reserved{quantity});
        }
        ctx.write<&Checkout::cart>(CheckedOut{});
    }
};
static_assert(eventcore::Command<Checkout>);

void seed_shop(Store& store) {
    REQUIRE(eventcore::append_to_stream(store, id("cart-1"), ExpectedVersion::no_stream(),
                                        {ItemAdded{"apple", 2}, ItemAdded{"pear", 1}}));
    REQUIRE(eventcore::append_to_stream(store, id("product-apple"), ExpectedVersion::no_stream(), {Restocked{5}}));
    REQUIRE(eventcore::append_to_stream(store, id("product-pear"), ExpectedVersion::no_stream(), {Restocked{1}}));
}

auto stock(const Store& store, std::string_view product) -> int {
    int n = 0;
    const auto events = eventcore::load_stream(store, id(fmt::format("product-{}", product))).value();
    for (const auto& e : events) {
        if (const auto* r = std::get_if<Restocked>(&e.payload)) n += r->quantity;
        if (const auto* r = std::get_if<Reserved>(&e.payload)) n -= r->quantity;
    }
    return n;
}

} // namespace

TEST_CASE("discovered streams are read, folded and written in a second round", "[discovery]") {
    Store store;
    seed_shop(store);
    CommandExecutor executor{store};
    std::atomic<int> calls{0};
    auto r = executor.execute(Checkout{id("cart-1"), &calls});
    REQUIRE(r);
    // `require` stops a round at the first product it cannot check yet: round 1 discovers the
    // apples, round 2 the pears, round 3 decides with everything read.
    CHECK(calls == 3);
    CHECK(stock(store, "apple") == 3);
    CHECK(stock(store, "pear") == 0);
    REQUIRE(r->streams.size() == 3);
    CHECK(r->streams[0].stream == id("cart-1"));
    CHECK(r->streams[1] == eventcore::StreamState{id("product-apple"), StreamVersion{2}});
    CHECK(r->events.size() == 3);

    SECTION("a business rule that holds with all streams read still fails cleanly") {
        auto again = executor.execute(Checkout{id("cart-1"), &calls});
        REQUIRE_FALSE(again);
        CHECK(again.error().message() == "cart cart-1 is already checked out");
    }
}

TEST_CASE("a failed rule in the last round is reported; nothing is written", "[discovery]") {
    Store store;
    seed_shop(store);
    REQUIRE(eventcore::append_to_stream(store, id("cart-1"), ExpectedVersion::any(), {ItemAdded{"pear", 1}}));
    CommandExecutor executor{store};
    auto r = executor.execute(Checkout{id("cart-1")});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == ErrorKind::business_rule);
    CHECK(r.error().message() == "insufficient stock of pear: 1 < 2");
    CHECK(store.head().value() == eventcore::GlobalPosition{5});
}

TEST_CASE("discovered streams are version-checked at commit", "[discovery]") {
    Store inner;
    seed_shop(inner);
    // Someone reserves the last pear between our read and our commit.
    testing_support::InterferingStore store(inner, 1, [](Store& s) {
        REQUIRE(eventcore::append_to_stream(s, id("product-pear"), ExpectedVersion::any(), {Reserved{1}}));
    });
    CommandExecutor executor{store, {.retry = eventcore::RetryPolicy{.initial_delay = std::chrono::microseconds{1}}}};
    auto r = executor.execute(Checkout{id("cart-1")});
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "insufficient stock of pear: 0 < 1");
    CHECK(store.appends() == 1);
    CHECK(stock(inner, "apple") == 5);
}

namespace {
/// Each round asks for one more stream: it never settles.
struct Endless {
    StreamId start;
    using Event = ShopEvent;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Endless::start);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<Endless>& ctx) const {
        ctx.add_stream(fmt::format("next-{}", ctx.streams().size()));
        ctx.write<&Endless::start>(CheckedOut{});
    }
};

/// Asks for `count` streams at once.
struct Wide {
    StreamId start;
    int count;
    using Event = ShopEvent;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Wide::start);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<Wide>& ctx) const {
        std::vector<std::string> names;
        for (int i = 0; i < count; ++i) names.push_back(fmt::format("wide-{}", i));
        ctx.add_streams(names);
        ctx.write<&Wide::start>(CheckedOut{});
    }
};
} // namespace

TEST_CASE("discovery is bounded in rounds and in streams", "[discovery]") {
    Store store;
    CommandExecutor executor{store, {.max_streams = 10, .max_discovery_rounds = 4}};

    auto endless = executor.execute(Endless{id("start")});
    REQUIRE_FALSE(endless);
    CHECK(endless.error().kind() == ErrorKind::discovery_limit);
    CHECK_THAT(endless.error().message(), Catch::Contains("more than 4 rounds") &&
                                              Catch::Contains("max_discovery_rounds") && Catch::Contains("'next-5'"));

    CHECK(executor.execute(Wide{id("start"), 9}));
    auto wide = executor.execute(Wide{id("start"), 10});
    REQUIRE_FALSE(wide);
    CHECK(wide.error().kind() == ErrorKind::too_many_streams);
    CHECK_THAT(wide.error().message(), Catch::Contains("limit of 10") && Catch::Contains("'wide-9'"));
    CHECK(store.head().value() == eventcore::GlobalPosition{1}); // only the 9-stream command wrote
}

namespace {
/// Adds the products from a resolver hook, so `handle` runs once, with everything read.
struct CheckoutWithResolver {
    StreamId cart;
    std::atomic<int>* handle_calls = nullptr;

    using Event = ShopEvent;
    using State = ShopState;
    static constexpr auto streams = eventcore::streams(&CheckoutWithResolver::cart);

    void apply(State& s, const RecordedEvent<Event>& e) const { Checkout{cart}.apply(s, e); }
    void resolve(const State& s, eventcore::StreamResolver& resolver) const {
        for (const auto& entry : s.cart) resolver.add_stream(fmt::format("product-{}", entry.first));
    }
    void handle(const State& s, Context<CheckoutWithResolver>& ctx) const {
        ++*handle_calls;
        for (const auto& [product, quantity] : s.cart) {
            const auto stream = StreamId(fmt::format("product-{}", product));
            ctx.require(ctx.has_read(stream), "resolver should have added {}", stream);
            ctx.require(s.stock.at(stream.str()) >= quantity, "insufficient stock of {}", product);
            ctx.write(stream, Reserved{quantity});
        }
    }
};
static_assert(eventcore::HasResolver<CheckoutWithResolver>);
} // namespace

TEST_CASE("a resolver hook adds streams before handle runs", "[discovery]") {
    Store store;
    seed_shop(store);
    CommandExecutor executor{store};
    std::atomic<int> calls{0};
    auto r = executor.execute(CheckoutWithResolver{id("cart-1"), &calls});
    REQUIRE(r);
    CHECK(calls == 1);
    CHECK(stock(store, "apple") == 3);
}

namespace {
struct BadName {
    StreamId start;
    using Event = ShopEvent;
    using State = int;
    static constexpr auto streams = eventcore::streams(&BadName::start);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<BadName>& ctx) const { ctx.add_stream("product-*"); }
};
} // namespace

TEST_CASE("an invalid discovered stream id is a validation error", "[discovery]") {
    Store store;
    CommandExecutor executor{store};
    auto r = executor.execute(BadName{id("start")});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == ErrorKind::validation);
    CHECK_THAT(r.error().message(), Catch::Contains("product-*"));
}
