#pragma once
/// \file
/// The `EventStore` concept and the vocabulary of reads and commits.

#include <eventcore/detail/function_ref.hpp>
#include <eventcore/detail/stream_index.hpp>
#include <eventcore/error.hpp>
#include <eventcore/metadata.hpp>
#include <eventcore/recorded_event.hpp>
#include <eventcore/stream_id.hpp>
#include <eventcore/stream_pattern.hpp>
#include <eventcore/uuid.hpp>
#include <eventcore/version.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventcore {

/// One event to append to one stream.
template <class E>
struct EventToWrite {
    StreamId stream;
    E payload;
    /// `event_id` is made if nil; `recorded_at` is set by the store at commit.
    EventMetadata metadata;
};

/// What a commit expects of one stream's version. Every stream a commit writes to needs one;
/// a stream that is only checked (a read-only participant) has one and no events.
struct StreamExpectation {
    StreamId stream;
    ExpectedVersion expected;
};

/// A multi-stream commit: all of it lands, or none of it.
///
/// \code
/// eventcore::AppendRequest<BankEvent> request;
/// request.expectations = {{from, ExpectedVersion::exact(v1)}, {to, ExpectedVersion::exact(v2)},
///                         {rules, ExpectedVersion::exact(v3)}};   // `rules`: checked, not written
/// request.events.push_back({from, Withdrawn{10}, {}});
/// request.events.push_back({to, Deposited{10}, {}});
/// auto receipt = store.append(std::move(request));
/// \endcode
template <class E>
struct AppendRequest {
    std::vector<StreamExpectation> expectations;
    std::vector<EventToWrite<E>> events;
    /// The id of the command execution. The store records it with the commit; a later commit
    /// with the same id writes nothing and returns the first commit's receipt (`duplicate`).
    std::optional<Uuid> command_id;
};

/// Where a committed event landed.
struct WrittenEvent {
    StreamId stream;
    StreamVersion version;
    GlobalPosition position;
    Uuid event_id;

    friend auto operator==(const WrittenEvent&, const WrittenEvent&) -> bool = default;
};

/// A stream and its version.
struct StreamState {
    StreamId stream;
    StreamVersion version;

    friend auto operator==(const StreamState&, const StreamState&) -> bool = default;
};

/// What a successful commit did.
struct CommitReceipt {
    std::optional<Uuid> command_id;
    /// The events written, in the order of the request, with their versions and positions.
    std::vector<WrittenEvent> events;
    /// Every stream of the commit (checked or written) with its version after the commit.
    std::vector<StreamState> streams;
    Timestamp committed_at{};
    /// True when `command_id` had already been committed: nothing was written, and the rest
    /// of this receipt is the first commit's.
    bool duplicate = false;

    friend auto operator==(const CommitReceipt&, const CommitReceipt&) -> bool = default;
};

/// Which part of the global log to read.
struct LogQuery {
    /// The page size of a query that names none: one read's time and memory stay bounded however
    /// long the log. Read on from `LogPage::last`, or let `visit_log` or `load_log` page for you.
    static constexpr std::size_t default_limit = 10'000;

    /// Read events after this position (0: from the beginning).
    GlobalPosition after{};
    /// At most about this many events: a page ends at the end of a commit, so it may hold a few
    /// more than `limit` rather than split one.
    std::size_t limit = default_limit;
    /// Only events of streams whose id starts with these bytes (no wildcards: `_` and `%` are
    /// plain characters). Empty: every stream.
    std::string stream_prefix{};
    /// Only events of these type names (see `event_type_name`). Empty: every type.
    std::vector<std::string> event_types{};
    /// Only events of streams whose whole id matches this glob pattern.
    std::optional<StreamPattern> stream_pattern{};

    /// Whether an event of `stream` and `type` passes the filters.
    [[nodiscard]] auto matches(std::string_view stream, std::string_view type) const -> bool {
        if (!stream.starts_with(stream_prefix)) return false;
        if (stream_pattern && !stream_pattern->matches(stream)) return false;
        if (event_types.empty()) return true;
        for (const auto& t : event_types) {
            if (t == type) return true;
        }
        return false;
    }
};

/// What a read of the global log saw.
struct LogPage {
    /// Events delivered.
    std::size_t count = 0;
    /// How far the log was read: every matching event up to here was delivered. Pass it as the
    /// next query's `after`; behind a selective filter it moves on even when nothing matched.
    GlobalPosition last{};
    /// The store's last position when the page was read.
    GlobalPosition head{};
};

namespace detail {
/// Stands for any visitor a store must accept in the `EventStore` requirements.
template <class E>
struct EventVisitorArchetype {
    void operator()(const RecordedEvent<E>&) const {}
};
} // namespace detail

/// A subscription's or projection's saved place in the log.
struct Checkpoint {
    std::string name;
    GlobalPosition position;
    Timestamp updated_at{};

    friend auto operator==(const Checkpoint&, const Checkpoint&) -> bool = default;
};

/// A callable that receives recorded events, one at a time.
template <class F, class E>
concept EventVisitor = std::invocable<F&, const RecordedEvent<E>&>;

/// A place to keep event streams. For its event type `E = S::event_type`, a store:
///
/// 1. `read_streams(span<const StreamId> ids, visitor) -> Result<vector<StreamVersion>>` reads
///    several streams as one consistent snapshot (never half of a commit): it calls the visitor
///    with every event of those streams in global-position order, and returns each stream's
///    version in the snapshot (0 for a stream without events), in the order of `ids`;
/// 2. `read_stream(id, StreamVersion from, visitor) -> Result<StreamVersion>` visits one
///    stream's events from version `from` (inclusive) and returns its version; a `from` past
///    the end visits nothing, cheaply (`stream_version` relies on it);
/// 3. `read_all(LogQuery, visitor) -> Result<LogPage>` visits the global log in increasing
///    position, never skipping a committed event, each commit's events together, filtered by
///    stream prefix and event type before the limit applies (a page of `LogQuery::default_limit`
///    events unless the query names another; `visit_log` reads on to the head);
/// 4. `append(AppendRequest<E>) -> Result<CommitReceipt>` commits atomically: every expectation
///    is checked and every event written, or nothing is, and the error is `version_conflict`
///    naming each stream that did not match;
/// 5. `find_commit(Uuid) -> Result<optional<CommitReceipt>>` finds a commit by command id;
/// 6. `head() -> Result<GlobalPosition>` gives the last position.
///
/// \code
/// static_assert(eventcore::EventStore<eventcore::InMemoryEventStore<BankEvent>>);
/// \endcode
template <class S>
concept EventStore =
    requires { typename S::event_type; } &&
    requires(S& store, const S& cstore, std::span<const StreamId> ids, const StreamId& id, StreamVersion from,
             const LogQuery& query, AppendRequest<typename S::event_type> request, const Uuid& command_id,
             detail::EventVisitorArchetype<typename S::event_type> visitor) {
        { cstore.read_streams(ids, visitor) } -> std::same_as<Result<std::vector<StreamVersion>>>;
        { cstore.read_stream(id, from, visitor) } -> std::same_as<Result<StreamVersion>>;
        { cstore.read_all(query, visitor) } -> std::same_as<Result<LogPage>>;
        { store.append(std::move(request)) } -> std::same_as<Result<CommitReceipt>>;
        { cstore.find_commit(command_id) } -> std::same_as<Result<std::optional<CommitReceipt>>>;
        { cstore.head() } -> std::same_as<Result<GlobalPosition>>;
    };

/// A store that live readers can follow: an `EventStore` that also
///
/// 1. `wait_for_events(GlobalPosition after, milliseconds timeout) -> Result<GlobalPosition>`
///    returns the head as soon as the log holds events after `after` (at once if it already
///    does), or when `timeout` passes, without busy polling;
/// 2. `save_checkpoint(name, GlobalPosition) -> Result<void>`,
///    `load_checkpoint(name) -> Result<optional<GlobalPosition>>`,
///    `checkpoints() -> Result<vector<Checkpoint>>` and `delete_checkpoint(name) -> Result<bool>`
///    keep named places in the log, durably where the store is durable.
///
/// A live store may also have `advance_checkpoint(name, GlobalPosition from, GlobalPosition to)
/// -> Result<void>`, which moves a checkpoint only if it is still at `from` (a missing one is at
/// 0) and otherwise fails with a `projection` error, code `EVENTCORE_CHECKPOINT_MOVED`: the stores
/// of this library have it, and `ProjectionRunner` uses it when it is there (see
/// `detail::MovesCheckpoints`), so that a runner that lost its lock cannot move a checkpoint back.
template <class S>
concept LiveEventStore =
    EventStore<S> && requires(S& store, const S& cstore, GlobalPosition after, std::chrono::milliseconds timeout,
                              std::string_view name) {
        { store.wait_for_events(after, timeout) } -> std::same_as<Result<GlobalPosition>>;
        { store.save_checkpoint(name, after) } -> std::same_as<Result<void>>;
        { cstore.load_checkpoint(name) } -> std::same_as<Result<std::optional<GlobalPosition>>>;
        { cstore.checkpoints() } -> std::same_as<Result<std::vector<Checkpoint>>>;
        { store.delete_checkpoint(name) } -> std::same_as<Result<bool>>;
    };

namespace detail {
/// Whether a store can move a checkpoint by compare-and-set (see `LiveEventStore`).
template <class S>
concept MovesCheckpoints = requires(S& store, std::string_view name, GlobalPosition at) {
    { store.advance_checkpoint(name, at, at) } -> std::same_as<Result<void>>;
};

/// Checks a checkpoint name: 1 to 255 bytes of UTF-8 without control characters.
[[nodiscard]] auto validate_checkpoint_name(std::string_view name) -> Result<void>;

/// The error of a fenced checkpoint move that found the checkpoint elsewhere.
[[nodiscard]] auto checkpoint_moved(std::string_view name, GlobalPosition from) -> Error;

/// Why `text` cannot be kept as text by every store, if it cannot: it must be valid UTF-8 (RFC
/// 3629: no encoded surrogates) without NUL, since PostgreSQL's text and jsonb refuse both and
/// SQLite's JSON functions cannot read the first back. `controls` refuses every control character.
[[nodiscard]] auto text_problem(std::string_view text, bool controls = false) -> std::optional<std::string>;

/// Checks metadata that goes into a store as text: the command name and the custom key/value
/// pairs. One rule for every store, checked before any store takes a lock.
[[nodiscard]] auto validate_custom_metadata(const std::vector<std::pair<std::string, std::string>>& custom,
                                            std::string_view where) -> Result<void>;

/// The longest start of `text` that is valid UTF-8 without NUL: all of it, or the bytes before
/// the first that are not. Stores whose parameters must be text match a prefix by bytes with it.
[[nodiscard]] auto valid_text_head(std::string_view text) noexcept -> std::string_view;

/// Checks the type name a store records for commit event #`index`: not empty, valid UTF-8, no
/// control characters.
[[nodiscard]] auto validate_event_type(std::size_t index, const StreamId& stream, std::string_view type)
    -> Result<void>;

/// Checks the metadata of commit event #`index` that stores keep as text.
[[nodiscard]] auto validate_event(std::size_t index, const StreamId& stream, const EventMetadata& metadata)
    -> Result<void>;

/// The `timeout` of a projection lock that another runner held for all of `waited`.
[[nodiscard]] auto projection_running(std::string_view name, std::chrono::milliseconds waited) -> Error;
/// The `serialization` error of an event for `stream` that its codec refused with `why`.
[[nodiscard]] auto unencodable_event(const StreamId& stream, const Error& why) -> Error;
/// The `storage` error of a stored stream id that is not valid (`why`).
[[nodiscard]] auto invalid_stored_stream(const Error& why) -> Error;
/// The `deserialization` error of a stored event its codec could not decode.
[[nodiscard]] auto undecodable_event(const StreamId& stream, StreamVersion version, const Error& why) -> Error;

/// What `validate_request` needs of an event to write: where it goes and its metadata.
struct EventHead {
    const StreamId& stream;
    const EventMetadata& metadata;
};

/// `validate_request` without the event type: `event(i)` gives the head of event #i of `events`.
[[nodiscard]] auto validate_request(std::span<const StreamExpectation> expectations, std::size_t events,
                                    FunctionRef<EventHead(std::size_t)> event) -> Result<std::vector<std::size_t>>;

/// Checks the shape of a request before a store takes any lock: ids present, no stream
/// expected twice, every written stream expected, metadata storable as text (see
/// `validate_event`). Returns, for each event, the index of its stream's expectation.
template <class E>
[[nodiscard]] auto validate_request(const AppendRequest<E>& request) -> Result<std::vector<std::size_t>> {
    return validate_request(request.expectations, request.events.size(), [&](std::size_t i) {
        const auto& e = request.events[i];
        return EventHead{e.stream, e.metadata};
    });
}
} // namespace detail

} // namespace eventcore
