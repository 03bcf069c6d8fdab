#pragma once
/// \file
/// `InMemoryEventStore<E>`: a typed store in memory, for tests and development.

#include <eventcore/detail/append_only_list.hpp>
#include <eventcore/event_store.hpp>
#include <eventcore/event_type_name.hpp>
#include <eventcore/projection_lock.hpp>

#include <algorithm>
#include <cstddef>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace eventcore {

/// An event store in memory: no serialization, safe to share between threads.
///
/// Events are never copied out for a fold: a reader takes a consistent snapshot of the stream
/// versions under a shared lock, then visits the events in place after releasing it (events
/// never move, and those below a snapshot's versions never change), so a long fold does not
/// hold up writers, and a snapshot never holds half a commit.
///
/// \code
/// eventcore::InMemoryEventStore<BankEvent> store;
/// eventcore::CommandExecutor executor{store};
/// auto result = executor.execute(OpenAccount{.account = StreamId::from_static("account-1"), .amount = 100});
/// \endcode
template <class E>
class InMemoryEventStore {
public:
    using event_type = E;

    InMemoryEventStore() = default;
    InMemoryEventStore(const InMemoryEventStore&) = delete;
    auto operator=(const InMemoryEventStore&) -> InMemoryEventStore& = delete;

    template <EventVisitor<E> F>
    [[nodiscard]] auto read_streams(std::span<const StreamId> ids, F&& visit) const -> Result<std::vector<StreamVersion>> {
        std::vector<StreamVersion> versions(ids.size());
        std::vector<const Stream*> seen;
        std::vector<Cursor> cursors;
        seen.reserve(ids.size());
        cursors.reserve(ids.size());
        {
            std::shared_lock lock(mutex_);
            for (std::size_t i = 0; i < ids.size(); ++i) {
                const auto it = streams_.find(ids[i]);
                if (it == streams_.end()) continue;
                const Stream& s = it->second;
                versions[i] = StreamVersion{s.events.size()};
                if (s.events.empty() || std::ranges::find(seen, &s) != seen.end()) continue;
                seen.push_back(&s);
                cursors.push_back(s.events.cursor(0, s.events.size()));
            }
        }
        visit_in_position_order(cursors, visit);
        return versions;
    }

    template <EventVisitor<E> F>
    [[nodiscard]] auto read_stream(const StreamId& id, StreamVersion from, F&& visit) const -> Result<StreamVersion> {
        Cursor cursor;
        StreamVersion version;
        {
            std::shared_lock lock(mutex_);
            const auto it = streams_.find(id);
            if (it == streams_.end()) return StreamVersion{};
            const auto& events = it->second.events;
            version = StreamVersion{events.size()};
            cursor = events.cursor(from.is_zero() ? 0 : from.value() - 1, events.size());
        }
        for (; !cursor.done(); cursor.advance()) visit(cursor.peek()->event);
        return version;
    }

    template <EventVisitor<E> F>
    [[nodiscard]] auto read_all(const LogQuery& query, F&& visit) const -> Result<LogPage> {
        std::vector<const Entry*> events;
        LogPage page{.count = 0, .last = query.after, .head = {}};
        {
            std::shared_lock lock(mutex_);
            page.head = GlobalPosition{log_.size()};
            std::size_t i = query.after.value();
            for (; i < log_.size(); ++i) {
                const Entry& e = log_[i];
                // Stop only between commits, so a page never splits one.
                if (events.size() >= query.limit &&
                    (events.empty() || e.event.position > events.back()->commit_last))
                    break;
                if (query.matches(e.event.stream.view(), event_type_name_of(e.event.payload))) events.push_back(&e);
            }
            page.last = GlobalPosition{std::max<std::size_t>(i, query.after.value())};
        }
        for (const Entry* e : events) visit(e->event);
        page.count = events.size();
        return page;
    }

    [[nodiscard]] auto append(AppendRequest<E> request) -> Result<CommitReceipt> {
        auto owners = detail::validate_request(request);
        if (!owners) return fail(std::move(owners).error());
        for (std::size_t e = 0; e < request.events.size(); ++e) {
            auto& w = request.events[e];
            // The name a durable store would record: the same rule as theirs.
            if (auto valid = detail::validate_event_type(e, w.stream, event_type_name_of(w.payload)); !valid)
                return fail(std::move(valid).error());
            if (w.metadata.event_id.is_nil()) w.metadata.event_id = Uuid::v7();
        }

        std::unique_lock lock(mutex_);
        if (request.command_id) {
            if (const auto it = commits_.find(*request.command_id); it != commits_.end()) {
                CommitReceipt first = it->second;
                first.duplicate = true;
                return first;
            }
        }

        auto& expectations = request.expectations;
        std::vector<Stream*> targets(expectations.size());
        std::vector<VersionConflict> conflicts;
        for (std::size_t i = 0; i < expectations.size(); ++i) {
            const auto it = streams_.find(expectations[i].stream);
            if (it != streams_.end()) targets[i] = &it->second;
            const StreamVersion actual{targets[i] ? targets[i]->events.size() : 0};
            if (!expectations[i].expected.matches(actual))
                conflicts.push_back({expectations[i].stream, expectations[i].expected, actual});
        }
        if (!conflicts.empty()) return fail(Error::conflict(std::move(conflicts)));

        CommitReceipt receipt;
        receipt.command_id = request.command_id;
        receipt.committed_at = now();
        receipt.events.reserve(request.events.size());
        const GlobalPosition last{log_.size() + request.events.size()};
        std::size_t appended = 0; // events in both the log and their stream
        try {
            for (auto& w : request.events) {
                Stream*& target = targets[(*owners)[appended]];
                if (target == nullptr) target = &streams_.try_emplace(w.stream).first->second;
                const StreamVersion version{target->events.size() + 1};
                const GlobalPosition position{log_.size() + 1};
                receipt.events.push_back({w.stream, version, position, w.metadata.event_id});
                w.metadata.recorded_at = receipt.committed_at;
                log_.push_back(Entry{{std::move(w.stream), version, position, std::move(w.metadata), std::move(w.payload)},
                                     last});
                try {
                    target->events.push_back(&log_.back());
                } catch (...) {
                    log_.pop_back();
                    throw;
                }
                ++appended;
            }
            receipt.streams.reserve(expectations.size());
            for (std::size_t i = 0; i < expectations.size(); ++i) {
                // The request's ids are not needed past this point: move them, a copy each saved.
                receipt.streams.push_back(
                    {std::move(expectations[i].stream), StreamVersion{targets[i] ? targets[i]->events.size() : 0}});
            }
            if (receipt.command_id) commits_.emplace(*receipt.command_id, receipt);
        } catch (...) {
            // Out of memory part-way: take back what this commit added, so it stays all-or-nothing.
            // Nothing of it was visible: readers wait for the lock we hold. Streams it created stay,
            // empty, which is the same as absent.
            for (; appended > 0; --appended) {
                targets[(*owners)[appended - 1]]->events.pop_back();
                log_.pop_back();
            }
            throw;
        }
        if (!request.events.empty()) {
            lock.unlock();
            changed_.notify_all();
        }
        return receipt;
    }

    [[nodiscard]] auto find_commit(const Uuid& command_id) const -> Result<std::optional<CommitReceipt>> {
        std::shared_lock lock(mutex_);
        const auto it = commits_.find(command_id);
        if (it == commits_.end()) return std::optional<CommitReceipt>{};
        return std::optional<CommitReceipt>{it->second};
    }

    [[nodiscard]] auto head() const -> Result<GlobalPosition> {
        std::shared_lock lock(mutex_);
        return GlobalPosition{log_.size()};
    }

    [[nodiscard]] auto wait_for_events(GlobalPosition after, std::chrono::milliseconds timeout) -> Result<GlobalPosition> {
        std::shared_lock lock(mutex_);
        changed_.wait_for(lock, timeout, [&] { return log_.size() > after.value(); });
        return GlobalPosition{log_.size()};
    }

    [[nodiscard]] auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> {
        if (auto valid = detail::validate_checkpoint_name(name); !valid) return valid;
        std::unique_lock lock(mutex_);
        checkpoints_.insert_or_assign(std::string(name), Checkpoint{std::string(name), position, now()});
        return {};
    }

    /// Moves checkpoint `name` from `from` (a missing checkpoint is at 0) to `to`, only if it is
    /// still at `from`; otherwise a `projection` error (`EVENTCORE_CHECKPOINT_MOVED`) and nothing
    /// changes. How a runner that lost its lock is kept from moving a checkpoint back.
    [[nodiscard]] auto advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void> {
        if (auto valid = detail::validate_checkpoint_name(name); !valid) return valid;
        std::unique_lock lock(mutex_);
        const auto it = checkpoints_.find(name);
        if ((it == checkpoints_.end() ? GlobalPosition{} : it->second.position) != from)
            return fail(detail::checkpoint_moved(name, from));
        checkpoints_.insert_or_assign(std::string(name), Checkpoint{std::string(name), to, now()});
        return {};
    }

    [[nodiscard]] auto load_checkpoint(std::string_view name) const -> Result<std::optional<GlobalPosition>> {
        std::shared_lock lock(mutex_);
        const auto it = checkpoints_.find(name);
        if (it == checkpoints_.end()) return std::optional<GlobalPosition>{};
        return std::optional<GlobalPosition>{it->second.position};
    }

    [[nodiscard]] auto checkpoints() const -> Result<std::vector<Checkpoint>> {
        std::shared_lock lock(mutex_);
        std::vector<Checkpoint> all;
        for (const auto& [name, c] : checkpoints_) all.push_back(c);
        return all;
    }

    [[nodiscard]] auto delete_checkpoint(std::string_view name) -> Result<bool> {
        std::unique_lock lock(mutex_);
        const auto it = checkpoints_.find(name);
        if (it == checkpoints_.end()) return false;
        checkpoints_.erase(it);
        return true;
    }

    /// The one runner of projection `name`: waits up to `wait` for another runner to let go
    /// (zero: do not wait), then fails with `timeout` naming the projection.
    [[nodiscard]] auto lock_projection(std::string_view name, std::chrono::milliseconds wait) -> Result<ProjectionLock> {
        // The lock shares the set of running names, rather than pointing into the store: a lock
        // may be released after its store is gone.
        auto shared = projections_;
        std::unique_lock lock(shared->mutex);
        const auto free = [&] { return !shared->running.contains(name); };
        if (!shared->released.wait_for(lock, wait, free)) {
            return fail(detail::projection_running(name, wait));
        }
        shared->running.emplace(name);
        return ProjectionLock([shared, key = std::string(name)] {
            {
                std::lock_guard relock(shared->mutex);
                shared->running.erase(key);
            }
            shared->released.notify_all();
        });
    }

    /// The number of streams with at least one event.
    [[nodiscard]] auto stream_count() const -> std::size_t {
        std::shared_lock lock(mutex_);
        return static_cast<std::size_t>(
            std::ranges::count_if(streams_, [](const auto& kv) { return !kv.second.events.empty(); }));
    }

private:
    struct Entry {
        RecordedEvent<E> event;
        GlobalPosition commit_last; // the position of the last event of this event's commit
    };
    struct Stream {
        detail::AppendOnlyList<const Entry*> events; // element v - 1 has version v
    };
    using Cursor = typename detail::AppendOnlyList<const Entry*>::Cursor;

    /// Visits the events under several cursors, each in position order, merged by position.
    template <class F>
    static void visit_in_position_order(std::vector<Cursor>& cursors, F& visit) {
        if (cursors.size() == 1) {
            for (auto& c = cursors.front(); !c.done(); c.advance()) visit(c.peek()->event);
            return;
        }
        const auto later = [](const Cursor& a, const Cursor& b) {
            return a.peek()->event.position > b.peek()->event.position;
        };
        std::ranges::make_heap(cursors, later);
        while (!cursors.empty()) {
            std::ranges::pop_heap(cursors, later);
            Cursor& next = cursors.back();
            visit(next.peek()->event);
            next.advance();
            if (next.done()) {
                cursors.pop_back();
            } else {
                std::ranges::push_heap(cursors, later);
            }
        }
    }

    mutable std::shared_mutex mutex_;
    std::deque<Entry> log_; // log_[p - 1] has position p; a deque never moves its elements
    std::unordered_map<StreamId, Stream, StreamIdHash, StreamIdEqual> streams_;
    std::unordered_map<Uuid, CommitReceipt> commits_;
    std::map<std::string, Checkpoint, std::less<>> checkpoints_;
    mutable std::condition_variable_any changed_; // notified after each commit that wrote events

    /// The projections running, with their locks' release.
    struct Projections {
        std::mutex mutex;
        std::condition_variable released;
        std::set<std::string, std::less<>> running;
    };
    std::shared_ptr<Projections> projections_ = std::make_shared<Projections>();
};


} // namespace eventcore
