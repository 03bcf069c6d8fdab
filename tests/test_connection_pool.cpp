// The connection pool of the SQL stores, on stand-in connections: capacity, first come first
// served, the wait limit and the call's deadline, broken and closed connections, connections
// given back inside a transaction, and a failed or throwing connect. Then once with real SQLite
// connections.

#include "common/connection_pool.hpp"
#include "sqlite/connection.hpp"
#include "support/process.hpp"

#include <eventcore/deadline.hpp>
#include <eventcore/error.hpp>

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct FakeConnection {
    int id = 0;
    bool broken = false;
    bool abandoned = false; // broken by its user alone (a call cut off at its deadline)
    bool closed = false;
    bool in_transaction = false;
};

using Pool = eventcore::detail::ConnectionPool<FakeConnection>;

struct Counters {
    std::atomic<int> opened{0};
    std::atomic<bool> refuse{false};
    std::atomic<bool> throw_next{false};
};

auto hooks(Counters& counters) -> Pool::Hooks {
    return Pool::Hooks{
        .connect = [&counters]() -> eventcore::Result<std::unique_ptr<FakeConnection>> {
            if (counters.throw_next.exchange(false)) throw std::bad_alloc();
            if (counters.refuse) return eventcore::fail(eventcore::ErrorKind::store_unavailable, "refused");
            return std::make_unique<FakeConnection>(FakeConnection{.id = ++counters.opened});
        },
        .still_open = [](FakeConnection& c) { return !c.closed; },
        .broken = [](const FakeConnection& c) { return c.broken || c.abandoned; },
        .lost = [](const FakeConnection& c) { return c.broken; },
        .idle = [](const FakeConnection& c) { return !c.in_transaction; },
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

TEST_CASE("a connection its user gave up on is dropped alone: the idle ones stay", "[pool]") {
    Counters counters;
    Pool pool(2, 50ms, hooks(counters));
    {
        auto a = pool.acquire();
        auto b = pool.acquire();
        REQUIRE(a);
        REQUIRE(b);
        { auto back = std::move(*b); } // idle now
        (*a)->abandoned = true;        // a call on it passed its deadline; the server is fine
    }
    auto next = pool.acquire();
    REQUIRE(next);
    CHECK((*next)->id == 2); // the idle one, not a reconnect
    auto another = pool.acquire();
    REQUIRE(another);
    CHECK((*another)->id == 3); // a's slot was given back
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

TEST_CASE("a connection given back inside a transaction is dropped, never handed out again", "[pool]") {
    Counters counters;
    Pool pool(1, 50ms, hooks(counters));
    {
        auto a = pool.acquire();
        REQUIRE(a);
        (*a)->in_transaction = true; // a path that failed to end its transaction
    }
    auto next = pool.acquire();
    REQUIRE(next);
    CHECK((*next)->id == 2);
    CHECK_FALSE((*next)->in_transaction);
    { auto back = std::move(*next); } // an idle one is kept
    auto again = pool.acquire();
    REQUIRE(again);
    CHECK((*again)->id == 2);
}

TEST_CASE("a connection given back inside a transaction goes to no waiter, who gets a fresh one", "[pool]") {
    Counters counters;
    Pool pool(1, 5s, hooks(counters));
    auto held = pool.acquire();
    REQUIRE(held);
    auto waiter = std::async(std::launch::async, [&] {
        auto lease = pool.acquire();
        REQUIRE(lease);
        return std::pair{(*lease)->id, (*lease)->in_transaction};
    });
    while (pool.waiting() < 1) std::this_thread::yield();
    (*held)->in_transaction = true;
    { auto released = std::move(*held); }
    const auto [id, in_transaction] = waiter.get();
    CHECK(id == 2);
    CHECK_FALSE(in_transaction);
}

TEST_CASE("a connect that throws gives its slot back: the pool still reaches its capacity", "[pool]") {
    Counters counters;
    Pool pool(2, 50ms, hooks(counters));
    counters.throw_next = true;
    REQUIRE_THROWS_AS(pool.acquire(), std::bad_alloc);
    auto a = pool.acquire();
    auto b = pool.acquire(); // both slots are there: no wait, no timeout
    REQUIRE(a);
    REQUIRE(b);
    CHECK(counters.opened == 2);
}

TEST_CASE("a throwing connect of a served waiter gives its slot to the next waiter", "[pool]") {
    Counters counters;
    Pool pool(1, 5s, hooks(counters));
    auto held = pool.acquire();
    REQUIRE(held);
    auto first = std::async(std::launch::async, [&] { return pool.acquire(); });
    while (pool.waiting() < 1) std::this_thread::yield();
    auto second = std::async(std::launch::async, [&] { return pool.acquire().has_value(); });
    while (pool.waiting() < 2) std::this_thread::yield();
    (*held)->broken = true; // dropped: the first waiter may open one, and its connect throws
    counters.throw_next = true;
    { auto released = std::move(*held); }
    REQUIRE_THROWS_AS(first.get(), std::bad_alloc);
    CHECK(second.get());
}

TEST_CASE("a caller waits for a connection no longer than its deadline", "[pool]") {
    Counters counters;
    Pool pool(1, 60s, hooks(counters));
    auto held = pool.acquire();
    REQUIRE(held);
    const eventcore::DeadlineScope bound(std::chrono::steady_clock::now() + 50ms);
    auto r = pool.acquire();
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == eventcore::ErrorKind::timeout);
    CHECK_THAT(r.error().message(), Catch::Contains("deadline"));
}

TEST_CASE("an SQLite connection given back inside a transaction is closed, which rolls it back", "[pool][sqlite]") {
    using eventcore::sqlite::detail::Connection;
    testing_support::TempDir dir;
    const auto path = dir.file("pool.db");
    eventcore::detail::ConnectionPool<Connection> pool(
        2, 1s,
        {.connect = [&] { return Connection::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE); },
         // As the SQLite store's hook.
         .idle = [](const Connection& c) { return sqlite3_get_autocommit(c.handle()) != 0; },
         .timed_out = [] { return eventcore::Error(eventcore::ErrorKind::timeout, "no connection became free"); }});
    {
        auto c = pool.acquire();
        REQUIRE(c);
        REQUIRE((*c)->exec("CREATE TABLE notes (note TEXT)", "creating a table"));
    }
    {
        auto c = pool.acquire();
        REQUIRE(c);
        REQUIRE((*c)->exec("BEGIN IMMEDIATE", "starting a transaction"));
        REQUIRE((*c)->exec("INSERT INTO notes VALUES ('abandoned')", "writing"));
        // given back with the write transaction open
    }
    auto next = pool.acquire();
    REQUIRE(next);
    CHECK(sqlite3_get_autocommit((*next)->handle()) != 0);
    // The write lock went with the closed connection, and so did the insert.
    REQUIRE((*next)->exec("BEGIN IMMEDIATE", "starting a transaction"));
    sqlite3_stmt* count = nullptr;
    REQUIRE(sqlite3_prepare_v2((*next)->handle(), "SELECT count(*) FROM notes", -1, &count, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(count) == SQLITE_ROW);
    CHECK(sqlite3_column_int(count, 0) == 0);
    sqlite3_finalize(count);
    REQUIRE((*next)->exec("COMMIT", "committing"));
}
