#pragma once

#include <cstdint>
#include <cstring>

#if __has_include(<sys/random.h>)
#include <sys/random.h>
#else
#include <random>
#endif

namespace eventcore::detail {

/// Entropy from the operating system for a generator's seed: `getentropy` where there is one
/// (Linux, the BSDs, macOS), rather than `<random>` and its `std::random_device`, which cost every
/// file that includes this much more to compile.
[[nodiscard]] inline auto system_seed() noexcept -> std::uint64_t {
    std::uint64_t seed = 0;
#if __has_include(<sys/random.h>)
    unsigned char bytes[sizeof seed] = {};
    if (::getentropy(bytes, sizeof bytes) == 0) {
        std::memcpy(&seed, bytes, sizeof seed);
        return seed;
    }
#else
    std::random_device device;
    seed = (std::uint64_t{device()} << 32) ^ device();
#endif
    // No entropy to be had: the address of a thread's own variable still tells threads and
    // processes (under ASLR) apart.
    thread_local const char marker = 0;
    return seed ^ reinterpret_cast<std::uintptr_t>(&marker) ^ 0x9E3779B97F4A7C15ULL;
}

/// A fast per-thread generator (SplitMix64) for event id bits and retry jitter; not for secrets.
[[nodiscard]] inline auto random_u64() noexcept -> std::uint64_t {
    thread_local std::uint64_t state = system_seed();
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

} // namespace eventcore::detail
