// The parts of the command layer that are not templates: the retry policy and stream discovery.
#include <eventcore/context.hpp>
#include <eventcore/detail/random.hpp>
#include <eventcore/executor.hpp>
#include <eventcore/retry_policy.hpp>

#include <fmt/format.h> // fmt::join

#include <algorithm>
#include <cmath>

namespace eventcore {

auto RetryPolicy::delay_after(std::uint32_t attempt) const -> std::chrono::microseconds {
    double delay = static_cast<double>(initial_delay.count());
    if (backoff == Backoff::exponential) {
        delay *= std::pow(multiplier, static_cast<double>(std::max<std::uint32_t>(attempt, 1) - 1));
    }
    delay = std::min(delay, static_cast<double>(max_delay.count()));
    if (jitter) {
        delay *= static_cast<double>(detail::random_u64() >> 11) * 0x1.0p-53; // uniform in [0, 1)
    }
    return std::chrono::microseconds{static_cast<std::int64_t>(delay)};
}

auto RetryPolicy::validate() const -> Result<void> {
    if (max_attempts < 1) return fail(ErrorKind::validation, "RetryPolicy::max_attempts must be at least 1, got 0");
    if (initial_delay.count() < 0)
        return fail(ErrorKind::validation, "RetryPolicy::initial_delay must not be negative, got {} us",
                    initial_delay.count());
    if (max_delay < initial_delay)
        return fail(ErrorKind::validation, "RetryPolicy::max_delay ({} us) must not be less than initial_delay ({} us)",
                    max_delay.count(), initial_delay.count());
    if (!(multiplier >= 1.0))
        return fail(ErrorKind::validation, "RetryPolicy::multiplier must be at least 1, got {}", multiplier);
    return {};
}

void StreamResolver::add_stream(StreamId stream) {
    if (has_read(stream) || is_added(stream)) return;
    if (read_.size() + added_.size() >= max_streams_) {
        throw Exception(Error(ErrorKind::too_many_streams,
                              fmt::format("adding stream '{}' would take the command past its limit of {} "
                                          "streams (ExecutorConfig::max_streams)",
                                          stream, max_streams_)));
    }
    added_.push_back(std::move(stream));
}

namespace detail {

namespace {
/// What a caller whose commit is in doubt can do to learn the truth.
auto how_to_resolve(bool caller_id, const Uuid& command_id) -> std::string {
    if (caller_id) return fmt::format("execute it again with command id {} to find out", command_id);
    return fmt::format("its events, if it landed, carry causation id {}; pass an ExecuteOptions::command_id "
                       "to make such a call safe to repeat",
                       command_id);
}
} // namespace

auto deadline_before_attempt(std::string_view command, std::uint32_t attempt) -> Error {
    return Error(ErrorKind::timeout, fmt::format("command {} reached its deadline before attempt {}", command, attempt));
}

auto deadline_before_retry(std::string_view command, const Error& last) -> Error {
    return Error(ErrorKind::timeout,
                 fmt::format("command {} would pass its deadline waiting to retry; last: {}", command, last.message()))
        .with_conflicts({last.conflicts().begin(), last.conflicts().end()});
}

auto in_doubt_then_failed(std::string_view command, std::uint32_t attempt, std::string_view doubt, std::string code,
                          const Error& error, bool caller_id, const Uuid& command_id) -> Error {
    return Error(ErrorKind::in_doubt,
                 fmt::format("command {} may have committed: attempt {} was in doubt ({}), and then {}: {}; {}",
                             command, attempt, doubt, to_string(error.kind()), error.message(),
                             how_to_resolve(caller_id, command_id)))
        .with_code(std::move(code));
}

auto in_doubt(Error error, bool caller_id, const Uuid& command_id) -> Error {
    return Error(ErrorKind::in_doubt, fmt::format("{}; {}", error.message(), how_to_resolve(caller_id, command_id)))
        .with_code(error.code());
}

auto exhausted(std::string_view command, std::uint32_t attempts, Error last) -> Error {
    // Never report a commit that may have landed as a conflict, which says nothing was written.
    if (last.is(ErrorKind::in_doubt)) {
        return Error(ErrorKind::in_doubt,
                     fmt::format("command {} may have committed: its commit was in doubt in attempt {}, the "
                                 "last allowed; execute it again with the same command id to find out",
                                 command, attempts))
            .with_code(last.code());
    }
    if (last.is(ErrorKind::transient)) {
        return Error(ErrorKind::transient, fmt::format("command {} failed in each of its {} attempts; last: {}",
                                                       command, attempts, last.message()))
            .with_code(last.code());
    }
    return Error(ErrorKind::concurrency_exhausted,
                 fmt::format("command {} met a version conflict in each of its {} attempts; last: {}", command,
                             attempts, last.message()))
        .with_conflicts({last.conflicts().begin(), last.conflicts().end()});
}

auto unreadable_commit(std::string_view command, const Uuid& command_id, const Error& read) -> Error {
    return Error(read.kind(), fmt::format("command {} committed (command id {}), but its events could not be "
                                          "read back: {}",
                                          command, command_id, read.message()))
        .with_code(read.code());
}

auto commit_missing_events(std::string_view command, const Uuid& command_id, std::size_t events, std::size_t found)
    -> Error {
    return Error(ErrorKind::storage,
                 fmt::format("command {} committed (command id {}) {} events, but {} of them are not in the log",
                             command, command_id, events, events - found));
}

auto empty_declared_stream(std::string_view command, std::size_t field) -> Error {
    return Error(ErrorKind::validation,
                 fmt::format("command {}: declared stream field #{} (in the order of `streams`) holds an empty "
                             "stream id",
                             command, field));
}

auto no_declared_stream(std::string_view command) -> Error {
    return Error(ErrorKind::validation,
                 fmt::format("command {} declares no stream: its stream lists are all empty", command));
}

auto too_many_declared_streams(std::string_view command, std::size_t streams, std::size_t limit) -> Error {
    return Error(ErrorKind::too_many_streams,
                 fmt::format("command {} declares {} streams, more than the limit of {} (ExecutorConfig::max_streams)",
                             command, streams, limit));
}

auto discovery_limit(std::string_view command, std::uint32_t rounds, std::span<const StreamId> added) -> Error {
    return Error(ErrorKind::discovery_limit,
                 fmt::format("command {} added streams in more than {} rounds (ExecutorConfig::max_discovery_rounds); "
                             "last added: '{}'",
                             command, rounds, fmt::join(added, "', '")));
}

auto deadline_discovering(std::string_view command) -> Error {
    return Error(ErrorKind::timeout, fmt::format("command {} reached its deadline while discovering streams", command));
}

void keep_first_occurrences(std::vector<StreamId>& ids) {
    std::vector<bool> first(ids.size());
    {
        const StreamIndex index(ids);
        for (std::size_t i = 0; i < ids.size(); ++i) first[i] = index.find(ids[i]) == i;
    }
    std::size_t kept = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (!first[i]) continue;
        if (kept != i) ids[kept] = std::move(ids[i]);
        ++kept;
    }
    ids.resize(kept);
}

ReceiptIndex::ReceiptIndex(std::span<const WrittenEvent> events) {
    by_id_.reserve(events.size());
    first_ = last_ = events.front().position;
    for (std::size_t i = 0; i < events.size(); ++i) {
        by_id_.emplace_back(events[i].event_id, i);
        first_ = std::min(first_, events[i].position);
        last_ = std::max(last_, events[i].position);
    }
    std::ranges::sort(by_id_);
}

auto ReceiptIndex::find(const Uuid& id) const noexcept -> std::size_t {
    const auto it = std::ranges::lower_bound(by_id_, id, {}, &std::pair<Uuid, std::size_t>::first);
    return it != by_id_.end() && it->first == id ? it->second : npos;
}

} // namespace detail

} // namespace eventcore
