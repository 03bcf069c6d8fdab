#pragma once
/// \file
/// The contract every `EventStore` keeps, as cases that run against any store: the library's
/// own stores pass them, and so can yours.
///
/// \code
/// // With Catch2 (any framework works the same way: run each case, report its outcome):
/// TEST_CASE("my store keeps the contract") {
///     eventcore::testing::ContractHarness<MyStore> harness{.make = [] { return std::make_unique<MyStore>(); }};
///     for (const auto& c : eventcore::testing::store_contract<MyStore>()) {
///         DYNAMIC_SECTION(c.name) {
///             const auto outcome = c.run(harness);
///             INFO(outcome.message);
///             CHECK(outcome.passed());
///         }
///     }
/// }
/// \endcode

#include <eventcore/event_store.hpp>
#include <eventcore/event_type_name.hpp>
#include <eventcore/stream_ops.hpp>

#include <boost/describe/class.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace eventcore::testing {

/// The events the contract writes. A store under test must hold `ContractEvent`; the three
/// types are described for the JSON codec.
struct Opened {
    std::string owner;
    friend auto operator==(const Opened&, const Opened&) -> bool = default;
};
struct Changed {
    std::int64_t amount;
    friend auto operator==(const Changed&, const Changed&) -> bool = default;
};
struct Closed {
    std::string reason;
    friend auto operator==(const Closed&, const Closed&) -> bool = default;
};
using ContractEvent = std::variant<Opened, Changed, Closed>;

// Described for codecs that need it (the JSON codec: `EVENTCORE_EVENT` is this macro).
BOOST_DESCRIBE_STRUCT(Opened, (), (owner))
BOOST_DESCRIBE_STRUCT(Changed, (), (amount))
BOOST_DESCRIBE_STRUCT(Closed, (), (reason))

/// How the contract gets at the store under test.
template <class S>
struct ContractHarness {
    /// A new, empty store.
    std::function<std::unique_ptr<S>()> make;
    /// Optional: damage the stored payload of the event at (stream, version) so that it cannot
    /// be decoded. Stores without serialization leave it empty and skip that case.
    std::function<void(S&, const StreamId&, StreamVersion)> corrupt_payload{};
};

/// How a case ended.
struct ContractOutcome {
    enum class Status : unsigned char { passed, failed, skipped };
    Status status = Status::passed;
    std::string message;
    [[nodiscard]] auto passed() const noexcept -> bool { return status != Status::failed; }
};

/// One case of the contract.
template <class S>
struct ContractCase {
    std::string name;
    std::function<ContractOutcome(const ContractHarness<S>&)> run;
};

namespace detail {

struct ContractFailure {
    std::string message;
};
struct ContractSkip {
    std::string reason;
};

template <class... Args>
void expect(bool condition, fmt::format_string<Args...> message, Args&&... args) {
    if (!condition) throw ContractFailure{fmt::format(message, std::forward<Args>(args)...)};
}

template <class T>
auto ok(Result<T> result, std::string_view doing) -> T {
    if (!result) throw ContractFailure{fmt::format("{} failed: {}", doing, result.error())};
    if constexpr (!std::is_void_v<T>) return std::move(*result);
}

[[nodiscard]] inline auto sid(std::string_view text) -> StreamId { return StreamId::parse(text).value(); }

template <class S>
[[nodiscard]] auto append(S& store, std::string_view stream, ExpectedVersion expected, std::vector<ContractEvent> events)
    -> Result<CommitReceipt> {
    return append_to_stream(store, sid(stream), expected, std::move(events));
}

template <class S>
[[nodiscard]] auto commit(S& store, std::vector<StreamExpectation> expectations, std::vector<EventToWrite<ContractEvent>> events,
            std::optional<Uuid> command_id = std::nullopt) -> Result<CommitReceipt> {
    AppendRequest<ContractEvent> request;
    request.expectations = std::move(expectations);
    request.events = std::move(events);
    request.command_id = command_id;
    return store.append(std::move(request));
}

inline auto write(std::string_view stream, ContractEvent e) -> EventToWrite<ContractEvent> {
    return {sid(stream), std::move(e), {}};
}

inline auto exact(std::uint64_t v) -> ExpectedVersion { return ExpectedVersion::exact(StreamVersion{v}); }

template <class S>
auto events_of(const S& store, std::string_view stream) -> std::vector<RecordedEvent<ContractEvent>> {
    return ok(load_stream(store, sid(stream)), fmt::format("reading stream '{}'", stream));
}

template <class S>
auto version_of(const S& store, std::string_view stream) -> std::uint64_t {
    return ok(stream_version(store, sid(stream)), fmt::format("reading the version of '{}'", stream)).value();
}

template <class S>
auto log_of(const S& store, LogQuery query = {}) -> std::vector<RecordedEvent<ContractEvent>> {
    return ok(load_log(store, query), "reading the log");
}

template <class S>
auto head_of(const S& store) -> std::uint64_t {
    return ok(store.head(), "reading the head").value();
}

/// Checks the whole log: positions 1..n, each stream's versions 1..k in order.
template <class S>
void expect_log_whole(const S& store) {
    const auto log = log_of(store);
    std::map<std::string, std::uint64_t> versions;
    for (std::size_t i = 0; i < log.size(); ++i) {
        expect(log[i].position.value() == i + 1, "log position {} found where {} was expected", log[i].position,
               i + 1);
        const auto v = ++versions[log[i].stream.str()];
        expect(log[i].version.value() == v, "stream '{}' has version {} where {} was expected", log[i].stream,
               log[i].version, v);
    }
    expect(head_of(store) == log.size(), "head is {}, but the log holds {} events", head_of(store), log.size());
}

template <class S>
auto run_case(const ContractHarness<S>& harness, void (*body)(const ContractHarness<S>&, S&)) -> ContractOutcome {
    try {
        auto store = harness.make();
        expect(store != nullptr, "the harness made no store");
        body(harness, *store);
        return {};
    } catch (const ContractFailure& f) {
        return {ContractOutcome::Status::failed, f.message};
    } catch (const ContractSkip& s) {
        return {ContractOutcome::Status::skipped, s.reason};
    } catch (const std::exception& e) {
        return {ContractOutcome::Status::failed, fmt::format("unexpected exception: {}", e.what())};
    }
}

// The cases. Each gets a fresh store.

template <class S>
void round_trip(const ContractHarness<S>&, S& store) {
    const auto receipt = ok(append(store, "acct-1", ExpectedVersion::no_stream(), {Opened{"ada"}, Changed{5}}),
                            "appending");
    expect(receipt.events.size() == 2, "receipt lists {} events, expected 2", receipt.events.size());
    expect(receipt.events[1].version == StreamVersion{2} && receipt.events[1].position == GlobalPosition{2},
           "second event landed at version {} position {}", receipt.events[1].version, receipt.events[1].position);
    const auto events = events_of(store, "acct-1");
    expect(events.size() == 2, "read back {} events, expected 2", events.size());
    expect(events[0].payload == ContractEvent{Opened{"ada"}} && events[1].payload == ContractEvent{Changed{5}},
           "payloads did not round-trip");
    expect(events[0].stream == sid("acct-1") && events[0].version == StreamVersion{1},
           "first event reads back as '{}' version {}", events[0].stream, events[0].version);
    expect(events[0].metadata.event_id == receipt.events[0].event_id, "event id differs from the receipt's");
}

template <class S>
void unknown_stream_is_empty(const ContractHarness<S>&, S& store) {
    int visited = 0;
    const auto v = ok(store.read_stream(sid("nothing-here"), StreamVersion{1}, [&](const auto&) { ++visited; }),
                      "reading an unknown stream");
    expect(v.is_zero() && visited == 0, "an unknown stream read as version {} with {} events", v, visited);
    const std::vector<StreamId> ids{sid("x"), sid("y")};
    const auto vs = ok(store.read_streams(ids, [&](const auto&) { ++visited; }), "reading unknown streams");
    expect(vs.size() == 2 && vs[0].is_zero() && vs[1].is_zero() && visited == 0,
           "unknown streams did not read as empty");
}

template <class S>
void stale_version_is_a_conflict(const ContractHarness<S>&, S& store) {
    ok(append(store, "acct", ExpectedVersion::any(), {Opened{"a"}, Changed{1}}), "appending");
    const auto stale = append(store, "acct", exact(1), {Changed{2}});
    expect(!stale, "an append expecting version 1 of a stream at 2 succeeded");
    expect(stale.error().kind() == ErrorKind::version_conflict, "expected version_conflict, got {}", stale.error());
    const auto conflicts = stale.error().conflicts();
    expect(conflicts.size() == 1 && conflicts[0].stream == sid("acct") && conflicts[0].expected == exact(1) &&
               conflicts[0].actual == StreamVersion{2},
           "the conflict does not name stream 'acct', expected exactly 1, actual 2: {}", stale.error());
    expect(version_of(store, "acct") == 2, "the rejected append changed the stream");
}

template <class S>
void conflict_on_one_stream_writes_nothing(const ContractHarness<S>&, S& store) {
    ok(append(store, "a", ExpectedVersion::no_stream(), {Opened{"a"}}), "appending to a");
    ok(append(store, "b", ExpectedVersion::no_stream(), {Opened{"b"}}), "appending to b");
    const auto r = commit(store, {{sid("a"), exact(1)}, {sid("b"), exact(0)}, {sid("c"), exact(0)}},
                          {write("a", Changed{-1}), write("b", Changed{1}), write("c", Opened{"c"})});
    expect(!r && r.error().kind() == ErrorKind::version_conflict, "a commit with one stale stream was not refused");
    expect(r.error().conflicts().size() == 1 && r.error().conflicts()[0].stream == sid("b"),
           "the conflict should name 'b' alone: {}", r.error());
    expect(version_of(store, "a") == 1 && version_of(store, "b") == 1 && version_of(store, "c") == 0,
           "a refused multi-stream commit wrote to some stream");
    expect(head_of(store) == 2, "a refused commit moved the head to {}", head_of(store));
}

template <class S>
void read_only_participants_are_checked(const ContractHarness<S>&, S& store) {
    ok(append(store, "rules", ExpectedVersion::no_stream(), {Changed{50}, Changed{40}}), "appending rules");
    const auto stale = commit(store, {{sid("x"), exact(0)}, {sid("rules"), exact(1)}}, {write("x", Opened{"x"})});
    expect(!stale && stale.error().kind() == ErrorKind::version_conflict,
           "a commit with a stale read-only stream was not refused");
    expect(stale.error().conflicts().size() == 1 && stale.error().conflicts()[0].stream == sid("rules"),
           "the conflict should name 'rules': {}", stale.error());
    expect(version_of(store, "x") == 0, "the refused commit wrote");
    const auto current = commit(store, {{sid("x"), exact(0)}, {sid("rules"), exact(2)}}, {write("x", Opened{"x"})});
    expect(current.has_value(), "a commit with a current read-only stream was refused: {}",
           current ? std::string() : fmt::format("{}", current.error()));
    expect(version_of(store, "x") == 1 && version_of(store, "rules") == 2,
           "a read-only participant was written, or the write was lost");
}

template <class S>
void expected_version_kinds(const ContractHarness<S>&, S& store) {
    expect(!append(store, "s", ExpectedVersion::stream_exists(), {Changed{1}}), "stream_exists passed on no stream");
    expect(!append(store, "s", exact(1), {Changed{1}}), "exact(1) passed on no stream");
    expect(append(store, "s", ExpectedVersion::no_stream(), {Opened{"s"}}).has_value(), "no_stream failed on no stream");
    expect(!append(store, "s", ExpectedVersion::no_stream(), {Opened{"s"}}), "no_stream passed on an existing stream");
    expect(!append(store, "s", exact(0), {Changed{1}}), "exact(0) passed on an existing stream");
    expect(append(store, "s", ExpectedVersion::stream_exists(), {Changed{1}}).has_value(),
           "stream_exists failed on an existing stream");
    expect(append(store, "s", ExpectedVersion::any(), {Changed{1}}).has_value(), "any failed");
    expect(append(store, "s", exact(3), {Changed{1}}).has_value(), "exact(3) failed at version 3");
    expect(version_of(store, "s") == 4, "stream is at {}, expected 4", version_of(store, "s"));
}

template <class S>
void empty_commit_checks_versions(const ContractHarness<S>&, S& store) {
    ok(append(store, "s", ExpectedVersion::no_stream(), {Opened{"s"}}), "appending");
    const auto stale = commit(store, {{sid("s"), exact(0)}}, {});
    expect(!stale && stale.error().kind() == ErrorKind::version_conflict, "an empty stale commit was not refused");
    const auto current = commit(store, {{sid("s"), exact(1)}}, {});
    expect(current.has_value() && current->events.empty(), "an empty current commit failed or wrote");
    expect(head_of(store) == 1, "an empty commit moved the head");
}

template <class S>
void multi_stream_commit_is_contiguous(const ContractHarness<S>&, S& store) {
    ok(append(store, "a", ExpectedVersion::no_stream(), {Opened{"a"}}), "appending");
    const auto r = ok(commit(store, {{sid("a"), exact(1)}, {sid("b"), exact(0)}},
                             {write("a", Changed{1}), write("b", Opened{"b"}), write("a", Changed{2}),
                              write("b", Changed{3})}),
                      "committing to two streams");
    expect(r.events.size() == 4, "receipt lists {} events", r.events.size());
    const auto a = events_of(store, "a");
    const auto b = events_of(store, "b");
    expect(a.size() == 3 && b.size() == 2, "read back {} and {} events, expected 3 and 2", a.size(), b.size());
    expect(a[1].version == StreamVersion{2} && a[2].version == StreamVersion{3} && b[1].version == StreamVersion{2},
           "versions within the commit are not contiguous");
    expect(a[1].position == GlobalPosition{2} && b[0].position == GlobalPosition{3} &&
               a[2].position == GlobalPosition{4} && b[1].position == GlobalPosition{5},
           "positions within the commit are not contiguous in request order");
    expect(r.streams.size() == 2 && r.streams[0].version == StreamVersion{3} && r.streams[1].version == StreamVersion{2},
           "the receipt's stream versions are wrong");
}

template <class S>
void log_is_gap_free_in_commit_order(const ContractHarness<S>&, S& store) {
    ok(commit(store, {{sid("a"), exact(0)}, {sid("b"), exact(0)}}, {write("a", Opened{"a"}), write("b", Opened{"b"})}),
       "commit 1");
    ok(append(store, "c", ExpectedVersion::any(), {Opened{"c"}}), "commit 2");
    ok(commit(store, {{sid("a"), exact(1)}, {sid("c"), exact(1)}}, {write("c", Changed{1}), write("a", Changed{2})}),
       "commit 3");
    const auto log = log_of(store);
    expect(log.size() == 5, "the log holds {} events, expected 5", log.size());
    const char* streams[] = {"a", "b", "c", "c", "a"};
    for (std::size_t i = 0; i < log.size(); ++i) {
        expect(log[i].position == GlobalPosition{i + 1} && log[i].stream == sid(streams[i]),
               "log entry {} is '{}' at {}, expected '{}' at {}", i, log[i].stream, log[i].position, streams[i], i + 1);
    }
    expect_log_whole(store);
}

template <class S>
void read_all_after_excludes_position(const ContractHarness<S>&, S& store) {
    ok(append(store, "s", ExpectedVersion::any(), {Opened{"s"}, Changed{1}, Changed{2}, Changed{3}}), "appending");
    const auto tail = log_of(store, LogQuery{.after = GlobalPosition{2}});
    expect(tail.size() == 2 && tail[0].position == GlobalPosition{3}, "reading after 2 did not start at 3");
    expect(log_of(store, LogQuery{.after = GlobalPosition{4}}).empty(), "reading after the head returned events");
    expect(log_of(store, LogQuery{.after = GlobalPosition{40}}).empty(), "reading past the head returned events");
}

template <class S>
void pages_never_split_a_commit(const ContractHarness<S>&, S& store) {
    ok(commit(store, {{sid("a"), exact(0)}, {sid("b"), exact(0)}},
              {write("a", Opened{"a"}), write("b", Opened{"b"}), write("a", Changed{1})}),
       "commit of 3");
    ok(append(store, "c", ExpectedVersion::any(), {Opened{"c"}}), "commit of 1");
    std::size_t seen = 0;
    const auto first = ok(store.read_all(LogQuery{.after = {}, .limit = 1}, [&](const auto&) { ++seen; }), "page 1");
    expect(seen == 3 && first.count == 3 && first.last == GlobalPosition{3},
           "a page of limit 1 split the first commit: {} events, last {}", seen, first.last);
    expect(first.head == GlobalPosition{4}, "page head is {}, expected 4", first.head);
    const auto second = ok(store.read_all(LogQuery{.after = first.last, .limit = 1}, [](const auto&) {}), "page 2");
    expect(second.count == 1 && second.last == GlobalPosition{4}, "second page: {} events, last {}", second.count,
           second.last);
}

template <class S>
void a_query_without_a_limit_reads_one_page(const ContractHarness<S>&, S& store) {
    constexpr std::size_t commits = 6;
    constexpr std::size_t per_commit = 2'000; // five commits fill a default page exactly
    static_assert(5 * per_commit == LogQuery::default_limit);
    for (std::size_t c = 0; c < commits; ++c) {
        ok(append(store, fmt::format("bulk-{}", c), ExpectedVersion::no_stream(),
                  std::vector<ContractEvent>(per_commit, Changed{static_cast<std::int64_t>(c)})),
           "appending a commit of 2,000 events");
    }
    const auto total = commits * per_commit;
    const auto page = ok(store.read_all(LogQuery{}, [](const auto&) {}), "reading with the default query");
    expect(page.count == LogQuery::default_limit && page.last == GlobalPosition{LogQuery::default_limit} &&
               page.head == GlobalPosition{total},
           "a default query read {} events to {} (head {}); expected one page of {}", page.count, page.last,
           page.head, LogQuery::default_limit);
    std::uint64_t previous = 0;
    bool in_order = true;
    const auto all = ok(visit_log(store, LogQuery{}, [&](const auto& e) {
                            in_order = in_order && e.position.value() > previous;
                            previous = e.position.value();
                        }),
                        "visiting the whole log");
    expect(all.count == total && all.last == GlobalPosition{total} && in_order,
           "visit_log visited {} events to {}, expected {} in order", all.count, all.last, total);
    const auto filtered = ok(visit_log(store, LogQuery{.limit = 7, .stream_prefix = "bulk-5"}, [](const auto&) {}),
                             "visiting one stream's events in small pages");
    expect(filtered.count == per_commit && filtered.last == GlobalPosition{total},
           "visit_log with a filter visited {} events to {}, expected {}", filtered.count, filtered.last, per_commit);
}

template <class S>
void read_one_stream_from_version(const ContractHarness<S>&, S& store) {
    ok(append(store, "s", ExpectedVersion::any(), {Opened{"s"}, Changed{1}, Changed{2}, Changed{3}}), "appending");
    const auto from3 = ok(load_stream(store, sid("s"), StreamVersion{3}), "reading from 3");
    expect(from3.size() == 2 && from3[0].version == StreamVersion{3}, "reading from version 3 gave {} events",
           from3.size());
    expect(ok(load_stream(store, sid("s"), StreamVersion{9}), "reading from 9").empty(),
           "reading past the end returned events");
    expect(version_of(store, "s") == 4, "version read past the end is wrong");
}

template <class S>
void filters_by_event_type(const ContractHarness<S>&, S& store) {
    ok(append(store, "a", ExpectedVersion::any(), {Opened{"a"}, Changed{1}, Closed{"done"}}), "appending");
    ok(append(store, "b", ExpectedVersion::any(), {Opened{"b"}, Changed{2}}), "appending");
    const auto changed = log_of(store, LogQuery{.event_types = {std::string(event_type_name<Changed>())}});
    expect(changed.size() == 2 && std::holds_alternative<Changed>(changed[0].payload) &&
               std::holds_alternative<Changed>(changed[1].payload),
           "filtering by type Changed gave {} events", changed.size());
    const auto two = log_of(store, LogQuery{.event_types = {std::string(event_type_name<Opened>()),
                                                            std::string(event_type_name<Closed>())}});
    expect(two.size() == 3, "filtering by two types gave {} events, expected 3", two.size());
    const auto page = ok(store.read_all(LogQuery{.after = {}, .limit = 10, .event_types = {"NoSuchType"}},
                                        [](const auto&) {}),
                         "filtering by an unknown type");
    expect(page.count == 0 && page.last == GlobalPosition{5},
           "a filter matching nothing should still read to the head: last {}", page.last);
}

template <class S>
void filters_by_stream_prefix_literally(const ContractHarness<S>&, S& store) {
    for (const char* s : {"order_1", "orderX1", "order%1", "order%x", "orders", "other"})
        ok(append(store, s, ExpectedVersion::any(), {Opened{s}}), "appending");
    const auto names = [&](const std::string& prefix) {
        std::vector<std::string> out;
        for (const auto& e : log_of(store, LogQuery{.stream_prefix = prefix})) out.push_back(e.stream.str());
        return out;
    };
    expect(names("order_") == std::vector<std::string>{"order_1"}, "prefix 'order_' matched {}",
           fmt::join(names("order_"), ", "));
    expect(names("order%") == std::vector<std::string>{"order%1", "order%x"}, "prefix 'order%' matched {}",
           fmt::join(names("order%"), ", "));
    expect(names("order").size() == 5, "prefix 'order' matched {} streams, expected 5", names("order").size());
    expect(names("").size() == 6, "an empty prefix did not match everything");
}

template <class S>
void filters_by_stream_prefix_bytes(const ContractHarness<S>&, S& store) {
    for (const char* s : {"caf\xc3\xa9-1", "caf\xc3\xa8-2", "cafx"})
        ok(append(store, s, ExpectedVersion::any(), {Opened{s}}), "appending");
    const auto names = [&](LogQuery q) {
        std::vector<std::string> out;
        for (const auto& e : log_of(store, q)) out.push_back(e.stream.str());
        return out;
    };
    const auto by_prefix = [&](const char* prefix) { return names(LogQuery{.stream_prefix = prefix}); };
    // A prefix may end inside a character: it is the first bytes of every id it matches.
    expect(by_prefix("caf\xc3").size() == 2, "prefix 'caf\\xc3' (inside a character) matched {} streams, expected 2",
           by_prefix("caf\xc3").size());
    expect(by_prefix("caf\xc3\xa9") == std::vector<std::string>{"caf\xc3\xa9-1"}, "prefix 'caf\u00e9' matched {}",
           by_prefix("caf\xc3\xa9").size());
    expect(by_prefix("caf\xff").empty(), "a prefix no UTF-8 id starts with matched {} streams", by_prefix("caf\xff").size());
    expect(by_prefix("caf").size() == 3, "prefix 'caf' matched {} streams, expected 3", by_prefix("caf").size());
    // A type name that no store can hold matches nothing, and is no error.
    expect(names(LogQuery{.event_types = {"Opened\xff"}}).empty(), "an event type that is not UTF-8 matched");
    expect(names(LogQuery{.event_types = {"Opened\xff", "Opened"}}).size() == 3,
           "a type filter with one name that is not UTF-8 dropped the others");
}

template <class S>
void unstorable_metadata_is_refused(const ContractHarness<S>&, S& store) {
    ok(append(store, "m", ExpectedVersion::no_stream(), {Opened{"m"}}), "appending");
    const auto refused = [&](EventMetadata metadata, std::string_view what) {
        auto bad = write("m", Changed{2});
        bad.metadata = std::move(metadata);
        std::vector<EventToWrite<ContractEvent>> events;
        events.push_back(write("n", Opened{"n"}));
        events.push_back(std::move(bad));
        const auto r = commit(store, {{sid("m"), exact(1)}, {sid("n"), ExpectedVersion::any()}}, std::move(events));
        expect(!r && r.error().kind() == ErrorKind::validation,
               "a commit whose second event has {} was not refused as a validation error: {}", what,
               r ? std::string("it was accepted") : fmt::format("{}", r.error()));
        expect(r.error().message().find("commit event #1") != std::string::npos,
               "the refusal of {} does not name the event: {}", what, r.error().message());
        expect(version_of(store, "m") == 1 && version_of(store, "n") == 0 && head_of(store) == 1,
               "a commit refused for {} wrote something", what);
    };
    const auto with = [](std::string command, std::vector<std::pair<std::string, std::string>> custom) {
        EventMetadata m;
        m.command = std::move(command);
        m.custom = std::move(custom);
        return m;
    };
    refused(with("Send\xff", {}), "a command name that is not UTF-8");
    refused(with(std::string("Send\0Now", 8), {}), "a NUL in its command name");
    refused(with("", {{"user\xc3", "ada"}}), "a custom key cut inside a character");
    refused(with("", {{"user", std::string("a\0b", 3)}}), "a NUL in a custom value");
    refused(with("", {{"user", "\xed\xa0\x80"}}), "an encoded surrogate in a custom value");

    // Everything else is kept as it was: other control characters, any character, empty strings.
    EventMetadata fine;
    fine.command = "Send\tNow \xc5\x9c";
    fine.custom = {{"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "line\nbreak \x01 \xf0\x9f\x98\x80"}, {"", ""}};
    auto w = write("m", Changed{2});
    w.metadata = fine;
    ok(commit(store, {{sid("m"), exact(1)}}, {std::move(w)}), "appending metadata every store can keep");
    const auto events = events_of(store, "m");
    expect(events.size() == 2 && events[1].metadata.command == fine.command && events[1].metadata.custom == fine.custom,
           "metadata every store can keep did not read back as it was");
}

template <class S>
void undecodable_payload_is_an_error(const ContractHarness<S>& harness, S& store) {
    if (!harness.corrupt_payload) throw ContractSkip{"the store keeps no serialized payloads"};
    ok(append(store, "s", ExpectedVersion::any(), {Opened{"s"}, Changed{1}, Changed{2}}), "appending");
    harness.corrupt_payload(store, sid("s"), StreamVersion{2});
    const auto r = load_stream(store, sid("s"));
    expect(!r, "a damaged payload was read without an error (or skipped)");
    expect(r.error().kind() == ErrorKind::deserialization, "expected deserialization, got {}", r.error());
    expect(r.error().stream() == sid("s") && r.error().version() == StreamVersion{2},
           "the error does not name stream 's' version 2: {}", r.error());
    expect(r.error().message().find("'s'") != std::string::npos && r.error().message().find("2") != std::string::npos,
           "the message does not name the stream and version: {}", r.error().message());
    const std::vector<StreamId> ids{sid("s")};
    expect(!store.read_streams(ids, [](const auto&) {}), "read_streams skipped a damaged payload");
    expect(!load_log(store), "read_all skipped a damaged payload");
}

template <class S>
void metadata_round_trips(const ContractHarness<S>&, S& store) {
    EventMetadata m;
    m.event_id = Uuid::v7();
    m.correlation_id = Uuid::v7();
    m.causation_id = Uuid::v7();
    m.command = "Contract.Command";
    m.custom = {{"user", "ada"}, {"quote", "she said \"hi\"\\"}, {"unicode", "\xc3\xa9t\xc3\xa9"}, {"empty", ""}};
    AppendRequest<ContractEvent> request;
    request.expectations = {{sid("m"), ExpectedVersion::any()}};
    request.events.push_back({sid("m"), Opened{"m"}, m});
    const auto before = now();
    ok(store.append(std::move(request)), "appending");
    const auto after = now();
    const auto events = events_of(store, "m");
    expect(events.size() == 1, "read back {} events", events.size());
    const auto& got = events[0].metadata;
    expect(got.event_id == m.event_id, "event id changed: {} -> {}", m.event_id, got.event_id);
    expect(got.correlation_id == m.correlation_id && got.causation_id == m.causation_id,
           "correlation or causation id changed");
    expect(got.command == m.command, "command changed to '{}'", got.command);
    expect(got.custom == m.custom, "custom metadata did not round-trip");
    expect(got.recorded_at >= before && got.recorded_at <= after, "recorded_at is outside the commit's time");
    const auto again = events_of(store, "m");
    expect(again[0].metadata.recorded_at == got.recorded_at, "recorded_at changed between reads");
    const auto log = log_of(store);
    expect(log[0].metadata == got, "the log's metadata differs from the stream's");
}

template <class S>
void command_ids_are_idempotent(const ContractHarness<S>&, S& store) {
    const auto id = Uuid::v7();
    const auto first = ok(commit(store, {{sid("a"), exact(0)}, {sid("r"), exact(0)}}, {write("a", Opened{"a"})}, id),
                          "first commit");
    expect(!first.duplicate, "the first commit is marked duplicate");
    const auto again = ok(commit(store, {{sid("a"), exact(0)}}, {write("a", Opened{"a"})}, id), "second commit");
    expect(again.duplicate, "a repeated command id was committed again");
    expect(again.events == first.events && again.streams == first.streams,
           "the repeat did not return the first receipt");
    expect(version_of(store, "a") == 1, "a repeated command id wrote");
    const auto found = ok(store.find_commit(id), "finding the commit");
    expect(found.has_value() && found->events == first.events, "find_commit did not find the first receipt");
    expect(!ok(store.find_commit(Uuid::v7()), "finding an unknown commit").has_value(),
           "find_commit found a commit never made");
}

template <class S>
void malformed_commits_are_refused(const ContractHarness<S>&, S& store) {
    const auto unexpected = commit(store, {{sid("a"), ExpectedVersion::any()}}, {write("b", Opened{"b"})});
    expect(!unexpected && unexpected.error().kind() == ErrorKind::validation &&
               unexpected.error().message().find("'b'") != std::string::npos,
           "a write without an expectation was not refused naming 'b'");
    const auto twice = commit(store, {{sid("a"), ExpectedVersion::any()}, {sid("a"), ExpectedVersion::no_stream()}}, {});
    expect(!twice && twice.error().kind() == ErrorKind::validation, "a stream expected twice was not refused");
    const auto empty = commit(store, {{StreamId{}, ExpectedVersion::any()}}, {});
    expect(!empty && empty.error().kind() == ErrorKind::validation, "an empty stream id was not refused");
    expect(head_of(store) == 0, "a refused commit wrote");
}

template <class S>
void concurrent_writers_one_winner_per_version(const ContractHarness<S>&, S& store) {
    constexpr int writers = 4;
    constexpr int rounds = 60;
    std::atomic<int> wins{0};
    std::atomic<int> conflicts{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&] {
            for (int i = 0; i < rounds; ++i) {
                const auto v = stream_version(store, sid("hot"));
                if (!v) {
                    ++errors;
                    continue;
                }
                const auto r = append_to_stream(store, sid("hot"), ExpectedVersion::exact(*v),
                                                {ContractEvent{Changed{1}}});
                if (r) {
                    ++wins;
                } else if (r.error().kind() == ErrorKind::version_conflict) {
                    ++conflicts;
                } else {
                    ++errors;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    expect(errors == 0, "{} appends failed with errors other than conflicts", errors.load());
    expect(wins + conflicts == writers * rounds, "lost attempts");
    expect(version_of(store, "hot") == static_cast<std::uint64_t>(wins.load()),
           "{} appends won but the stream is at version {}", wins.load(), version_of(store, "hot"));
    expect_log_whole(store);
}

template <class S>
void snapshots_never_hold_half_a_commit(const ContractHarness<S>&, S& store) {
    constexpr std::uint64_t commits = 300;
    std::atomic<bool> done{false};
    std::atomic<int> torn{0};
    std::atomic<int> errors{0};
    std::thread writer([&] {
        for (std::uint64_t v = 0; v < commits; ++v) {
            if (!commit(store, {{sid("pair-a"), exact(v)}, {sid("pair-b"), exact(v)}},
                        {write("pair-a", Changed{1}), write("pair-b", Changed{-1})}))
                ++errors;
        }
        done = true;
    });
    const std::vector<StreamId> ids{sid("pair-a"), sid("pair-b")};
    int reads = 0;
    while (!done || reads == 0) {
        std::int64_t sum = 0;
        std::uint64_t count = 0;
        const auto vs = store.read_streams(ids, [&](const RecordedEvent<ContractEvent>& e) {
            sum += std::get<Changed>(e.payload).amount;
            ++count;
        });
        if (!vs) {
            ++errors;
            break;
        }
        if ((*vs)[0] != (*vs)[1] || sum != 0 || count != 2 * (*vs)[0].value()) ++torn;
        ++reads;
    }
    writer.join();
    expect(errors == 0, "{} operations failed", errors.load());
    expect(torn == 0, "{} of {} snapshots held half a commit", torn.load(), reads);
}

template <class S>
void filters_by_stream_pattern(const ContractHarness<S>&, S& store) {
    for (const char* s : {"order-1", "order-22", "order-x", "orders", "cart-1"})
        ok(append(store, s, ExpectedVersion::any(), {Opened{s}}), "appending");
    const auto names = [&](std::string_view pattern) {
        std::vector<std::string> out;
        const auto query = LogQuery{.stream_pattern = StreamPattern::parse(pattern).value()};
        for (const auto& e : log_of(store, query)) out.push_back(e.stream.str());
        return out;
    };
    expect(names("order-?") == std::vector<std::string>{"order-1", "order-x"}, "'order-?' matched {}",
           fmt::join(names("order-?"), ", "));
    expect(names("order-*") == std::vector<std::string>{"order-1", "order-22", "order-x"}, "'order-*' matched {}",
           fmt::join(names("order-*"), ", "));
    expect(names("order-[0-9]*") == std::vector<std::string>{"order-1", "order-22"}, "'order-[0-9]*' matched {}",
           fmt::join(names("order-[0-9]*"), ", "));
    expect(names("*-[!0-9]") == std::vector<std::string>{"order-x"}, "'*-[!0-9]' matched {}",
           fmt::join(names("*-[!0-9]"), ", "));
    expect(names("order") .empty(), "a pattern must match the whole stream id");
}

template <class S>
void waits_for_events(const ContractHarness<S>&, S& store) {
    const auto idle = ok(store.wait_for_events(GlobalPosition{0}, std::chrono::milliseconds{30}), "waiting idle");
    expect(idle == GlobalPosition{0}, "waiting on an empty store returned head {}", idle);
    ok(append(store, "w", ExpectedVersion::any(), {Opened{"w"}}), "appending");
    const auto at_once = ok(store.wait_for_events(GlobalPosition{0}, std::chrono::seconds{30}), "waiting behind");
    expect(at_once == GlobalPosition{1}, "waiting behind the head returned {}", at_once);

    std::thread writer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
        (void)append(store, "w", ExpectedVersion::any(), {Changed{1}});
    });
    const auto started = std::chrono::steady_clock::now();
    const auto woken = store.wait_for_events(GlobalPosition{1}, std::chrono::seconds{30});
    const auto waited = std::chrono::steady_clock::now() - started;
    writer.join();
    expect(woken.has_value() && *woken == GlobalPosition{2}, "a waiting reader was not woken by a commit: {}",
           woken ? fmt::format("head {}", *woken) : fmt::format("{}", woken.error()));
    expect(waited < std::chrono::seconds{30}, "the waiting reader slept through the commit to its timeout");
}

template <class S>
void keeps_checkpoints(const ContractHarness<S>&, S& store) {
    expect(!ok(store.load_checkpoint("balances"), "loading").has_value(), "an unsaved checkpoint was found");
    ok(store.save_checkpoint("balances", GlobalPosition{7}), "saving");
    ok(store.save_checkpoint("audit", GlobalPosition{3}), "saving");
    ok(store.save_checkpoint("balances", GlobalPosition{9}), "overwriting");
    const auto loaded = ok(store.load_checkpoint("balances"), "loading");
    expect(loaded == GlobalPosition{9}, "checkpoint 'balances' reads back as {}", loaded.value_or(GlobalPosition{}));
    const auto all = ok(store.checkpoints(), "listing");
    expect(all.size() == 2 && all[0].name == "audit" && all[1].name == "balances" && all[1].position == GlobalPosition{9},
           "checkpoints are not listed by name with their positions");
    expect(ok(store.delete_checkpoint("audit"), "deleting"), "deleting a checkpoint reported nothing deleted");
    expect(!ok(store.delete_checkpoint("audit"), "deleting again"), "deleting twice reported a deletion");
    expect(!ok(store.load_checkpoint("audit"), "loading").has_value(), "a deleted checkpoint was found");
    const auto bad = store.save_checkpoint(std::string("bad\x01name"), GlobalPosition{1});
    expect(!bad && bad.error().kind() == ErrorKind::validation, "a checkpoint name with a control character was accepted");
}

} // namespace detail

/// Every case of the store contract, in a stable order; stores that live readers can follow
/// (`LiveEventStore`) also get the cases for waiting and checkpoints.
template <class S>
    requires EventStore<S> && std::same_as<typename S::event_type, ContractEvent>
auto store_contract() -> std::vector<ContractCase<S>> {
    using H = const ContractHarness<S>&;
    const auto make = [](std::string name, void (*body)(H, S&)) {
        return ContractCase<S>{std::move(name), [body](H h) { return detail::run_case<S>(h, body); }};
    };
    std::vector<ContractCase<S>> cases{
        make("appended events read back", detail::round_trip<S>),
        make("an unknown stream reads as empty at version 0", detail::unknown_stream_is_empty<S>),
        make("a stale expected version is a conflict naming stream, expected and actual",
             detail::stale_version_is_a_conflict<S>),
        make("a conflict on one stream of a multi-stream commit writes nothing",
             detail::conflict_on_one_stream_writes_nothing<S>),
        make("read-only participants are checked", detail::read_only_participants_are_checked<S>),
        make("any, no_stream, stream_exists and exact", detail::expected_version_kinds<S>),
        make("an empty commit still checks its versions", detail::empty_commit_checks_versions<S>),
        make("a multi-stream commit has contiguous versions and positions", detail::multi_stream_commit_is_contiguous<S>),
        make("the global log is gap-free in commit order", detail::log_is_gap_free_in_commit_order<S>),
        make("reading the log after a position excludes it", detail::read_all_after_excludes_position<S>),
        make("a page of the log never splits a commit", detail::pages_never_split_a_commit<S>),
        make("a query that names no limit reads one bounded page; visit_log reads on to the head",
             detail::a_query_without_a_limit_reads_one_page<S>),
        make("one stream reads from a version", detail::read_one_stream_from_version<S>),
        make("the log filters by event type", detail::filters_by_event_type<S>),
        make("the log filters by stream prefix, with _ and % literal", detail::filters_by_stream_prefix_literally<S>),
        make("stream prefixes are bytes, and filters no store can hold match nothing",
             detail::filters_by_stream_prefix_bytes<S>),
        make("metadata a store could not keep as text is refused, writing nothing",
             detail::unstorable_metadata_is_refused<S>),
        make("an undecodable payload is an error naming stream and version", detail::undecodable_payload_is_an_error<S>),
        make("metadata round-trips", detail::metadata_round_trips<S>),
        make("command ids are idempotent", detail::command_ids_are_idempotent<S>),
        make("malformed commits are refused", detail::malformed_commits_are_refused<S>),
        make("concurrent writers: one winner per version", detail::concurrent_writers_one_winner_per_version<S>),
        make("a snapshot never holds half a commit", detail::snapshots_never_hold_half_a_commit<S>),
        make("the log filters by stream glob pattern", detail::filters_by_stream_pattern<S>),
    };
    if constexpr (LiveEventStore<S>) {
        cases.push_back(make("a waiting reader wakes when a commit lands", detail::waits_for_events<S>));
        cases.push_back(make("checkpoints are saved, listed and deleted", detail::keeps_checkpoints<S>));
    }
    return cases;
}

} // namespace eventcore::testing
