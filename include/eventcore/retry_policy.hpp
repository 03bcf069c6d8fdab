#pragma once
/// \file
/// `RetryPolicy`: how the executor waits between attempts after a version conflict.

#include <eventcore/error.hpp>

#include <chrono>
#include <cstdint>

namespace eventcore {

/// When and how often a command is tried again after a version conflict. Only conflicts are
/// retried: every other error returns at once.
///
/// The defaults (10 attempts; exponential backoff from 500 µs, doubling, capped at 50 ms, with
/// full jitter) suit stores whose commits take microseconds to milliseconds: the first retries
/// come quickly, and under heavy contention the random spread keeps competing commands from
/// colliding again in lockstep.
///
/// \code
/// eventcore::RetryPolicy patient{.max_attempts = 50, .max_delay = std::chrono::milliseconds{200}};
/// eventcore::RetryPolicy none{.max_attempts = 1};   // fail on the first conflict
/// \endcode
struct RetryPolicy {
    enum class Backoff : unsigned char {
        exponential, ///< `initial_delay * multiplier^(n-1)`, capped at `max_delay`
        fixed,       ///< `initial_delay` every time
    };

    /// Attempts in all, the first included (at least 1).
    std::uint32_t max_attempts = 10;
    Backoff backoff = Backoff::exponential;
    std::chrono::microseconds initial_delay{500};
    std::chrono::microseconds max_delay{50'000};
    /// Growth per retry for `exponential` (at least 1).
    double multiplier = 2.0;
    /// Full jitter: wait a uniformly random time between zero and the computed delay.
    bool jitter = true;

    /// The pause after the `attempt`-th attempt (1-based) met a conflict.
    [[nodiscard]] auto delay_after(std::uint32_t attempt) const -> std::chrono::microseconds;

    /// Checks the settings; the executor calls this before using a policy.
    [[nodiscard]] auto validate() const -> Result<void>;
};

} // namespace eventcore
