#pragma once
/// \file
/// `ProjectionRunner`: keeps a read model up to date from the log, from a saved checkpoint.

#include <eventcore/event_store.hpp>
#include <eventcore/projection_lock.hpp>
#include <eventcore/sql_session.hpp>
#include <eventcore/subscription.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <span>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace eventcore {

/// What a projection does when its projector fails on an event.
enum class OnError : unsigned char {
    stop,  ///< stop, and report the event and the error; the checkpoint stays before the event
    skip,  ///< record the event as skipped (`on_skip`, `ProjectionStatus::skipped`) and go on
    retry, ///< try again with backoff, up to `max_attempts`, then stop
};

/// The per-event error policy.
struct ErrorPolicy {
    OnError action = OnError::stop;
    /// For `retry`: attempts per event, the first included.
    std::uint32_t max_attempts = 5;
    std::chrono::milliseconds initial_delay{10};
    std::chrono::milliseconds max_delay{1000};
};

/// An event a projector could not apply, and why.
struct SkippedEvent {
    StreamId stream;
    StreamVersion version;
    GlobalPosition position;
    Error error;
};

/// How far a projection has got.
struct ProjectionProgress {
    /// Events the runner has gone past in this run (matching or not), and how many there were
    /// to go past when it started.
    std::uint64_t done = 0;
    std::uint64_t total = 0;
    GlobalPosition position{};
};

/// A projection's state.
struct ProjectionStatus {
    GlobalPosition checkpoint{};
    GlobalPosition head{};
    std::uint64_t applied = 0;
    std::vector<SkippedEvent> skipped{};
    /// How many positions the read model is behind the log.
    [[nodiscard]] auto lag() const noexcept -> std::uint64_t {
        return head > checkpoint ? head.value() - checkpoint.value() : 0;
    }
};

/// Settings of a projection.
struct ProjectionOptions {
    /// Names the checkpoint and the lock: one active runner per name.
    std::string name;
    /// Which events the projector gets (see `SubscriptionOptions`).
    std::string stream_prefix{};
    std::optional<StreamPattern> stream_pattern{};
    std::vector<std::string> event_types{};
    std::size_t batch_size = 256;
    ErrorPolicy on_error{};
    /// When another runner holds the projection: how long to wait for it before failing with
    /// `timeout` (zero: report at once).
    std::chrono::milliseconds wait_for_lock{0};
    std::function<void(const ProjectionProgress&)> on_progress{};
    std::function<void(const SkippedEvent&)> on_skip{};
    /// The longest a wait for new events blocks before looking at the stop token again.
    std::chrono::milliseconds stop_check_interval{50};
};

namespace detail {
template <class P, class E>
concept AppliesEvents = requires(P& p, const RecordedEvent<E>& e) { p.apply(e); };

template <class P, class E>
concept AppliesBatches = requires(P& p, std::span<const RecordedEvent<E>> batch) { p.apply_batch(batch); };

template <class P, class E>
concept AppliesInTransaction = requires(P& p, const RecordedEvent<E>& e, SqlSession& sql) { p.apply(e, sql); };

template <class S>
concept HasTransactions = requires(S& s) {
    s.transaction([](SqlSession&) -> Result<void> { return {}; });
};

/// The error a projection stops with when its lock was lost (`why`).
[[nodiscard]] auto projection_lock_lost(std::string_view projection, const Error& why) -> Error;
/// The error a projection stops with at an event, after `attempts` tries under a retry policy
/// (0: no retry policy).
[[nodiscard]] auto projection_stopped(std::string_view projection, const StreamId& stream, StreamVersion version,
                                      GlobalPosition position, std::uint32_t attempts, const Error& error) -> Error;
/// The `projection` error of a projector that threw something other than an `Exception`.
[[nodiscard]] auto projector_threw(const std::exception& e) -> Error;

/// Runs a projector's `apply`, turning whatever it returns or throws into a `Result`.
template <class F>
[[nodiscard]] auto guarded(F&& apply) -> Result<void> {
    try {
        if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
            apply();
            return {};
        } else {
            return apply();
        }
    } catch (const Exception& e) {
        return fail(e.error());
    } catch (const tl::bad_expected_access<Error>& e) {
        return fail(e.error());
    } catch (const std::exception& e) {
        return fail(projector_threw(e));
    }
}
} // namespace detail

/// A projector the runner can drive: for events `E`, either
///
/// 1. **at least once**: `apply(const RecordedEvent<E>&)` and/or
///    `apply_batch(std::span<const RecordedEvent<E>>)`, returning `void` or `Result<void>`
///    (and optionally `reset()`, for rebuilds). A projector with both gets whole batches, and
///    after a failed batch its events one at a time, so that the error policy meets the event
///    that failed. The checkpoint is saved after each batch; after a crash, the events since the
///    last checkpoint are applied again, so applying should be idempotent or tolerate repeats;
/// 2. **exactly once** (SQLite and PostgreSQL stores): `apply(const RecordedEvent<E>&,
///    SqlSession&)`, writing its read model with the session (and optionally
///    `reset(SqlSession&)`). Each batch and its checkpoint commit in one transaction, so no event
///    is ever applied twice, crash or not.
template <class P, class E>
concept Projector = detail::AppliesEvents<P, E> || detail::AppliesBatches<P, E> || detail::AppliesInTransaction<P, E>;

/// Drives a projector from the projection's checkpoint: catches up, then follows the log live,
/// saving the checkpoint in the store as it goes. Only one runner per projection name is
/// active at a time, across threads and processes (the store's `lock_projection`).
///
/// \code
/// BalanceProjector balances;
/// eventcore::ProjectionRunner runner{store, balances, {.name = "balances", .stream_prefix = "account-"}};
/// std::jthread worker([&](std::stop_token stop) { auto ended = runner.run(stop); });
/// \endcode
template <LiveEventStore S, class P>
    requires Projector<P, typename S::event_type>
class ProjectionRunner {
public:
    using Event = typename S::event_type;
    static constexpr bool exactly_once = detail::AppliesInTransaction<P, Event>;
    static_assert(!exactly_once || detail::HasTransactions<S>,
                  "eventcore: an exactly-once projector (apply(event, SqlSession&)) needs a store with "
                  "transactions: SqliteEventStore or PostgresEventStore");

    ProjectionRunner(S& store, P& projector, ProjectionOptions options)
        : store_(store), projector_(projector), options_(std::move(options)) {}

    /// Catches up, then follows the log until `stop` is requested (noticed within
    /// `stop_check_interval`). An error means the projection stopped: the lock was taken
    /// (`timeout`), the store failed, or, under `OnError::stop`, the projector failed on an event
    /// (kind `projection` or the projector's own, with the event's stream and version).
    [[nodiscard]] auto run(std::stop_token stop) -> Result<ProjectionStatus> { return drive(stop, false); }

    /// Catches up to the head as it is now, then returns.
    [[nodiscard]] auto catch_up() -> Result<ProjectionStatus> { return drive({}, true); }

    /// Starts again from the beginning: resets the projector (its `reset`) and the checkpoint,
    /// then catches up, reporting progress through `on_progress`.
    [[nodiscard]] auto rebuild() -> Result<ProjectionStatus> {
        auto lock = store_.lock_projection(options_.name, options_.wait_for_lock);
        if (!lock) return fail(std::move(lock).error());
        Result<void> reset;
        if constexpr (exactly_once) {
            reset = store_.transaction([&](SqlSession& sql) -> Result<void> {
                if constexpr (requires { projector_.reset(sql); }) {
                    if (auto r = detail::guarded([&] { return projector_.reset(sql); }); !r) return r;
                }
                return sql.save_checkpoint(options_.name, GlobalPosition{});
            });
        } else {
            if constexpr (requires { projector_.reset(); }) {
                if (auto r = detail::guarded([&] { return projector_.reset(); }); !r) return fail(std::move(r).error());
            }
            reset = store_.save_checkpoint(options_.name, GlobalPosition{});
        }
        if (!reset) return fail(std::move(reset).error());
        return drive_locked({}, true, *lock);
    }

    /// The projection's state as the store has it: checkpoint, head, lag.
    [[nodiscard]] auto status() const -> Result<ProjectionStatus> {
        auto checkpoint = store_.load_checkpoint(options_.name);
        if (!checkpoint) return fail(std::move(checkpoint).error());
        auto head = store_.head();
        if (!head) return fail(std::move(head).error());
        ProjectionStatus s = status_;
        s.checkpoint = checkpoint->value_or(GlobalPosition{});
        s.head = *head;
        return s;
    }

private:
    [[nodiscard]] auto drive(std::stop_token stop, bool until_caught_up) -> Result<ProjectionStatus> {
        auto lock = store_.lock_projection(options_.name, options_.wait_for_lock);
        if (!lock) return fail(std::move(lock).error());
        return drive_locked(stop, until_caught_up, *lock);
    }

    [[nodiscard]] auto drive_locked(std::stop_token stop, bool until_caught_up, const ProjectionLock& lock)
        -> Result<ProjectionStatus> {
        auto saved = store_.load_checkpoint(options_.name);
        if (!saved) return fail(std::move(saved).error());
        const GlobalPosition started = saved->value_or(GlobalPosition{});
        status_.checkpoint = started;
        auto start_head = store_.head();
        if (!start_head) return fail(std::move(start_head).error());
        Subscription<S> events{store_,
                               {.after = started,
                                .stream_prefix = options_.stream_prefix,
                                .stream_pattern = options_.stream_pattern,
                                .event_types = options_.event_types,
                                .batch_size = options_.batch_size,
                                .stop_check_interval = options_.stop_check_interval}};
        while (!stop.stop_requested()) {
            auto batch = events.next(until_caught_up ? std::chrono::milliseconds{0} : options_.stop_check_interval);
            if (!batch) return fail(std::move(batch).error());
            if (!batch->empty() || events.position() > status_.checkpoint) {
                // A lock can be lost behind this runner's back (its PostgreSQL session ended), and
                // another runner may have it now: look before doing anything with the batch.
                if (auto held = lock.still_held(); !held) return fail(lost(std::move(held).error()));
            }
            if (!batch->empty()) {
                if (auto applied = apply_batch(*batch, events.position()); !applied)
                    return fail(std::move(applied).error());
            } else if (events.position() > status_.checkpoint) {
                // Only events the projection does not want went by: keep the checkpoint up with them.
                if (auto moved = save(events.position()); !moved) return fail(std::move(moved).error());
            }
            report(started, *start_head, events.position());
            if (until_caught_up && events.caught_up() && batch->empty()) break;
        }
        return status();
    }

    void report(GlobalPosition started, GlobalPosition start_head, GlobalPosition now) {
        if (!options_.on_progress) return;
        const std::uint64_t total = start_head > started ? start_head.value() - started.value() : 0;
        const std::uint64_t done = now > started ? now.value() - started.value() : 0;
        options_.on_progress({std::min(done, std::max(total, done)), std::max(total, done), now});
    }

    /// The error a projection stops with when its lock was lost.
    [[nodiscard]] auto lost(Error why) const -> Error {
        return detail::projection_lock_lost(options_.name, why);
    }

    /// Moves the checkpoint from where this runner left it to `position`: fenced, so that a
    /// runner that lost its lock cannot move it back over another runner's progress.
    [[nodiscard]] auto save(GlobalPosition position) -> Result<void> {
        if (position == status_.checkpoint) return {};
        if constexpr (exactly_once) {
            // Fenced like a batch, so a runner that lost its lock cannot move the checkpoint.
            auto r = store_.transaction([&](SqlSession& sql) -> Result<void> {
                return sql.advance_checkpoint(options_.name, status_.checkpoint, position);
            });
            if (!r) return r;
        } else if constexpr (detail::MovesCheckpoints<S>) {
            if (auto r = store_.advance_checkpoint(options_.name, status_.checkpoint, position); !r) return r;
        } else {
            // A store without a compare-and-set move (one of its user's own): unfenced.
            if (auto r = store_.save_checkpoint(options_.name, position); !r) return r;
        }
        status_.checkpoint = position;
        return {};
    }

    /// Applies a batch and moves the checkpoint to `through`; stops at the first event that
    /// fails for good, with the checkpoint just before it.
    [[nodiscard]] auto apply_batch(typename Subscription<S>::Batch batch, GlobalPosition through) -> Result<void> {
        if constexpr (exactly_once) {
            // Each pass is one transaction from `start`: it ends at the batch's end, or just before
            // an event that failed. A retry waits outside the transaction (holding no write lock),
            // then goes on from that event.
            std::size_t start = 0;
            std::uint32_t attempt = 1;
            std::chrono::milliseconds delay = options_.on_error.initial_delay;
            while (start < batch.size()) {
                std::optional<Error> failed;
                std::optional<std::size_t> retry;
                std::size_t applied = 0;
                std::vector<SkippedEvent> skipped;
                GlobalPosition moved_to = through;
                auto committed = store_.transaction([&](SqlSession& sql) -> Result<void> {
                    for (std::size_t i = start; i < batch.size(); ++i) {
                        const auto& e = batch[i];
                        auto r = sql.isolated([&]() -> Result<void> {
                            return detail::guarded([&] { return projector_.apply(e, sql); });
                        });
                        if (r) {
                            ++applied;
                            continue;
                        }
                        const std::uint32_t n = i == start ? attempt : 1;
                        const auto next = decide(n);
                        if (next == Next::skip) {
                            skipped.push_back({e.stream, e.version, e.position, std::move(r).error()});
                            continue;
                        }
                        if (next == Next::retry) {
                            retry = i;
                        } else {
                            failed = stopped(e, n, r.error());
                        }
                        // Keep what came before the failing event: exactly once, up to it.
                        moved_to = GlobalPosition{e.position.value() - 1};
                        break;
                    }
                    return sql.advance_checkpoint(options_.name, status_.checkpoint, moved_to);
                });
                if (!committed) return committed;
                status_.checkpoint = moved_to;
                status_.applied += applied;
                for (auto& s : skipped) {
                    if (options_.on_skip) options_.on_skip(s);
                    status_.skipped.push_back(std::move(s));
                }
                if (failed) return fail(std::move(*failed));
                if (!retry) return {};
                if (*retry != start) {
                    start = *retry;
                    attempt = 1;
                    delay = options_.on_error.initial_delay;
                }
                std::this_thread::sleep_for(delay);
                delay = std::min(delay * 2, options_.on_error.max_delay);
                ++attempt;
            }
            return {};
        } else {
            if constexpr (detail::AppliesBatches<P, Event>) {
                auto whole = detail::guarded([&] { return projector_.apply_batch(batch); });
                if (whole) {
                    status_.applied += batch.size();
                    return save(through);
                }
                if constexpr (!detail::AppliesEvents<P, Event>) {
                    // Only batches to apply: narrow the failing one down to the events that fail.
                    GlobalPosition stop_before{};
                    if (auto r = narrow(std::span<const RecordedEvent<Event>>(batch), std::move(whole).error(), stop_before);
                        !r) {
                        (void)save(stop_before);
                        return r;
                    }
                    return save(through);
                }
            }
            if constexpr (detail::AppliesEvents<P, Event>) {
                for (const auto& e : batch) {
                    auto r = with_policy(e, [&] { return detail::guarded([&] { return projector_.apply(e); }); });
                    if (!r) {
                        (void)save(GlobalPosition{e.position.value() - 1});
                        return r;
                    }
                }
                return save(through);
            }
        }
    }

    /// Applies `events`, which failed as a whole with `failed`, in halves, and the halves that fail
    /// in halves again, down to single events, which meet the error policy: every event that does
    /// not fail on its own is applied, in order. An error only if the projection must stop, with
    /// `stop_before` the position just before the event it stopped at.
    [[nodiscard]] auto narrow(std::span<const RecordedEvent<Event>> events, Error failed, GlobalPosition& stop_before)
        -> Result<void> {
        if (events.size() == 1) {
            const auto& e = events.front();
            auto r = with_policy(
                e, [&] { return detail::guarded([&] { return projector_.apply_batch(events); }); }, std::move(failed));
            if (!r) stop_before = GlobalPosition{e.position.value() - 1};
            return r;
        }
        const std::size_t half = events.size() / 2;
        for (const auto part : {events.first(half), events.subspan(half)}) {
            auto r = detail::guarded([&] { return projector_.apply_batch(part); });
            if (r) {
                status_.applied += part.size();
                continue;
            }
            if (auto narrowed = narrow(part, std::move(r).error(), stop_before); !narrowed) return narrowed;
        }
        return {};
    }

    enum class Next : unsigned char { skip, retry, stop };

    /// What the error policy says after the `n`th failed attempt at an event.
    [[nodiscard]] auto decide(std::uint32_t n) const -> Next {
        const auto& policy = options_.on_error;
        if (policy.action == OnError::skip) return Next::skip;
        if (policy.action == OnError::stop || n >= std::max<std::uint32_t>(policy.max_attempts, 1)) return Next::stop;
        return Next::retry;
    }

    /// The error a projection stops with, naming the event.
    [[nodiscard]] auto stopped(const RecordedEvent<Event>& e, std::uint32_t n, const Error& error) const -> Error {
        return detail::projection_stopped(options_.name, e.stream, e.version, e.position,
                                          options_.on_error.action == OnError::retry ? n : 0, error);
    }

    /// Applies one event under the error policy: the result is an error only if the projection
    /// must stop. `first`: the error of a first attempt already made.
    template <class F>
    [[nodiscard]] auto with_policy(const RecordedEvent<Event>& e, F&& attempt, std::optional<Error> first = std::nullopt)
        -> Result<void> {
        std::chrono::milliseconds delay = options_.on_error.initial_delay;
        for (std::uint32_t n = 1;; ++n) {
            auto r = n == 1 && first ? Result<void>(fail(std::move(*first))) : attempt();
            if (r) {
                ++status_.applied;
                return {};
            }
            switch (decide(n)) {
            case Next::skip: {
                SkippedEvent skipped{e.stream, e.version, e.position, r.error()};
                if (options_.on_skip) options_.on_skip(skipped);
                status_.skipped.push_back(std::move(skipped));
                return {};
            }
            case Next::stop: return fail(stopped(e, n, r.error()));
            case Next::retry: break;
            }
            std::this_thread::sleep_for(delay);
            delay = std::min(delay * 2, options_.on_error.max_delay);
        }
    }

    S& store_;
    P& projector_;
    ProjectionOptions options_;
    ProjectionStatus status_{};
};

} // namespace eventcore
