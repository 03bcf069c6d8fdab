// The connection pool of the SQL stores, on stand-in connections: capacity, first come first
// served, the wait limit, broken and closed connections, and a failed connect.

#include "common/connection_pool.hpp"

#include <eventcore/error.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct FakeConnection {
    int id = 0;
    bool broken = false;
    bool closed = false;
};

using Pool = eventcore::detail::ConnectionPool<FakeConnection>;

struct Counters {
    std::atomic<int> opened{0};
    std::atomic<bool> refuse{false};
};

auto hooks(Counters& counters) -> Pool::Hooks {
    return Pool::Hooks{
        .connect = [&counters]() -> eventcore::Result<std::unique_ptr<FakeConnection>> {
            if (counters.refuse) return eventcore::fail(eventcore::ErrorKind::store_unavailable, "refused");
            return std::make_unique<FakeConnection>(FakeConnection{++counters.opened});
        },
        .still_open = [](FakeConnection& c) { return !c.closed; },
        .broken = [](const FakeConnection& c) { return c.broken; },
        .timed_out = [] { return eventcore::Error(eventcore::ErrorKind::timeout, "no connection became free"); },
    };
}

} // namespace

TEST_CASE("the pool reuses idle connections and never opens more than its capacity", "[pool]") {
    Counters counters;
    Pool pool(2, 50ms, hooks(counters));
    {
        auto a = pool.acquire();
        auto b = pool.acquire();
        REQUIRE(a);
        REQUIRE(b);
        CHECK(counters.opened == 2);
        auto c = pool.acquire(); // both are out: waits 50 ms, then gives up
        REQUIRE_FALSE(c);
        CHECK(c.error().kind() == eventcore::ErrorKind::timeout);
    }
    auto again = pool.acquire();
    REQUIRE(again);
    CHECK(counters.opened == 2);
}

TEST_CASE("many threads share a small pool: no more than its capacity at once, nobody starves", "[pool]") {
    Counters counters;
    Pool pool(2, 5s, hooks(counters));
    std::atomic<int> in_use{0};
    std::atomic<int> most{0};
    std::atomic<int> served{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i) {
                auto lease = pool.acquire();
                if (!lease) continue;
                const int now = ++in_use;
                int seen = most.load();
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                std::this_thread::yield();
                --in_use;
                ++served;
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(served == 6 * 200);
    CHECK(most <= 2);
    CHECK(counters.opened <= 2);
}

TEST_CASE("waiters are served in the order they came", "[pool]") {
    Counters counters;
    Pool pool(1, 5s, hooks(counters));
    auto held = pool.acquire();
    REQUIRE(held);
    std::mutex order_mutex;
    std::vector<int> order;
    std::vector<std::thread> waiters;
    for (int w = 0; w < 3; ++w) {
        waiters.emplace_back([&, w] {
            auto lease = pool.acquire();
            REQUIRE(lease);
            std::lock_guard lock(order_mutex);
            order.push_back(w);
        });
        while (pool.waiting() < static_cast<std::size_t>(w + 1)) std::this_thread::yield(); // queued
    }
    { auto released = std::move(*held); }
    for (auto& w : waiters) w.join();
    CHECK(order == std::vector<int>{0, 1, 2});
}

TEST_CASE("a broken connection given back is dropped with the idle ones; a closed idle one is skipped",
          "[pool]") {
    Counters counters;
    Pool pool(2, 50ms, hooks(counters));
    {
        auto a = pool.acquire();
        auto b = pool.acquire();
        REQUIRE(a);
        REQUIRE(b);
        (*b)->broken = false;
        { auto back = std::move(*b); } // idle now
        (*a)->broken = true;           // a restart: a is broken, and the idle b went with it
    }
    auto fresh = pool.acquire();
    REQUIRE(fresh);
    CHECK((*fresh)->id == 3); // neither 1 nor 2
    (*fresh)->closed = true;  // the server closes it while it sits idle
    { auto back = std::move(*fresh); }
    auto next = pool.acquire();
    REQUIRE(next);
    CHECK((*next)->id == 4);
}

TEST_CASE("a failed connect reports its error and lets a waiter open a connection", "[pool]") {
    Counters counters;
    Pool pool(1, 5s, hooks(counters));
    counters.refuse = true;
    auto refused = pool.acquire();
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind() == eventcore::ErrorKind::store_unavailable);
    counters.refuse = false;
    auto ok = pool.acquire(); // the failed attempt gave its place back
    REQUIRE(ok);
    CHECK(counters.opened == 1);
}
