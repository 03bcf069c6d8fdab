#pragma once

#include <cstdint>

namespace eventcore::detail {

/// Entropy from the operating system for a generator's seed (`getentropy` where there is one).
[[nodiscard]] auto system_seed() noexcept -> std::uint64_t;

/// A fast per-thread generator (SplitMix64) for event id bits and retry jitter; not for secrets.
[[nodiscard]] auto random_u64() noexcept -> std::uint64_t;

} // namespace eventcore::detail
