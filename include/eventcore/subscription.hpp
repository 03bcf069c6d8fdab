#pragma once
/// \file
/// `Subscription<S>`: catch up with the log, then follow it live.

#include <eventcore/event_store.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

namespace eventcore {

/// What a subscription delivers, and from where.
struct SubscriptionOptions {
    /// Deliver events after this position (0: from the beginning of the log).
    GlobalPosition after{};
    /// If set, start after the position saved under this name instead (when there is one).
    std::string checkpoint{};
    /// Filters, applied by the store before the batch size counts: a selective subscription
    /// moves on behind any number of events it does not want.
    std::string stream_prefix{};
    std::optional<StreamPattern> stream_pattern{};
    std::vector<std::string> event_types{};
    /// About this many events per batch; a batch never splits a commit.
    std::size_t batch_size = 256;
    /// The longest a wait for new events blocks before looking at the stop token again.
    std::chrono::milliseconds stop_check_interval{50};
};

/// Reads the global log from a position: first what is stored, in batches (catching up), then
/// each commit as it lands (live), woken by the store without busy polling. Events come in
/// commit order, each commit's events in one batch, and no committed event is ever skipped.
///
/// \code
/// eventcore::Subscription subscription{store, {.stream_prefix = "account-"}};
/// std::jthread follower([&](std::stop_token stop) {
///     auto ended = subscription.run(stop, [&](auto batch) -> eventcore::Result<void> {
///         for (const auto& e : batch) balances[e.stream] += delta(e.payload);
///         return {};
///     });
/// });
/// \endcode
template <LiveEventStore S>
class Subscription {
public:
    using Event = typename S::event_type;
    using Batch = std::span<const RecordedEvent<Event>>;

    Subscription(S& store, SubscriptionOptions options) : store_(store), options_(std::move(options)) {
        after_ = options_.after;
    }

    /// The position the subscription has read up to: every matching event at or before it has
    /// been delivered.
    [[nodiscard]] auto position() const noexcept -> GlobalPosition { return after_; }

    /// Whether the last read reached the end of the log.
    [[nodiscard]] auto caught_up() const noexcept -> bool { return caught_up_; }

    /// Moves the subscription (e.g. back to 0, to read everything again).
    void seek(GlobalPosition after) noexcept {
        after_ = after;
        caught_up_ = false;
    }

    /// The next batch: stored events while there are any; once caught up, waits up to `wait` for
    /// a commit. An empty batch means nothing arrived. The batch is valid until the next call.
    [[nodiscard]] auto next(std::chrono::milliseconds wait = std::chrono::milliseconds{0}) -> Result<Batch> {
        if (auto started = start(); !started) return fail(std::move(started).error());
        if (auto got = read_page(); !got || !buffer_.empty() || !caught_up_ || wait.count() <= 0) {
            if (!got) return fail(std::move(got).error());
            return Batch(buffer_);
        }
        auto head = store_.wait_for_events(after_, wait);
        if (!head) return fail(std::move(head).error());
        if (*head <= after_) return Batch{};
        if (auto got = read_page(); !got) return fail(std::move(got).error());
        return Batch(buffer_);
    }

    /// Delivers batches to `handler` (callable with `Batch`, returning `Result<void>`) until
    /// `stop` is requested, which it notices within `stop_check_interval`. Returns the handler's
    /// or the store's first error; the batch that failed is not counted as read.
    template <class F>
    [[nodiscard]] auto run(std::stop_token stop, F&& handler) -> Result<void> {
        while (!stop.stop_requested()) {
            const GlobalPosition before = after_;
            auto batch = next(options_.stop_check_interval);
            if (!batch) return fail(std::move(batch).error());
            if (batch->empty()) continue;
            if (auto handled = handler(*batch); !handled) {
                after_ = before;
                caught_up_ = false;
                return handled;
            }
        }
        return {};
    }

private:
    /// Resolves the starting checkpoint, once.
    [[nodiscard]] auto start() -> Result<void> {
        if (started_) return {};
        if (!options_.checkpoint.empty()) {
            auto saved = store_.load_checkpoint(options_.checkpoint);
            if (!saved) return fail(std::move(saved).error());
            if (*saved) after_ = **saved;
        }
        started_ = true;
        return {};
    }

    [[nodiscard]] auto read_page() -> Result<void> {
        buffer_.clear();
        const LogQuery query{.after = after_,
                             .limit = std::max<std::size_t>(options_.batch_size, 1),
                             .stream_prefix = options_.stream_prefix,
                             .event_types = options_.event_types,
                             .stream_pattern = options_.stream_pattern};
        auto page = store_.read_all(query, [&](const RecordedEvent<Event>& e) { buffer_.push_back(e); });
        if (!page) return fail(std::move(page).error());
        after_ = page->last;
        caught_up_ = page->last >= page->head;
        return {};
    }

    S& store_;
    SubscriptionOptions options_;
    GlobalPosition after_{};
    bool started_ = false;
    bool caught_up_ = false;
    std::vector<RecordedEvent<Event>> buffer_;
};

} // namespace eventcore
