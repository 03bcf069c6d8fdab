#pragma once
/// \file
/// `ChaosStore<Inner>`: a store that injects conflicts, failures and latency, repeatably.

#include <eventcore/stream_ops.hpp>
#include <eventcore/testing/store_wrapper.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

namespace eventcore::testing {

/// What a `ChaosStore` injects, and how often. Rates are probabilities per call, from 0 to 1.
/// Faults are drawn first (at most one per call, so the fault rates of a call add up to at most
/// 1), then latency, independently.
struct ChaosOptions {
    /// Makes the faults repeatable: the same seed and the same sequence of calls inject the same
    /// faults (with several threads, the interleaving decides which call gets which draw).
    std::uint64_t seed = 1;
    /// Appends that fail with `version_conflict`, writing nothing.
    double conflict_rate = 0;
    /// Reads and appends that fail with `store_unavailable`, reading or writing nothing.
    double unavailable_rate = 0;
    /// Reads and appends that fail with `transient` (safe to retry), reading or writing nothing.
    double transient_rate = 0;
    /// Appends that commit and then report `in_doubt`, as a connection lost after the commit
    /// does: the events landed, the caller cannot tell.
    double in_doubt_rate = 0;
    /// Reads and appends delayed by up to `max_latency` (uniformly) before they run.
    double latency_rate = 0;
    std::chrono::microseconds max_latency{1000};
    /// Whether reads (`read_streams`, `read_stream`, `read_all`) get faults too, or only appends.
    bool faults_on_reads = true;
    /// The most faults to inject; after that the store only delays (e.g. 1: a single fault, on
    /// the first call that draws one).
    std::uint64_t max_faults = std::numeric_limits<std::uint64_t>::max();
};

/// What a `ChaosStore` saw and did so far.
struct ChaosCounts {
    std::uint64_t reads = 0;
    std::uint64_t appends = 0;
    std::uint64_t conflicts = 0;
    std::uint64_t unavailable = 0;
    std::uint64_t transient = 0;
    std::uint64_t in_doubt = 0;
    std::uint64_t delays = 0;
    std::chrono::microseconds delayed{0};

    /// Every fault injected (latency not counted).
    [[nodiscard]] auto faults() const noexcept -> std::uint64_t { return conflicts + unavailable + transient + in_doubt; }
};

/// The error code (`Error::code()`) of every error a `ChaosStore` injects: tells them from the
/// inner store's own.
inline constexpr std::string_view chaos_error_code = "eventcore-chaos";

/// Wraps any store and injects, at the rates of its `ChaosOptions`, version conflicts, failures
/// (`store_unavailable`, `transient`, `in_doubt`) and latency into reads and appends. It is a
/// store of the same kind as `Inner` (a `LiveEventStore` if `Inner` is one), safe to share
/// between threads if `Inner` is, and counts what it injected.
///
/// \code
/// eventcore::InMemoryEventStore<BankEvent> memory;
/// eventcore::testing::ChaosStore chaos{memory, {.seed = 42, .conflict_rate = 0.2, .transient_rate = 0.1}};
/// eventcore::CommandExecutor executor{chaos};
/// auto result = executor.execute(TransferMoney{alice, bob, 10});   // retried through the faults
/// fmt::print("{} faults injected\n", chaos.counts().faults());
/// \endcode
template <EventStore Inner>
class ChaosStore : public StoreWrapper<Inner> {
public:
    using event_type = typename Inner::event_type;

    /// Throws `Exception` (kind `validation`) for a rate outside [0, 1], or fault rates that
    /// add up to more than 1.
    ChaosStore(Inner& inner, ChaosOptions options)
        : StoreWrapper<Inner>(inner), options_(options), faults_left_(options.max_faults) {
        const double rates[] = {options.conflict_rate, options.unavailable_rate, options.transient_rate,
                                options.in_doubt_rate, options.latency_rate};
        for (const double r : rates) {
            if (!(r >= 0.0 && r <= 1.0))
                throw Exception(Error(ErrorKind::validation, fmt::format("ChaosOptions: a rate must be in [0, 1], got {}", r)));
        }
        if (options.conflict_rate + options.unavailable_rate + options.transient_rate + options.in_doubt_rate > 1.0)
            throw Exception(Error(ErrorKind::validation, "ChaosOptions: the fault rates add up to more than 1"));
        if (options.max_latency.count() < 0)
            throw Exception(Error(ErrorKind::validation, "ChaosOptions: max_latency must not be negative"));
    }
    ChaosStore(const ChaosStore&) = delete;
    auto operator=(const ChaosStore&) -> ChaosStore& = delete;

    [[nodiscard]] auto options() const noexcept -> const ChaosOptions& { return options_; }

    /// A snapshot of the counters.
    [[nodiscard]] auto counts() const noexcept -> ChaosCounts {
        return {reads_.load(), appends_.load(), conflicts_.load(), unavailable_.load(), transient_.load(),
                in_doubt_.load(), delays_.load(), std::chrono::microseconds{delayed_us_.load()}};
    }

    template <EventVisitor<event_type> F>
    [[nodiscard]] auto read_streams(std::span<const StreamId> ids, F&& visit) const -> Result<std::vector<StreamVersion>> {
        if (auto fault = before_read("read_streams")) return fail(std::move(*fault));
        return this->inner().read_streams(ids, std::forward<F>(visit));
    }
    template <EventVisitor<event_type> F>
    [[nodiscard]] auto read_stream(const StreamId& id, StreamVersion from, F&& visit) const -> Result<StreamVersion> {
        if (auto fault = before_read("read_stream")) return fail(std::move(*fault));
        return this->inner().read_stream(id, from, std::forward<F>(visit));
    }
    template <EventVisitor<event_type> F>
    [[nodiscard]] auto read_all(const LogQuery& query, F&& visit) const -> Result<LogPage> {
        if (auto fault = before_read("read_all")) return fail(std::move(*fault));
        return this->inner().read_all(query, std::forward<F>(visit));
    }

    [[nodiscard]] auto append(AppendRequest<event_type> request) -> Result<CommitReceipt> {
        ++appends_;
        delay();
        double u = draw();
        if ((u -= options_.conflict_rate) < 0) {
            if (!take_fault()) return this->inner().append(std::move(request));
            ++conflicts_;
            return fail(injected_conflict(request));
        }
        if (auto fault = failure(u, "append")) return fail(std::move(*fault));
        u -= options_.unavailable_rate + options_.transient_rate;
        if (u < options_.in_doubt_rate && take_fault()) {
            auto receipt = this->inner().append(std::move(request));
            if (!receipt) return receipt; // the inner store's own error is more useful
            ++in_doubt_;
            return fail(Error(ErrorKind::in_doubt, "connection lost during the commit (injected by ChaosStore)")
                            .with_code(std::string(chaos_error_code)));
        }
        return this->inner().append(std::move(request));
    }

private:
    /// A uniform draw in [0, 1): splitmix64 over the seed and a call counter.
    auto draw() const noexcept -> double {
        std::uint64_t z = options_.seed + 0x9e3779b97f4a7c15ULL * (draws_.fetch_add(1, std::memory_order_relaxed) + 1);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return static_cast<double>(z >> 11) * 0x1.0p-53;
    }

    /// Whether another fault may be injected (and counts it against `max_faults`).
    auto take_fault() const noexcept -> bool {
        auto left = faults_left_.load();
        while (left > 0 && !faults_left_.compare_exchange_weak(left, left - 1)) {
        }
        return left > 0;
    }

    void delay() const {
        if (options_.latency_rate <= 0 || draw() >= options_.latency_rate) return;
        const auto us = static_cast<std::int64_t>(draw() * static_cast<double>(options_.max_latency.count()));
        ++delays_;
        delayed_us_ += static_cast<std::uint64_t>(us);
        std::this_thread::sleep_for(std::chrono::microseconds{us});
    }

    auto before_read(std::string_view call) const -> std::optional<Error> {
        ++reads_;
        delay();
        if (!options_.faults_on_reads) return std::nullopt;
        return failure(draw(), call);
    }

    /// The failure drawn by `u` (past the conflict band for appends), if any.
    auto failure(double u, std::string_view call) const -> std::optional<Error> {
        if (u >= options_.unavailable_rate + options_.transient_rate || !take_fault()) return std::nullopt;
        if (u < options_.unavailable_rate) {
            ++unavailable_;
            return Error(ErrorKind::store_unavailable, fmt::format("{}: store unreachable (injected by ChaosStore)", call))
                .with_code(std::string(chaos_error_code));
        }
        ++transient_;
        return Error(ErrorKind::transient, fmt::format("{}: transient failure (injected by ChaosStore)", call))
            .with_code(std::string(chaos_error_code));
    }

    auto injected_conflict(const AppendRequest<event_type>& request) const -> Error {
        if (request.expectations.empty())
            return Error(ErrorKind::version_conflict, "version conflict (injected by ChaosStore)")
                .with_code(std::string(chaos_error_code));
        const auto& first = request.expectations.front();
        const auto actual = stream_version(this->inner(), first.stream);
        return Error(ErrorKind::version_conflict,
                     fmt::format("stream '{}' expected {}: version conflict injected by ChaosStore", first.stream,
                                 first.expected))
            .with_conflicts({{first.stream, first.expected, actual ? *actual : StreamVersion{}}})
            .with_code(std::string(chaos_error_code));
    }

    ChaosOptions options_;
    mutable std::atomic<std::uint64_t> draws_{0};
    mutable std::atomic<std::uint64_t> faults_left_;
    mutable std::atomic<std::uint64_t> reads_{0};
    std::atomic<std::uint64_t> appends_{0};
    std::atomic<std::uint64_t> conflicts_{0};
    mutable std::atomic<std::uint64_t> unavailable_{0};
    mutable std::atomic<std::uint64_t> transient_{0};
    std::atomic<std::uint64_t> in_doubt_{0};
    mutable std::atomic<std::uint64_t> delays_{0};
    mutable std::atomic<std::uint64_t> delayed_us_{0};
};

template <class Inner>
ChaosStore(Inner&, ChaosOptions) -> ChaosStore<Inner>;

} // namespace eventcore::testing
