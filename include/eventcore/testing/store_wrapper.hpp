#pragma once
/// \file
/// `StoreWrapper<Inner>`: a store that passes every call to another one; a base for stores that
/// change a few calls (`ChaosStore`, `ConflictingStore`, your own).

#include <eventcore/event_store.hpp>
#include <eventcore/projection_lock.hpp>
#include <eventcore/sql_session.hpp>

#include <chrono>
#include <concepts>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace eventcore::testing {

/// Forwards every call of the `EventStore` concept to `inner`, and those of `LiveEventStore`,
/// `advance_checkpoint`, `lock_projection` and `transaction` when `inner` has them: a wrapper is
/// whatever kind of store it wraps. A derived class hides the calls it changes with its own of the
/// same name.
///
/// \code
/// template <class Inner>
/// class CountingStore : public eventcore::testing::StoreWrapper<Inner> {
/// public:
///     using eventcore::testing::StoreWrapper<Inner>::StoreWrapper;
///     auto append(eventcore::AppendRequest<typename Inner::event_type> request) {
///         ++appends;
///         return this->inner().append(std::move(request));
///     }
///     int appends = 0;
/// };
/// \endcode
template <EventStore Inner>
class StoreWrapper {
public:
    using event_type = typename Inner::event_type;
    using inner_type = Inner;

    explicit StoreWrapper(Inner& inner) noexcept : inner_(inner) {}

    [[nodiscard]] auto inner() const noexcept -> Inner& { return inner_; }

    template <EventVisitor<event_type> F>
    [[nodiscard]] auto read_streams(std::span<const StreamId> ids, F&& visit) const -> Result<std::vector<StreamVersion>> {
        return inner_.read_streams(ids, std::forward<F>(visit));
    }
    template <EventVisitor<event_type> F>
    [[nodiscard]] auto read_stream(const StreamId& id, StreamVersion from, F&& visit) const -> Result<StreamVersion> {
        return inner_.read_stream(id, from, std::forward<F>(visit));
    }
    template <EventVisitor<event_type> F>
    [[nodiscard]] auto read_all(const LogQuery& query, F&& visit) const -> Result<LogPage> {
        return inner_.read_all(query, std::forward<F>(visit));
    }
    [[nodiscard]] auto append(AppendRequest<event_type> request) -> Result<CommitReceipt> { return inner_.append(std::move(request)); }
    [[nodiscard]] auto find_commit(const Uuid& command_id) const -> Result<std::optional<CommitReceipt>> {
        return inner_.find_commit(command_id);
    }
    [[nodiscard]] auto head() const -> Result<GlobalPosition> { return inner_.head(); }

    [[nodiscard]] auto wait_for_events(GlobalPosition after, std::chrono::milliseconds timeout) -> Result<GlobalPosition>
        requires LiveEventStore<Inner>
    {
        return inner_.wait_for_events(after, timeout);
    }
    [[nodiscard]] auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void>
        requires LiveEventStore<Inner>
    {
        return inner_.save_checkpoint(name, position);
    }
    [[nodiscard]] auto advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void>
        requires detail::MovesCheckpoints<Inner>
    {
        return inner_.advance_checkpoint(name, from, to);
    }
    [[nodiscard]] auto load_checkpoint(std::string_view name) const -> Result<std::optional<GlobalPosition>>
        requires LiveEventStore<Inner>
    {
        return inner_.load_checkpoint(name);
    }
    [[nodiscard]] auto checkpoints() const -> Result<std::vector<Checkpoint>>
        requires LiveEventStore<Inner>
    {
        return inner_.checkpoints();
    }
    [[nodiscard]] auto delete_checkpoint(std::string_view name) -> Result<bool>
        requires LiveEventStore<Inner>
    {
        return inner_.delete_checkpoint(name);
    }
    [[nodiscard]] auto lock_projection(std::string_view name, std::chrono::milliseconds wait) -> Result<ProjectionLock>
        requires requires(Inner& s, std::string_view n, std::chrono::milliseconds w) { s.lock_projection(n, w); }
    {
        return inner_.lock_projection(name, wait);
    }
    template <std::invocable<SqlSession&> F>
        requires requires(Inner& s, F&& body) { s.transaction(std::forward<F>(body)); }
    [[nodiscard]] auto transaction(F&& body) -> Result<void> {
        return inner_.transaction(std::forward<F>(body));
    }

private:
    Inner& inner_;
};

} // namespace eventcore::testing
