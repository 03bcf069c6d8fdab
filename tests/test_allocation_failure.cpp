// Commits stay all-or-nothing when memory runs out part-way through: this program replaces
// the global allocator with one that fails on demand, then fails each allocation of a commit
// in turn and checks the store after every failure.
#define CATCH_CONFIG_MAIN
#include "support/bank.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> allocations_until_failure{-1}; // -1: never fail

void* allocate(std::size_t size) {
    if (allocations_until_failure.load(std::memory_order_relaxed) >= 0 &&
        allocations_until_failure.fetch_sub(1, std::memory_order_relaxed) == 0)
        throw std::bad_alloc();
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
} // namespace

void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace bank;
using eventcore::AppendRequest;
using eventcore::ExpectedVersion;
using eventcore::StreamVersion;

TEST_CASE("a commit that runs out of memory part-way leaves no trace", "[store][allocation]") {
    int failures = 0;
    for (long fail_at = 0; fail_at < 400; ++fail_at) {
        Store store;
        // `a` has 4 events: its first chunk is full, so the commit's event for `a` needs a new one.
        REQUIRE(eventcore::append_to_stream(store, id("a"), ExpectedVersion::no_stream(),
                                            {AccountOpened{10}, MoneyDeposited{1}, MoneyDeposited{1}, MoneyDeposited{1}}));
        AppendRequest<BankEvent> request;
        request.expectations = {{id("a"), ExpectedVersion::exact(StreamVersion{4})},
                                {id("new-account-with-a-long-name"), ExpectedVersion::no_stream()}};
        request.events.push_back({id("a"), MoneyWithdrawn{3}, {}});
        request.events.push_back({id("new-account-with-a-long-name"), AccountOpened{0}, {}});
        request.events.push_back({id("new-account-with-a-long-name"), MoneyDeposited{3}, {}});

        bool failed = false;
        allocations_until_failure = fail_at;
        try {
            auto r = store.append(std::move(request));
            allocations_until_failure = -1;
            REQUIRE(r);
        } catch (const std::bad_alloc&) {
            allocations_until_failure = -1;
            failed = true;
            ++failures;
        }
        allocations_until_failure = -1;

        const auto log = eventcore::load_log(store).value();
        if (failed) {
            INFO("allocation " << fail_at << " failed");
            REQUIRE(log.size() == 4);
            REQUIRE(eventcore::stream_version(store, id("a")).value() == StreamVersion{4});
            REQUIRE(eventcore::stream_version(store, id("new-account-with-a-long-name")).value() == StreamVersion{0});
            // And the store still works.
            REQUIRE(eventcore::append_to_stream(store, id("a"), ExpectedVersion::exact(StreamVersion{4}),
                                                {MoneyDeposited{1}}));
            REQUIRE(eventcore::load_stream(store, id("a"))->size() == 5);
        } else {
            REQUIRE(log.size() == 7);
            REQUIRE(eventcore::stream_version(store, id("a")).value() == StreamVersion{5});
            break; // every allocation of the commit has been failed once
        }
    }
    CHECK(failures > 5);
}
