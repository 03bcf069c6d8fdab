#pragma once

#include <cstdint>
#include <random>

namespace eventcore::detail {

/// A fast per-thread generator (SplitMix64) for event id bits and retry jitter; not for secrets.
[[nodiscard]] inline auto random_u64() noexcept -> std::uint64_t {
    thread_local std::uint64_t state = [] {
        std::random_device device;
        return (std::uint64_t{device()} << 32) ^ device();
    }();
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

} // namespace eventcore::detail
