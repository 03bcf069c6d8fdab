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
