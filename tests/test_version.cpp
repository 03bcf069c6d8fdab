#include <eventcore/error.hpp>
#include <eventcore/version.hpp>

#include <catch2/catch.hpp>

using eventcore::ExpectedVersion;
using eventcore::StreamVersion;

TEST_CASE("expected versions match as documented", "[version]") {
    const StreamVersion empty{0};
    const StreamVersion three{3};
    CHECK(ExpectedVersion::any().matches(empty));
    CHECK(ExpectedVersion::any().matches(three));
    CHECK(ExpectedVersion::no_stream().matches(empty));
    CHECK_FALSE(ExpectedVersion::no_stream().matches(three));
    CHECK_FALSE(ExpectedVersion::stream_exists().matches(empty));
    CHECK(ExpectedVersion::stream_exists().matches(three));
    CHECK(ExpectedVersion::exact(three).matches(three));
    CHECK_FALSE(ExpectedVersion::exact(three).matches(StreamVersion{4}));
    CHECK(ExpectedVersion::exact(empty).matches(empty));
}

TEST_CASE("versions, expectations and errors format for people", "[version]") {
    CHECK(fmt::format("{}", StreamVersion{7}) == "7");
    CHECK(fmt::format("{}", ExpectedVersion::exact(StreamVersion{7})) == "exactly 7");
    CHECK(fmt::format("{}", ExpectedVersion::no_stream()) == "no stream");
    const auto conflict = eventcore::Error::conflict(
        {{eventcore::StreamId::from_static("account-1"), ExpectedVersion::exact(StreamVersion{3}), StreamVersion{4}}});
    CHECK(conflict.kind() == eventcore::ErrorKind::version_conflict);
    CHECK(fmt::format("{}", conflict) ==
          "version_conflict: stream 'account-1' expected exactly 3, actual version 4");
    REQUIRE(conflict.conflicts().size() == 1);
    CHECK(conflict.conflicts()[0].actual == StreamVersion{4});
}
