#include "support/bank.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace bank;
using eventcore::AppendRequest;
using eventcore::ErrorKind;
using eventcore::ExpectedVersion;
using eventcore::GlobalPosition;
using eventcore::LogQuery;
using eventcore::StreamVersion;

namespace {
auto transfer_request(const StreamId& from, StreamVersion vf, const StreamId& to, StreamVersion vt, std::int64_t amount)
    -> AppendRequest<BankEvent> {
    AppendRequest<BankEvent> r;
    r.expectations = {{from, ExpectedVersion::exact(vf)}, {to, ExpectedVersion::exact(vt)}};
    r.events.push_back({from, MoneyWithdrawn{amount}, {}});
    r.events.push_back({to, MoneyDeposited{amount}, {}});
    return r;
}
} // namespace

TEST_CASE("appended events read back with versions, positions and metadata", "[store]") {
    Store store;
    const auto a = id("a");
    const auto before = eventcore::now();
    auto receipt = eventcore::append_to_stream(store, a, ExpectedVersion::no_stream(),
                                               {AccountOpened{100}, MoneyDeposited{5}});
    REQUIRE(receipt);
    REQUIRE(receipt->events.size() == 2);
    CHECK(receipt->events[0].version == StreamVersion{1});
    CHECK(receipt->events[1].position == GlobalPosition{2});
    CHECK(receipt->streams == std::vector<eventcore::StreamState>{{a, StreamVersion{2}}});

    auto events = eventcore::load_stream(store, a).value();
    REQUIRE(events.size() == 2);
    CHECK(events[0].payload == BankEvent{AccountOpened{100}});
    CHECK(events[1].payload == BankEvent{MoneyDeposited{5}});
    CHECK(events[0].stream == a);
    CHECK(events[1].version == StreamVersion{2});
    CHECK(events[0].metadata.event_id.version() == 7);
    CHECK(events[0].metadata.event_id < events[1].metadata.event_id);
    CHECK(events[0].metadata.event_id == receipt->events[0].event_id);
    CHECK(events[0].metadata.recorded_at >= before);
    CHECK(store.head().value() == GlobalPosition{2});
}

TEST_CASE("an unknown stream reads as empty at version 0", "[store]") {
    Store store;
    int seen = 0;
    auto v = store.read_stream(id("nothing"), StreamVersion{1}, [&](const auto&) { ++seen; });
    REQUIRE(v);
    CHECK(v->is_zero());
    const std::vector<StreamId> ids{id("x"), id("y")};
    auto vs = store.read_streams(ids, [&](const auto&) { ++seen; });
    REQUIRE(vs);
    CHECK(*vs == std::vector<StreamVersion>{StreamVersion{0}, StreamVersion{0}});
    CHECK(seen == 0);
}

TEST_CASE("a stale expected version is a conflict naming stream, expected and actual", "[store]") {
    Store store;
    const auto a = id("a");
    REQUIRE(eventcore::append_to_stream(store, a, ExpectedVersion::any(), {AccountOpened{1}, MoneyDeposited{1}}));
    auto stale = eventcore::append_to_stream(store, a, ExpectedVersion::exact(StreamVersion{1}), {MoneyDeposited{1}});
    REQUIRE_FALSE(stale);
    CHECK(stale.error().kind() == ErrorKind::version_conflict);
    REQUIRE(stale.error().conflicts().size() == 1);
    CHECK(stale.error().conflicts()[0] ==
          eventcore::VersionConflict{a, ExpectedVersion::exact(StreamVersion{1}), StreamVersion{2}});
    CHECK_THAT(stale.error().message(), Catch::Contains("'a'") && Catch::Contains("exactly 1") &&
                                            Catch::Contains("actual version 2"));
}

TEST_CASE("expected version kinds: any, no_stream, stream_exists, exact", "[store]") {
    Store store;
    const auto a = id("a");
    CHECK(eventcore::append_to_stream(store, a, ExpectedVersion::stream_exists(), {MoneyDeposited{1}}).error().kind() ==
          ErrorKind::version_conflict);
    CHECK(eventcore::append_to_stream(store, a, ExpectedVersion::no_stream(), {AccountOpened{1}}));
    CHECK_FALSE(eventcore::append_to_stream(store, a, ExpectedVersion::no_stream(), {AccountOpened{1}}));
    CHECK(eventcore::append_to_stream(store, a, ExpectedVersion::stream_exists(), {MoneyDeposited{1}}));
    CHECK(eventcore::append_to_stream(store, a, ExpectedVersion::any(), {MoneyDeposited{1}}));
    CHECK(eventcore::append_to_stream(store, a, ExpectedVersion::exact(StreamVersion{3}), {MoneyDeposited{1}}));
    CHECK(eventcore::load_stream(store, a)->size() == 4);
}

TEST_CASE("a conflict on one stream of a multi-stream commit writes nothing anywhere", "[store]") {
    Store store;
    const auto a = id("a");
    const auto b = id("b");
    REQUIRE(eventcore::append_to_stream(store, a, ExpectedVersion::no_stream(), {AccountOpened{100}}));
    REQUIRE(eventcore::append_to_stream(store, b, ExpectedVersion::no_stream(), {AccountOpened{100}}));
    // `a` is where the commit expects; `b` is not.
    auto r = store.append(transfer_request(a, StreamVersion{1}, b, StreamVersion{0}, 10));
    REQUIRE_FALSE(r);
    REQUIRE(r.error().conflicts().size() == 1);
    CHECK(r.error().conflicts()[0].stream == b);
    CHECK(eventcore::load_stream(store, a)->size() == 1);
    CHECK(eventcore::load_stream(store, b)->size() == 1);
    CHECK(store.head().value() == GlobalPosition{2});
}

TEST_CASE("read-only participants are checked: stale rejects, current lets through", "[store]") {
    Store store;
    const auto a = id("a");
    const auto b = id("b");
    const auto rules = id("rules");
    REQUIRE(eventcore::append_to_stream(store, rules, ExpectedVersion::no_stream(), {LimitSet{50}, LimitSet{40}}));

    auto stale = transfer_request(a, StreamVersion{0}, b, StreamVersion{0}, 10);
    stale.expectations.push_back({rules, ExpectedVersion::exact(StreamVersion{1})});
    auto rejected = store.append(std::move(stale));
    REQUIRE_FALSE(rejected);
    CHECK(rejected.error().conflicts()[0].stream == rules);
    CHECK(store.head().value() == GlobalPosition{2});

    auto current = transfer_request(a, StreamVersion{0}, b, StreamVersion{0}, 10);
    current.expectations.push_back({rules, ExpectedVersion::exact(StreamVersion{2})});
    auto accepted = store.append(std::move(current));
    REQUIRE(accepted);
    CHECK(accepted->streams.back() == eventcore::StreamState{rules, StreamVersion{2}});
    CHECK(eventcore::load_stream(store, rules)->size() == 2); // checked, not written
}

TEST_CASE("an empty commit still checks its versions", "[store]") {
    Store store;
    const auto a = id("a");
    REQUIRE(eventcore::append_to_stream(store, a, ExpectedVersion::no_stream(), {AccountOpened{1}}));
    AppendRequest<BankEvent> stale;
    stale.expectations = {{a, ExpectedVersion::exact(StreamVersion{0})}};
    CHECK(store.append(std::move(stale)).error().kind() == ErrorKind::version_conflict);
    AppendRequest<BankEvent> current;
    current.expectations = {{a, ExpectedVersion::exact(StreamVersion{1})}};
    auto ok = store.append(std::move(current));
    REQUIRE(ok);
    CHECK(ok->events.empty());
    CHECK(store.head().value() == GlobalPosition{1});
}

TEST_CASE("malformed commits are refused with a message naming the problem", "[store]") {
    Store store;
    AppendRequest<BankEvent> unexpected_stream;
    unexpected_stream.expectations = {{id("a"), ExpectedVersion::any()}};
    unexpected_stream.events.push_back({id("b"), MoneyDeposited{1}, {}});
    auto r1 = store.append(std::move(unexpected_stream));
    REQUIRE_FALSE(r1);
    CHECK(r1.error().kind() == ErrorKind::validation);
    CHECK_THAT(r1.error().message(), Catch::Contains("'b'") && Catch::Contains("without an expectation"));

    AppendRequest<BankEvent> twice;
    twice.expectations = {{id("a"), ExpectedVersion::any()}, {id("a"), ExpectedVersion::no_stream()}};
    auto r2 = store.append(std::move(twice));
    CHECK_THAT(r2.error().message(), Catch::Contains("twice"));

    AppendRequest<BankEvent> empty_id;
    empty_id.expectations = {{StreamId{}, ExpectedVersion::any()}};
    CHECK_THAT(store.append(std::move(empty_id)).error().message(), Catch::Contains("empty stream id"));
    CHECK(store.head().value() == GlobalPosition{0});
}

TEST_CASE("the global log is in commit order, gap-free, each commit contiguous", "[store]") {
    Store store;
    const auto a = id("a");
    const auto b = id("b");
    REQUIRE(store.append(transfer_request(a, StreamVersion{0}, b, StreamVersion{0}, 1)));
    REQUIRE(eventcore::append_to_stream(store, a, ExpectedVersion::any(), {MoneyDeposited{2}}));
    REQUIRE(store.append(transfer_request(a, StreamVersion{2}, b, StreamVersion{1}, 3)));

    auto log = eventcore::load_log(store).value();
    REQUIRE(log.size() == 5);
    for (std::size_t i = 0; i < log.size(); ++i) CHECK(log[i].position == GlobalPosition{i + 1});
    CHECK(log[0].stream == a);
    CHECK(log[1].stream == b);
    CHECK(log[2].payload == BankEvent{MoneyDeposited{2}});
    CHECK(log[3].metadata.recorded_at == log[4].metadata.recorded_at);

    SECTION("reading after a position excludes it") {
        auto tail = eventcore::load_log(store, LogQuery{.after = GlobalPosition{3}}).value();
        REQUIRE(tail.size() == 2);
        CHECK(tail[0].position == GlobalPosition{4});
    }
    SECTION("a limited page never splits a commit") {
        std::size_t count = 0;
        auto page = store.read_all(LogQuery{.after = GlobalPosition{}, .limit = 1}, [&](const auto&) { ++count; });
        REQUIRE(page);
        CHECK(count == 2); // the first commit has two events
        CHECK(page->last == GlobalPosition{2});
        CHECK(page->head == GlobalPosition{5});
        auto next = store.read_all(LogQuery{.after = page->last, .limit = 1}, [](const auto&) {});
        CHECK(next->count == 1);
        CHECK(next->last == GlobalPosition{3});
    }
}

TEST_CASE("one stream reads from a version", "[store]") {
    Store store;
    const auto a = id("a");
    REQUIRE(eventcore::append_to_stream(store, a, ExpectedVersion::any(),
                                        {AccountOpened{0}, MoneyDeposited{1}, MoneyDeposited{2}, MoneyDeposited{3}}));
    auto from3 = eventcore::load_stream(store, a, StreamVersion{3}).value();
    REQUIRE(from3.size() == 2);
    CHECK(from3[0].version == StreamVersion{3});
    CHECK(eventcore::load_stream(store, a, StreamVersion{9})->empty());
}

TEST_CASE("a command id commits once; a repeat returns the first receipt", "[store]") {
    Store store;
    const auto a = id("a");
    const auto command = eventcore::Uuid::v7();
    auto first = eventcore::append_to_stream(store, a, ExpectedVersion::any(), {MoneyDeposited{1}}, command);
    REQUIRE(first);
    CHECK_FALSE(first->duplicate);
    auto again = eventcore::append_to_stream(store, a, ExpectedVersion::no_stream(), {MoneyDeposited{1}}, command);
    REQUIRE(again);
    CHECK(again->duplicate);
    CHECK(again->events == first->events);
    CHECK(eventcore::load_stream(store, a)->size() == 1);
    auto found = store.find_commit(command).value();
    REQUIRE(found);
    CHECK(found->events == first->events);
    CHECK_FALSE(store.find_commit(eventcore::Uuid::v7()).value());
}

TEST_CASE("a snapshot of several streams never holds half a commit", "[store][concurrency]") {
    Store store;
    const auto a = id("a");
    const auto b = id("b");
    const std::vector<StreamId> both{a, b};
    std::atomic<bool> done{false};
    std::atomic<long> torn{0};
    std::atomic<long> reads{0};

    std::thread writer([&] {
        for (std::uint64_t v = 0; v < 20'000; ++v) {
            auto r = store.append(transfer_request(a, StreamVersion{v}, b, StreamVersion{v}, 1));
            if (!r) {
                torn = -1'000'000; // a commit of the only writer must not fail
                break;
            }
        }
        done = true;
    });
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
        readers.emplace_back([&] {
            while (!done) {
                std::int64_t sum = 0;
                std::size_t events = 0;
                auto versions = store.read_streams(both, [&](const auto& e) {
                    sum += balance_delta(e.payload);
                    ++events;
                });
                if (!versions || (*versions)[0] != (*versions)[1] || sum != 0 || events != 2 * (*versions)[0].value())
                    ++torn;
                ++reads;
            }
        });
    }
    writer.join();
    for (auto& r : readers) r.join();
    CHECK(torn == 0);
    CHECK(reads > 0);
}

TEST_CASE("a stream's version is known without reading its events", "[store]") {
    Store store;
    const auto a = id("a");
    CHECK(eventcore::stream_version(store, a).value() == StreamVersion{0});
    REQUIRE(eventcore::append_to_stream(store, a, ExpectedVersion::any(), {AccountOpened{0}, MoneyDeposited{1}}));
    CHECK(eventcore::stream_version(store, a).value() == StreamVersion{2});
}

TEST_CASE("value_or_throw keeps the error's message", "[store]") {
    Store store;
    const auto a = id("a");
    CHECK(eventcore::value_or_throw(eventcore::append_to_stream(store, a, ExpectedVersion::no_stream(),
                                                                {AccountOpened{0}}))
              .events.size() == 1);
    CHECK_THROWS_WITH(eventcore::value_or_throw(
                          eventcore::append_to_stream(store, a, ExpectedVersion::no_stream(), {AccountOpened{0}})),
                      "version_conflict: stream 'a' expected no stream, actual version 1");
}
