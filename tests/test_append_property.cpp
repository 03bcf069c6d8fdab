// Whatever an append accepts reads back equal, and the stores agree on what they accept.

#include "support/append_property.hpp"

#include <eventcore/in_memory_event_store.hpp>
#include <eventcore/sqlite_event_store.hpp>

TEST_CASE("random commits: the in-memory and SQLite stores agree, and what they accept reads back equal",
          "[store][property]") {
    using append_property::Event;
    eventcore::InMemoryEventStore<Event> memory;
    auto sqlite = eventcore::SqliteEventStore<Event>::open(":memory:").value();
    const auto accepted = append_property::run(0x5EED0001, 600,
                                               append_property::Subject<eventcore::InMemoryEventStore<Event>>{
                                                   "memory", &memory, false},
                                               append_property::Subject<eventcore::SqliteEventStore<Event>>{
                                                   "sqlite", &sqlite, true});
    // The generator makes a mix: neither all refusals nor all acceptances.
    CHECK(accepted > 100);
    CHECK(accepted < 550);
}
