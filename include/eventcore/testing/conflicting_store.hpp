#pragma once
/// \file
/// `ConflictingStore<Inner>`: a store whose first n appends fail with a version conflict.

#include <eventcore/stream_ops.hpp>
#include <eventcore/testing/store_wrapper.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

namespace eventcore::testing {

/// The error code (`Error::code()`) of the conflicts a `ConflictingStore` makes up.
inline constexpr std::string_view forced_conflict_code = "eventcore-forced-conflict";

/// Wraps any store; its first `n` appends fail with `version_conflict` without reaching the
/// inner store, and every later one goes through. For deterministic tests of retries: with
/// `n` below the retry policy's `max_attempts` a command commits on attempt `n + 1`; with `n`
/// at least `max_attempts` it ends with `concurrency_exhausted`.
///
/// \code
/// eventcore::InMemoryEventStore<BankEvent> memory;
/// eventcore::testing::ConflictingStore store{memory, 2};
/// eventcore::CommandExecutor executor{store};
/// auto result = executor.execute(TransferMoney{alice, bob, 10});
/// assert(result && result->attempts == 3);
/// \endcode
template <EventStore Inner>
class ConflictingStore : public StoreWrapper<Inner> {
public:
    using event_type = typename Inner::event_type;

    ConflictingStore(Inner& inner, std::uint64_t conflicts) : StoreWrapper<Inner>(inner), left_(conflicts) {}
    ConflictingStore(const ConflictingStore&) = delete;
    auto operator=(const ConflictingStore&) -> ConflictingStore& = delete;

    [[nodiscard]] auto append(AppendRequest<event_type> request) -> Result<CommitReceipt> {
        ++appends_;
        auto left = left_.load();
        while (left > 0 && !left_.compare_exchange_weak(left, left - 1)) {
        }
        if (left == 0) return this->inner().append(std::move(request));
        ++conflicts_;
        if (request.expectations.empty())
            return fail(Error(ErrorKind::version_conflict, "version conflict forced by ConflictingStore")
                            .with_code(std::string(forced_conflict_code)));
        const auto& first = request.expectations.front();
        const auto actual = stream_version(this->inner(), first.stream);
        return fail(Error(ErrorKind::version_conflict,
                          fmt::format("stream '{}' expected {}: version conflict forced by ConflictingStore",
                                      first.stream, first.expected))
                        .with_conflicts({{first.stream, first.expected, actual ? *actual : StreamVersion{}}})
                        .with_code(std::string(forced_conflict_code)));
    }

    /// Appends seen so far, conflicting or not.
    [[nodiscard]] auto appends() const noexcept -> std::uint64_t { return appends_.load(); }
    /// Conflicts made up so far.
    [[nodiscard]] auto conflicts() const noexcept -> std::uint64_t { return conflicts_.load(); }
    /// Conflicts still to come.
    [[nodiscard]] auto conflicts_left() const noexcept -> std::uint64_t { return left_.load(); }

private:
    std::atomic<std::uint64_t> left_;
    std::atomic<std::uint64_t> appends_{0};
    std::atomic<std::uint64_t> conflicts_{0};
};

template <class Inner, class N>
ConflictingStore(Inner&, N) -> ConflictingStore<Inner>;

} // namespace eventcore::testing
