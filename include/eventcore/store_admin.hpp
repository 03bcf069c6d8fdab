#pragma once
/// \file
/// What operators ask of a store core, beside reads and commits: stream listings, statistics,
/// the log with its commit boundaries, and importing a log exactly as it was stored. The
/// `eventcore` command-line tool is built on these; applications rarely need them.

#include <eventcore/detail/function_ref.hpp>
#include <eventcore/event_store.hpp>
#include <eventcore/error.hpp>
#include <eventcore/metadata.hpp>
#include <eventcore/stored_event.hpp>
#include <eventcore/stream_id.hpp>
#include <eventcore/stream_pattern.hpp>
#include <eventcore/uuid.hpp>
#include <eventcore/version.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace eventcore {

/// Which streams `list_streams` lists: ordered by id (bytewise), filtered, a page at a time.
///
/// \code
/// eventcore::StreamListQuery q;
/// q.prefix = "account-";
/// q.limit = 100;
/// auto page = db->list_streams(q).value();          // the first 100 accounts
/// q.after = page.back().stream.view();             // and the next 100
/// \endcode
struct StreamListQuery {
    /// Only streams whose id starts with these bytes (no wildcards).
    std::string prefix{};
    /// Only streams whose whole id matches this glob pattern.
    std::optional<StreamPattern> pattern{};
    /// Only streams whose id sorts after this one (bytewise): the last id of the previous page.
    std::string after{};
    /// At most this many streams.
    std::size_t limit = std::numeric_limits<std::size_t>::max();
};

/// A stream as listed: its version and when its last event was recorded.
struct StreamSummary {
    StreamId stream;
    StreamVersion version;
    Timestamp last_written{};

    friend auto operator==(const StreamSummary&, const StreamSummary&) -> bool = default;
};

/// How many events of one type the store holds.
struct EventTypeCount {
    std::string type;
    std::uint64_t events = 0;
};

/// What was committed on one UTC day.
struct DayActivity {
    /// `YYYY-MM-DD`, UTC.
    std::string day;
    std::uint64_t events = 0;
    std::uint64_t commits = 0;
};

/// A store at a glance, read as one snapshot.
struct StoreStatistics {
    std::uint64_t events = 0;
    std::uint64_t streams = 0;
    GlobalPosition head{};
    /// Bytes the store takes: the SQLite file's pages, or the PostgreSQL schema's tables with
    /// their indexes.
    std::uint64_t size_bytes = 0;
    std::optional<Timestamp> first_recorded{};
    std::optional<Timestamp> last_recorded{};
    /// Most frequent first.
    std::vector<EventTypeCount> types{};
    /// Oldest first; days without commits are left out.
    std::vector<DayActivity> days{};
};

/// Receives the log with its commit boundaries: `commit_last` is the position of the last event
/// of the event's commit. Views are valid only during the call; an error stops the read.
using LogRowVisitor = detail::FunctionRef<Result<void>(const StoredEvent&, GlobalPosition commit_last)>;

/// An event exactly as stored, owning its data: what moves between stores.
///
/// \code
/// // Copy a whole store, commit by commit, keeping positions, versions, ids and times.
/// std::vector<eventcore::ArchivedEvent> batch;
/// source->read_log(eventcore::GlobalPosition{}, 1000, [&](const eventcore::StoredEvent& e, auto last) {
///     batch.push_back(eventcore::ArchivedEvent::from(e, last));
///     return eventcore::Result<void>{};
/// }).value();
/// target->import_events(batch).value();
/// \endcode
struct ArchivedEvent {
    StreamId stream;
    StreamVersion version;
    GlobalPosition position;
    GlobalPosition commit_last;
    std::string type;
    std::string payload;
    EventMetadata metadata;

    /// A copy of a stored event; `stored.stream` must be a valid stream id.
    [[nodiscard]] static auto from(const StoredEvent& stored, GlobalPosition commit_last) -> Result<ArchivedEvent>;

    friend auto operator==(const ArchivedEvent&, const ArchivedEvent&) -> bool = default;
};

/// An idempotency record as the store keeps it: a command id, and what its commit did. A retry
/// of the command finds it and is answered with this commit instead of running again, so a
/// record lost or pointing at the wrong events makes a command run twice.
struct CommandRecord {
    Uuid command_id{};
    /// The position of the commit's first event; for a commit that wrote no events, the
    /// position the next event took.
    GlobalPosition first_position{};
    std::uint64_t event_count = 0;
    Timestamp committed_at{};
    /// Every stream of the commit (written or only read), in the order of the request, with its
    /// version after the commit; ids as stored, which a damaged store may hold invalid.
    std::vector<std::pair<std::string, StreamVersion>> streams{};
    /// Empty when the record is whole as stored; otherwise what is wrong with it (an unfinished
    /// record, a stream entry missing, streams recorded for a command with no record).
    std::string damage{};
};

/// Receives idempotency records, one at a time; an error stops the read.
using CommandRecordVisitor = detail::FunctionRef<Result<void>(const CommandRecord&)>;

/// The whole store as of one moment: every call reads the same snapshot, whatever commits land
/// meanwhile. What `eventcore verify` reads, so that a busy store is never reported broken
/// because the log and the stream versions were read at different times. Only valid inside the
/// store's `snapshot(body)` call that hands it over.
///
/// \code
/// db->snapshot([&](eventcore::StoreSnapshot& s) -> eventcore::Result<void> {
///     auto head = s.head();                           // the head of this snapshot ...
///     auto streams = s.list_streams({});              // ... and the versions, as of the same moment
///     return {};
/// }).value();
/// \endcode
class StoreSnapshot {
public:
    StoreSnapshot() = default;
    StoreSnapshot(const StoreSnapshot&) = delete;
    auto operator=(const StoreSnapshot&) -> StoreSnapshot& = delete;
    virtual ~StoreSnapshot() = default;

    /// The eventcore schema version the store records.
    [[nodiscard]] virtual auto schema_version() -> Result<int> = 0;
    /// The last position of the log in this snapshot.
    [[nodiscard]] virtual auto head() -> Result<GlobalPosition> = 0;
    /// As the store's `read_log`: about `limit` events after `after`, whole commits.
    [[nodiscard]] virtual auto read_log(GlobalPosition after, std::size_t limit, LogRowVisitor visit)
        -> Result<GlobalPosition> = 0;
    /// As the store's `list_streams`: the streams and their versions in this snapshot.
    [[nodiscard]] virtual auto list_streams(const StreamListQuery& query) -> Result<std::vector<StreamSummary>> = 0;
    /// Every checkpoint, by name, as of this snapshot.
    [[nodiscard]] virtual auto checkpoints() -> Result<std::vector<Checkpoint>> = 0;
    /// Every idempotency record, ordered by command id.
    [[nodiscard]] virtual auto commands(CommandRecordVisitor visit) -> Result<void> = 0;
    /// The storage engine's own check of its files (SQLite: `PRAGMA integrity_check`): up to
    /// `limit` problems it finds, none when it finds the file sound; `std::nullopt` where the
    /// store has no such check to run (PostgreSQL checks its pages itself as it reads them).
    [[nodiscard]] virtual auto integrity_check(std::size_t limit) -> Result<std::optional<std::vector<std::string>>> = 0;
};

/// What runs inside a store's `snapshot(body)`.
using SnapshotBody = detail::FunctionRef<Result<void>(StoreSnapshot&)>;

namespace detail {

/// Checks that `events` can follow a log whose head is `head`: positions strictly increasing
/// after `head` (gaps between commits allowed), whole commits only (each commit's events
/// contiguous, ending at its `commit_last`), and each stream's versions contiguous from its current version, which
/// `current_version` gives. Shared by the store cores' `import_events`.
[[nodiscard]] auto check_import(std::span<const ArchivedEvent> events, GlobalPosition head,
                                FunctionRef<Result<StreamVersion>(const StreamId&)> current_version) -> Result<void>;

} // namespace detail

} // namespace eventcore
