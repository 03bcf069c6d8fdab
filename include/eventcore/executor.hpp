#pragma once
/// \file
/// `CommandExecutor<Store>`: read, fold, decide, commit, retry.

#include <eventcore/command.hpp>
#include <eventcore/deadline.hpp>
#include <eventcore/detail/function_ref.hpp>
#include <eventcore/event_store.hpp>
#include <eventcore/observer.hpp>
#include <eventcore/retry_policy.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace eventcore {

/// How an executor behaves, for every command it runs.
struct ExecutorConfig {
    /// Retries after version conflicts (and transient store failures); `ExecuteOptions::retry`
    /// overrides it per call.
    RetryPolicy retry{};
    /// The most streams one command may read, declared and discovered together.
    std::size_t max_streams = 256;
    /// The most rounds of a command that may add streams; the command runs at most one round
    /// more. A `require` that fails in a round that added streams costs a round (see
    /// `StreamResolver`); a `resolve` hook adds them all in one.
    std::uint32_t max_discovery_rounds = 32;
    /// Metrics hooks; may be null.
    std::shared_ptr<ExecutorObserver> observer{};
};

/// Settings for one call of `execute`.
struct ExecuteOptions {
    /// Idempotency: the first execution with this id commits; later ones with the same id write
    /// nothing and return the first one's outcome (`ExecutionResult::duplicate`). Without it,
    /// each call gets a fresh id.
    std::optional<Uuid> command_id{};
    /// Recorded on every event; defaults to the command id.
    std::optional<Uuid> correlation_id{};
    /// No new attempt starts, and no retry waits, past this point: the call fails with `timeout`.
    /// Stores that can interrupt a call in flight (PostgreSQL) stop waiting for the server at it
    /// too: a read cut off is `timeout`, a commit cut off `in_doubt` (it may still land).
    std::optional<std::chrono::steady_clock::time_point> deadline{};
    /// Key/value pairs recorded on every event (`EventMetadata::custom`).
    std::vector<std::pair<std::string, std::string>> metadata{};
    /// Overrides `ExecutorConfig::retry` for this call.
    std::optional<RetryPolicy> retry{};
};

/// What an execution did.
struct ExecutionResult {
    Uuid command_id;
    /// Attempts made by this call (1 without conflicts; 0 when duplicate without running).
    std::uint32_t attempts = 0;
    /// The events written, with their streams, versions and global positions.
    std::vector<WrittenEvent> events;
    /// Every stream the command read, with its version after the commit.
    std::vector<StreamState> streams;
    /// True when `command_id` had already been executed: nothing was written by this call, and
    /// `events` and `streams` are those of the first execution.
    bool duplicate = false;
};

/// What an execution did and decided: an `ExecutionResult` that also holds the written events
/// whole, so that a caller can say what was decided without reading them back. `execute`
/// returns it; it converts to a plain `ExecutionResult`.
///
/// \code
/// auto booked = executor.execute(BookSeat{.show = show, .seat = seat, .customer = customer});
/// if (!booked) return fail(std::move(booked).error());
/// for (const auto& e : booked->written)
///     if (const auto* charged = std::get_if<Charged>(&e.payload)) fmt::print("{} charged\n", charged->amount);
/// \endcode
template <class E>
struct ExecutionResultOf : ExecutionResult {
    /// The events written, in the order of `events`, as a reader of the store sees them: stream,
    /// version, global position, metadata (with the commit's `recorded_at`) and payload. For a
    /// `duplicate`, the first execution's, read back from the store.
    std::vector<RecordedEvent<E>> written;
    /// Why `written` is empty although `events` is not: reading a duplicate's events back from
    /// the store failed. The commit itself is certain, so this is not a failure of the call.
    std::optional<Error> written_error;
};

/// Runs commands against a store:
///
/// 1. read every stream the command declares, as one consistent snapshot;
/// 2. fold the events into a fresh `State`, in global-position order;
/// 3. run `resolve` (if any) and `handle`; if they add streams, read those too and go back to 2,
///    until a round adds nothing new (bounded by `max_streams` and `max_discovery_rounds`);
/// 4. commit the written events to all their streams at once, expecting every stream read
///    (written or not) to be still at the version read;
/// 5. on a version conflict, wait as the `RetryPolicy` says and start again at 1.
///
/// It is thread-safe: share one executor between threads.
///
/// \code
/// eventcore::InMemoryEventStore<BankEvent> store;
/// eventcore::CommandExecutor executor{store};
/// auto result = executor.execute(TransferMoney{.from_account = a, .to_account = b, .amount = 300});
/// if (!result) fmt::print("failed: {}\n", result.error());
/// else fmt::print("committed in {} attempt(s)\n", result->attempts);
/// \endcode
namespace detail {
// The executor's messages, and what it needs that does not depend on the store or the command:
// compiled once, in the library.
[[nodiscard]] auto deadline_before_attempt(std::string_view command, std::uint32_t attempt) -> Error;
[[nodiscard]] auto deadline_before_retry(std::string_view command, const Error& last) -> Error;
/// `in_doubt` for a command whose attempt `attempt` was in doubt and that then failed with `error`.
[[nodiscard]] auto in_doubt_then_failed(std::string_view command, std::uint32_t attempt, std::string_view doubt,
                                        std::string code, const Error& error, bool caller_id, const Uuid& command_id)
    -> Error;
/// `error` (in doubt), with what its caller can do to learn the truth.
[[nodiscard]] auto in_doubt(Error error, bool caller_id, const Uuid& command_id) -> Error;
/// The error of a command whose every attempt met `last`, a retryable error.
[[nodiscard]] auto exhausted(std::string_view command, std::uint32_t attempts, Error last) -> Error;
[[nodiscard]] auto unreadable_commit(std::string_view command, const Uuid& command_id, const Error& read) -> Error;
[[nodiscard]] auto empty_declared_stream(std::string_view command, std::size_t field) -> Error;
[[nodiscard]] auto no_declared_stream(std::string_view command) -> Error;
[[nodiscard]] auto too_many_declared_streams(std::string_view command, std::size_t streams, std::size_t limit) -> Error;
[[nodiscard]] auto discovery_limit(std::string_view command, std::uint32_t rounds, std::span<const StreamId> added)
    -> Error;
[[nodiscard]] auto deadline_discovering(std::string_view command) -> Error;
/// Removes every id that occurs earlier in `ids`, keeping the order of the rest.
void keep_first_occurrences(std::vector<StreamId>& ids);
[[nodiscard]] auto commit_missing_events(std::string_view command, const Uuid& command_id, std::size_t events,
                                         std::size_t found) -> Error;

/// The events of a receipt by event id, to match the events of a commit read back from the log.
class ReceiptIndex {
public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    /// `events` must not be empty.
    explicit ReceiptIndex(std::span<const WrittenEvent> events);
    /// Where the event with `id` is in the receipt, or `npos`.
    [[nodiscard]] auto find(const Uuid& id) const noexcept -> std::size_t;
    [[nodiscard]] auto first() const noexcept -> GlobalPosition { return first_; }
    [[nodiscard]] auto last() const noexcept -> GlobalPosition { return last_; }

private:
    std::vector<std::pair<Uuid, std::size_t>> by_id_;
    GlobalPosition first_;
    GlobalPosition last_;
};
} // namespace detail

namespace detail {

/// What one attempt decided: the streams read, their versions, the events to write.
template <class E>
struct Decision {
    std::vector<StreamId> streams;
    std::vector<StreamVersion> versions;
    std::vector<StreamWrite<E>> writes;
};

/// What the executor asks of a store, behind virtual calls: `Run` and `Decider` are compiled once
/// per event type and once per command, however many store types a file uses them with.
template <class E>
class StoreCalls {
public:
    using Visit = FunctionRef<void(const RecordedEvent<E>&)>;
    StoreCalls() = default;
    StoreCalls(const StoreCalls&) = delete;
    auto operator=(const StoreCalls&) -> StoreCalls& = delete;
    virtual ~StoreCalls() = default;

    [[nodiscard]] virtual auto read_streams(std::span<const StreamId> ids, Visit visit) const
        -> Result<std::vector<StreamVersion>> = 0;
    [[nodiscard]] virtual auto append(AppendRequest<E> request) const -> Result<CommitReceipt> = 0;
    [[nodiscard]] virtual auto find_commit(const Uuid& command_id) const -> Result<std::optional<CommitReceipt>> = 0;
    [[nodiscard]] virtual auto read_all(const LogQuery& query, Visit visit) const -> Result<LogPage> = 0;
};

/// The part of a call that knows the command: its declared streams, and steps 1 to 3 (read,
/// fold, resolve and handle). Everything else, `Run` does once per event type, whatever the
/// command and the store, so that a file with many commands compiles the retry loop once.
template <class C>
class Decider {
    using Event = typename C::Event;
    using State = typename C::State;
    using Decision = detail::Decision<Event>;

public:
    static constexpr std::string_view name = detail::command_name<C>();

    Decider(const ExecutorConfig& config, const StoreCalls<Event>& store, const C& command,
            const ExecuteOptions& options)
        : config_(config), store_(store), command_(command), options_(options) {}

    /// The declared streams' ids, each once (two fields may hold the same id).
    [[nodiscard]] auto declared_streams() const -> Result<std::vector<StreamId>> {
        std::size_t total = 0;
        for (const auto& f : C::streams) total += f.one != nullptr ? 1 : (command_.*f.many).size();
        std::vector<StreamId> all;
        all.reserve(total);
        std::size_t field = 0;
        for (const auto& f : C::streams) {
            const auto ids = f.one != nullptr ? std::span<const StreamId>(&(command_.*f.one), 1)
                                              : std::span<const StreamId>(command_.*f.many);
            for (const auto& id : ids) {
                if (id.empty()) return fail(detail::empty_declared_stream(name, field));
                all.push_back(id);
            }
            ++field;
        }
        if (all.empty()) return fail(detail::no_declared_stream(name));
        detail::keep_first_occurrences(all);
        return all;
    }

    /// Steps 1 to 3: read, fold, resolve and handle, until the set of streams settles.
    [[nodiscard]] auto decide(std::vector<StreamId> streams) const -> Result<Decision> {
        if (streams.size() > config_.max_streams)
            return fail(detail::too_many_declared_streams(name, streams.size(), config_.max_streams));
        for (std::uint32_t round = 1;; ++round) {
            State state{};
            StreamResolver resolver(streams, config_.max_streams);
            auto outcome = run_round(streams, state, resolver);
            if (!outcome) return fail(std::move(outcome).error());
            if (resolver.added().empty()) {
                outcome->streams = std::move(streams);
                return std::move(*outcome);
            }
            if (round > config_.max_discovery_rounds)
                return fail(detail::discovery_limit(name, config_.max_discovery_rounds, resolver.added()));
            if (past_deadline_now()) return fail(detail::deadline_discovering(name));
            auto added = resolver.take_added();
            streams.insert(streams.end(), std::make_move_iterator(added.begin()),
                           std::make_move_iterator(added.end()));
        }
    }

    /// One round: a fresh snapshot of `streams`, folded, then `resolve` and `handle`. When the
    /// round adds streams, its writes and business-rule failures are set aside: they were
    /// decided without the added streams, and the next round decides again with them.
    [[nodiscard]] auto run_round(std::span<const StreamId> streams, State& state, StreamResolver& resolver) const
        -> Result<Decision> {
        Decision decision;
        try {
            const auto fold = [&](const RecordedEvent<Event>& e) { command_.apply(state, e); };
            auto versions = store().read_streams(streams, fold);
            if (!versions) return fail(std::move(versions).error());
            decision.versions = std::move(*versions);
            if constexpr (HasResolver<C>) {
                command_.resolve(std::as_const(state), resolver);
                if (!resolver.added().empty()) return decision;
            }
            Context<C> ctx(command_, streams, decision.versions, resolver);
            if constexpr (std::is_void_v<decltype(command_.handle(std::as_const(state), ctx))>) {
                command_.handle(std::as_const(state), ctx);
            } else {
                CommandResult outcome = command_.handle(std::as_const(state), ctx);
                if (!outcome) return rejected(std::move(outcome).error(), resolver, std::move(decision));
            }
            if (resolver.added().empty()) decision.writes = ctx.take_writes();
            return decision;
        } catch (Exception& e) {
            return rejected(std::move(e).error(), resolver, std::move(decision));
        } catch (tl::bad_expected_access<Error>& e) {
            return rejected(std::move(e.error()), resolver, std::move(decision));
        }
    }

    [[nodiscard]] static auto rejected(Error error, const StreamResolver& resolver, Decision decision) -> Result<Decision> {
        const bool may_depend_on_added =
            error.is(ErrorKind::business_rule) || error.is(ErrorKind::undeclared_stream);
        if (may_depend_on_added && !resolver.added().empty()) return decision;
        return fail(std::move(error));
    }

private:
    auto store() const -> const StoreCalls<Event>& { return store_; }
    auto past_deadline_now() const -> bool {
        return options_.deadline && std::chrono::steady_clock::now() > *options_.deadline;
    }

    const ExecutorConfig& config_;
    const StoreCalls<Event>& store_;
    const C& command_;
    const ExecuteOptions& options_;
};

/// One call of `execute`: its settings and what it has learned so far.
template <class E>
class Run {
public:
    using Event = E;
    using Outcome = ExecutionResultOf<E>;
    using Decision = detail::Decision<E>;
    using Declare = FunctionRef<Result<std::vector<StreamId>>()>;
    using Decide = FunctionRef<Result<Decision>(std::vector<StreamId>)>;

    Run(const ExecutorConfig& config, const StoreCalls<E>& store, std::string_view command_name, Declare declare,
        Decide decide, const ExecuteOptions& options)
        : name(command_name), config_(config), store_(store), declare_(declare), decide_(decide), options_(options),
          retry_(options.retry ? *options.retry : config.retry),
          command_id_(options.command_id ? *options.command_id : Uuid::v7()),
          started_(config.observer ? Clock::now() : Clock::time_point{}) {}

    [[nodiscard]] auto execute() -> Result<Outcome> {
        if (auto valid = retry_.validate(); !valid) return failed(std::move(valid).error());
        // Every event carries it: refused once, here, rather than by the store at each attempt.
        if (auto valid = detail::validate_custom_metadata(options_.metadata, "ExecuteOptions::metadata"); !valid)
            return failed(std::move(valid).error());
        if (auto first = find_first_execution(); !first || *first) {
            if (!first) return failed(std::move(first).error());
            return replay(std::move(**first));
        }
        auto declared = declare_();
        if (!declared) return failed(std::move(declared).error());

        for (attempts_ = 1;; ++attempts_) {
            if (past_deadline_now())
                return failed(detail::deadline_before_attempt(name, attempts_));
            observe([&](ExecutorObserver& o) { o.on_attempt({name, command_id_, attempts_}); });

            auto outcome = attempt(*declared);
            if (outcome || finished_ || !retryable(outcome.error())) return outcome;
            auto error = std::move(outcome).error();
            if (error.is(ErrorKind::in_doubt)) note_doubt(error);
            if (error.is(ErrorKind::version_conflict)) {
                observe([&](ExecutorObserver& o) {
                    o.on_conflict({name, command_id_, attempts_, error.conflicts()});
                });
            }
            if (attempts_ >= retry_.max_attempts) return failed(exhausted(std::move(error)));
            const auto delay = retry_.delay_after(attempts_);
            if (past_deadline(Clock::now() + delay)) return failed(detail::deadline_before_retry(name, error));
            observe([&](ExecutorObserver& o) { o.on_retry({name, command_id_, attempts_ + 1, delay}); });
            if (delay.count() > 0) std::this_thread::sleep_for(delay);
        }
    }

private:
    using Clock = std::chrono::steady_clock;

    const std::string_view name;

    auto store() const -> const StoreCalls<E>& { return store_; }

    auto past_deadline(Clock::time_point t) const -> bool { return options_.deadline && t > *options_.deadline; }
    // Reads the clock only when there is a deadline: a clock read costs as much as a small commit.
    auto past_deadline_now() const -> bool { return options_.deadline && Clock::now() > *options_.deadline; }

    template <class F>
    void observe(F&& notify) const {
        if (config_.observer) notify(*config_.observer);
    }

    /// Every failure goes out through here. Once an attempt was in doubt, no later failure may
    /// say that nothing was written: the outcome is the commit, if the store finds it by the
    /// command id, or `in_doubt`. An `in_doubt` error always carries the command id.
    [[nodiscard]] auto failed(Error error) const -> Result<Outcome> {
        finished_ = true; // what comes out of here is the outcome, retryable kind or not
        if (doubt_ && !error.is(ErrorKind::in_doubt)) {
            if (options_.command_id) {
                if (auto first = store().find_commit(*options_.command_id); first && *first) {
                    (*first)->duplicate = true; // this call's own, or a twin's: `committed` tells
                    return committed(std::move(**first), Clock::duration{});
                }
            }
            error = detail::in_doubt_then_failed(name, doubt_->attempt, doubt_->message, doubt_->code, error,
                                                 options_.command_id.has_value(), command_id_);
        } else if (error.is(ErrorKind::in_doubt) && !doubt_) {
            error = detail::in_doubt(std::move(error), options_.command_id.has_value(), command_id_);
        }
        if (error.is(ErrorKind::in_doubt)) error = std::move(error).with_command_id(command_id_);
        observe([&](ExecutorObserver& o) { o.on_failure({name, command_id_, attempts_, error}); });
        return fail(std::move(error));
    }

    /// Remembers the first attempt that was in doubt, and the first event id of each such
    /// attempt: a later receipt for the command id that holds one of them is this call's own.
    void note_doubt(const Error& error) const {
        if (!doubt_) doubt_ = Doubt{attempts_, error.message(), error.code(), {}};
        if (!last_first_event_.is_nil()) {
            doubt_->first_events.push_back(last_first_event_);
            doubted_sent_.push_back(std::move(sent_)); // if it landed, these are its events
        }
    }

    /// Only what cannot do harm is tried again: a conflict or a failure the store vouches is
    /// transient (nothing was changed), and, with a caller's command id, a commit in doubt
    /// (the store refuses a second commit of the id: the retry finds the first if it landed).
    auto retryable(const Error& e) const -> bool {
        return e.is(ErrorKind::version_conflict) || e.is(ErrorKind::transient) ||
               (e.is(ErrorKind::in_doubt) && options_.command_id.has_value());
    }

    /// One attempt: decide, then commit. A retryable error comes back as it is; any other
    /// outcome is final (and already reported to the observer).
    [[nodiscard]] auto attempt(const std::vector<StreamId>& declared) const -> Result<Outcome> {
        auto decision = decide_(declared);
        if (!decision) {
            if (retryable(decision.error())) return fail(std::move(decision).error());
            return rejected_or_duplicate(std::move(decision).error());
        }
        if (decision->writes.empty() && !options_.command_id) return unchanged(std::move(*decision));
        // Commit latency is for the observer; without one, no clock reads.
        const bool timed = config_.observer != nullptr;
        const auto commit_started = timed ? Clock::now() : Clock::time_point{};
        auto request = request_for(std::move(*decision));
        last_first_event_ = request.events.empty() ? Uuid{} : request.events.front().metadata.event_id;
        remember_sent(request);
        auto receipt = store().append(std::move(request));
        const auto commit_ended = timed ? Clock::now() : Clock::time_point{};
        if (receipt) return committed(std::move(*receipt), commit_ended - commit_started);
        if (retryable(receipt.error())) return fail(std::move(receipt).error());
        return failed(std::move(receipt).error());
    }

    /// Keeps a copy of the events about to be sent, for the result: what the store is given
    /// it keeps, and reading it back would cost a read.
    void remember_sent(const AppendRequest<Event>& request) const {
        sent_.clear();
        sent_.reserve(request.events.size());
        for (const auto& e : request.events)
            sent_.push_back({e.stream, StreamVersion{}, GlobalPosition{}, e.metadata, e.payload});
    }

    /// With a caller's command id: the first execution's receipt, if there was one.
    [[nodiscard]] auto find_first_execution() const -> Result<std::optional<CommitReceipt>> {
        if (!options_.command_id) return std::optional<CommitReceipt>{};
        return store().find_commit(*options_.command_id);
    }

    /// A command that failed to decide may have lost a race with its own twin (same command
    /// id), whose commit changed the state it decided on: then the twin's outcome is ours.
    [[nodiscard]] auto rejected_or_duplicate(Error error) const -> Result<Outcome> {
        if (auto first = find_first_execution(); first && *first) {
            (*first)->duplicate = true;
            return committed(std::move(**first), Clock::duration{});
        }
        return failed(std::move(error));
    }

    auto exhausted(Error last) const -> Error { return detail::exhausted(name, attempts_, std::move(last)); }

    /// Step 4's request: the writes, and an exact expectation for every stream read.
    auto request_for(Decision decision) const -> AppendRequest<Event> {
        AppendRequest<Event> request;
        // Only a caller's id asks for idempotency: recording every generated id would cost
        // every commit a write for nothing.
        request.command_id = options_.command_id;
        request.expectations.reserve(decision.streams.size());
        for (std::size_t i = 0; i < decision.streams.size(); ++i) {
            request.expectations.push_back(
                {std::move(decision.streams[i]), ExpectedVersion::exact(decision.versions[i])});
        }
        request.events.reserve(decision.writes.size());
        const Uuid correlation = options_.correlation_id.value_or(command_id_);
        const auto now = std::chrono::system_clock::now(); // one clock read for all the event ids
        for (auto& w : decision.writes) {
            request.events.push_back({std::move(w.stream), std::move(w.event),
                                      EventMetadata{.event_id = Uuid::v7(now),
                                                    .recorded_at = {},
                                                    .correlation_id = correlation,
                                                    .causation_id = command_id_,
                                                    .command = std::string(name),
                                                    .custom = options_.metadata}});
        }
        return request;
    }

    [[nodiscard]] auto committed(CommitReceipt receipt, Clock::duration commit_latency) const -> Result<Outcome> {
        // A receipt for the command id after an attempt in doubt may be that attempt's own
        // commit, found: then this call wrote it, and it is no duplicate.
        if (receipt.duplicate && !own_doubted_commit(receipt)) return replay(std::move(receipt));
        observe([&](ExecutorObserver& o) {
            o.on_commit({name, command_id_, attempts_, receipt.events.size(), Clock::now() - started_,
                         commit_latency});
        });
        auto written = written_by(receipt);
        Outcome outcome{{command_id_, attempts_, std::move(receipt.events), std::move(receipt.streams), false}, {}, {}};
        if (written) outcome.written = std::move(*written);
        else outcome.written_error = std::move(written).error();
        return outcome;
    }

    [[nodiscard]] auto unchanged(Decision decision) const -> Result<Outcome> {
        Outcome result{{command_id_, attempts_, {}, {}, false}, {}, {}};
        result.streams.reserve(decision.streams.size());
        for (std::size_t i = 0; i < decision.streams.size(); ++i)
            result.streams.push_back({std::move(decision.streams[i]), decision.versions[i]});
        return result;
    }

    /// Whether `receipt` is the commit of an attempt of this call that was in doubt: it holds
    /// the first event of one. A receipt without events cannot tell; after a doubt, it is
    /// taken as this call's.
    auto own_doubted_commit(const CommitReceipt& receipt) const -> bool {
        if (!doubt_) return false;
        if (receipt.events.empty()) return true;
        return std::ranges::find(doubt_->first_events, receipt.events.front().event_id) !=
               doubt_->first_events.end();
    }

    [[nodiscard]] auto replay(CommitReceipt first) const -> Result<Outcome> {
        // The commit is certain whatever the read gives: a failed read is noted, never the
        // outcome (a caller told "failed" would do again what was done).
        auto written = read_back(first);
        Outcome outcome{{command_id_, attempts_, std::move(first.events), std::move(first.streams), true}, {}, {}};
        if (written) outcome.written = std::move(*written);
        else outcome.written_error = std::move(written).error();
        return outcome;
    }

    /// The events of `receipt` whole: those an attempt of this call sent (the last one, or one
    /// in doubt), if the receipt is theirs, with the places the store gave them; otherwise
    /// (an earlier call's commit) read back from the store.
    [[nodiscard]] auto written_by(const CommitReceipt& receipt) const -> Result<std::vector<RecordedEvent<Event>>> {
        const auto theirs = [&](const std::vector<RecordedEvent<Event>>& sent) {
            return sent.size() == receipt.events.size() &&
                   (sent.empty() || sent.front().metadata.event_id == receipt.events.front().event_id);
        };
        auto* sent = theirs(sent_) ? &sent_ : nullptr;
        for (auto& doubted : doubted_sent_) {
            if (sent == nullptr && !receipt.events.empty() && theirs(doubted)) sent = &doubted;
        }
        if (sent == nullptr) return read_back(receipt);
        for (std::size_t i = 0; i < sent->size(); ++i) {
            (*sent)[i].version = receipt.events[i].version;
            (*sent)[i].position = receipt.events[i].position;
            (*sent)[i].metadata.recorded_at = receipt.committed_at;
        }
        return std::move(*sent);
    }

    /// The events of an earlier commit, read from the log: the pages from its first position
    /// on, until each of its events was seen.
    [[nodiscard]] auto read_back(const CommitReceipt& receipt) const -> Result<std::vector<RecordedEvent<Event>>> {
        const auto& where = receipt.events;
        if (where.empty()) return std::vector<RecordedEvent<Event>>{};
        const detail::ReceiptIndex index(where);
        std::vector<std::optional<RecordedEvent<Event>>> slots(where.size()); // in the receipt's order
        std::size_t found = 0;
        LogQuery query;
        query.after = GlobalPosition(index.first().value() - 1);
        query.limit = where.size();
        while (found < where.size() && query.after < index.last()) {
            auto page = store().read_all(query, [&](const RecordedEvent<Event>& e) {
                if (e.position > index.last()) return;
                const auto at = index.find(e.metadata.event_id);
                if (at != detail::ReceiptIndex::npos && !slots[at]) {
                    slots[at] = e;
                    ++found;
                }
            });
            if (!page) return fail(detail::unreadable_commit(name, command_id_, page.error()));
            if (page->last <= query.after) break; // the log ends here
            query.after = page->last;
        }
        if (found != where.size()) return fail(detail::commit_missing_events(name, command_id_, where.size(), found));
        std::vector<RecordedEvent<Event>> ordered;
        ordered.reserve(where.size());
        for (auto& slot : slots) ordered.push_back(std::move(*slot));
        return ordered;
    }

    const ExecutorConfig& config_;
    const StoreCalls<E>& store_;
    Declare declare_;
    Decide decide_;
    const ExecuteOptions& options_;
    const RetryPolicy& retry_;
    Uuid command_id_;
    Clock::time_point started_;
    std::uint32_t attempts_ = 0;

    /// The first attempt whose commit was in doubt.
    struct Doubt {
        std::uint32_t attempt;
        std::string message;
        std::string code;
        std::vector<Uuid> first_events; // of every attempt in doubt
    };
    mutable std::optional<Doubt> doubt_;
    mutable Uuid last_first_event_{}; // the first event id of the last commit sent
    mutable bool finished_ = false;   // `failed` gave the outcome: no retry
    mutable std::vector<RecordedEvent<Event>> sent_; // the events of the last commit sent
    mutable std::vector<std::vector<RecordedEvent<Event>>> doubted_sent_; // of each attempt in doubt
};

} // namespace detail

template <EventStore S>
class CommandExecutor {
public:
    using store_type = S;
    using event_type = typename S::event_type;

    /// Throws `Exception` (kind `validation`) for a bad `config`, naming the setting.
    explicit CommandExecutor(S& store, ExecutorConfig config = {}) : store_(store), config_(std::move(config)) {
        if (auto valid = config_.retry.validate(); !valid) throw Exception(std::move(valid).error());
        if (config_.max_streams < 1)
            throw Exception(Error(ErrorKind::validation, "ExecutorConfig::max_streams must be at least 1"));
    }

    [[nodiscard]] auto store() const noexcept -> S& { return store_; }
    [[nodiscard]] auto config() const noexcept -> const ExecutorConfig& { return config_; }

    /// Executes `command`; see the class comment for the steps. Errors come back as values:
    /// `business_rule`, `undeclared_stream`, `validation`, `too_many_streams`, `discovery_limit`,
    /// `concurrency_exhausted` (with the last conflicts), `timeout`, `in_doubt` (a commit that may
    /// have landed, with `Error::command_id()`: once an attempt was in doubt, nothing else), or the
    /// store's own.
    template <Command C>
        requires std::same_as<typename C::Event, event_type>
    [[nodiscard]] auto execute(const C& command, const ExecuteOptions& options = {}) const -> Result<ExecutionResultOf<event_type>> {
        // Stores that can interrupt a call in flight bound it by the deadline too.
        const DeadlineScope bound(options.deadline);
        const Calls calls(store_);
        const detail::Decider<C> decider(config_, calls, command, options);
        const auto declare = [&] { return decider.declared_streams(); };
        const auto decide = [&](std::vector<StreamId> streams) { return decider.decide(std::move(streams)); };
        return detail::Run<event_type>(config_, calls, detail::Decider<C>::name, declare, decide, options).execute();
    }

    /// Not a command: this overload only explains why.
    template <class C>
        requires(!Command<C>)
    [[nodiscard]] auto execute(const C&, const ExecuteOptions& = {}) const -> Result<ExecutionResultOf<event_type>> {
        // One error, naming what is wrong, however many executors the type is given to.
        static_assert(detail::diagnose_command<C>(), "eventcore: this type is not a command (see the Command concept)");
        return fail(ErrorKind::validation, "unreachable");
    }

    /// A command of another event type: this overload only explains why.
    template <Command C>
        requires(!std::same_as<typename C::Event, event_type>)
    [[nodiscard]] auto execute(const C&, const ExecuteOptions& = {}) const -> Result<ExecutionResultOf<event_type>> {
        static_assert(std::same_as<typename C::Event, event_type>,
                      "eventcore: the command's Event type must be the store's event_type");
        return fail(ErrorKind::validation, "unreachable");
    }

private:
    /// The store's calls for `Run` and `Decider`: compiled once per store type.
    class Calls final : public detail::StoreCalls<event_type> {
    public:
        using Visit = typename detail::StoreCalls<event_type>::Visit;
        explicit Calls(S& store) noexcept : store_(store) {}
        auto read_streams(std::span<const StreamId> ids, Visit visit) const -> Result<std::vector<StreamVersion>> override {
            return store_.read_streams(ids, visit);
        }
        auto append(AppendRequest<event_type> request) const -> Result<CommitReceipt> override {
            return store_.append(std::move(request));
        }
        auto find_commit(const Uuid& command_id) const -> Result<std::optional<CommitReceipt>> override {
            return store_.find_commit(command_id);
        }
        auto read_all(const LogQuery& query, Visit visit) const -> Result<LogPage> override {
            return store_.read_all(query, visit);
        }

    private:
        S& store_;
    };

    S& store_;
    ExecutorConfig config_;
};

} // namespace eventcore
