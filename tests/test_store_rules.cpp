// The rules every store applies to what it keeps as text and time, checked where events enter a
// store without a commit: imports (the stores' `import_events`, through `detail::check_import`).

#include <eventcore/sqlite/database.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using eventcore::ErrorKind;
using eventcore::GlobalPosition;
using eventcore::StreamVersion;

namespace {

auto archived(std::string type, eventcore::Timestamp at) -> eventcore::ArchivedEvent {
    eventcore::ArchivedEvent e{eventcore::StreamId::from_static("imported-1"),
                               StreamVersion{1},
                               GlobalPosition{1},
                               GlobalPosition{1},
                               std::move(type),
                               "{}",
                               {}};
    e.metadata.event_id = eventcore::Uuid::v7();
    e.metadata.recorded_at = at;
    return e;
}

auto import_one(eventcore::ArchivedEvent e) -> eventcore::Result<void> {
    auto db = eventcore::sqlite::Database::open(":memory:").value();
    std::vector<eventcore::ArchivedEvent> events{std::move(e)};
    auto r = db->import_events(events);
    if (r) return r;
    CHECK(db->head().value() == GlobalPosition{}); // nothing of a refused import is written
    return r;
}

} // namespace

TEST_CASE("an import is held to the rules of a commit, and to the years every store can keep", "[store]") {
    using namespace std::chrono;
    const auto year = [](int y) { return eventcore::Timestamp{sys_days{std::chrono::year{y} / 1 / 1}}; };
    CHECK(import_one(archived("Opened", year(2026))));
    CHECK(import_one(archived("Opened", year(1))));
    CHECK(import_one(archived("Opened", year(10000) - microseconds{1})));

    for (const auto at : {year(0), year(-44), year(10000)}) {
        const auto r = import_one(archived("Opened", at));
        REQUIRE_FALSE(r);
        CHECK(r.error().kind() == ErrorKind::validation);
        CHECK_THAT(r.error().message(), Catch::Contains("position 1") && Catch::Contains("0001 to 9999"));
    }
    for (const auto& type : {std::string("Op\0ened", 7), std::string("Op\xffned"), std::string()}) {
        const auto r = import_one(archived(type, year(2026)));
        REQUIRE_FALSE(r);
        CHECK(r.error().kind() == ErrorKind::validation);
        CHECK_THAT(r.error().message(), Catch::Contains("event type"));
    }
    auto bad_command = archived("Opened", year(2026));
    bad_command.metadata.command = std::string("Do\0It", 5);
    CHECK_FALSE(import_one(bad_command));
    auto bad_custom = archived("Opened", year(2026));
    bad_custom.metadata.custom = {{"k", "\xc3"}};
    CHECK_FALSE(import_one(bad_custom));
}
