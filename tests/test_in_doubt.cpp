// Once a commit was in doubt, the executor never says that nothing was written: the outcome is
// the commit, found by its command id, or `in_doubt` with the id to resolve it by.

#include "support/bank.hpp"

#include <eventcore/testing/store_wrapper.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>

using namespace bank;
using eventcore::CommandExecutor;
using eventcore::ErrorKind;
using eventcore::ExecuteOptions;
using eventcore::RetryPolicy;

namespace {

/// A store whose commits land and are then reported in doubt, as when the connection is lost
/// after the server committed; after `doubts` of them it refuses every call with `refusal`, as a
/// server that is recovering does (0 `doubts`: refuses from the start; no refusal: works on).
template <class Inner>
class DoubtThenRefuse : public eventcore::testing::StoreWrapper<Inner> {
public:
    DoubtThenRefuse(Inner& inner, int doubts, std::optional<ErrorKind> refusal)
        : eventcore::testing::StoreWrapper<Inner>(inner), doubts_left_(doubts), refusal_(refusal) {}

    auto append(eventcore::AppendRequest<typename Inner::event_type> request) -> eventcore::Result<eventcore::CommitReceipt> {
        if (armed_ && doubts_left_ > 0) {
            --doubts_left_;
            if (auto landed = this->inner().append(std::move(request)); !landed) return landed;
            refusing_ = refusal_.has_value();
            return eventcore::fail(ErrorKind::in_doubt, "connection lost after the commit was sent");
        }
        if (refusing_) return refused();
        return this->inner().append(std::move(request));
    }
    template <class F>
    auto read_streams(std::span<const eventcore::StreamId> ids, F&& visit) const
        -> eventcore::Result<std::vector<eventcore::StreamVersion>> {
        if (refusing_) return refused();
        return this->inner().read_streams(ids, std::forward<F>(visit));
    }
    auto find_commit(const eventcore::Uuid& id) const -> eventcore::Result<std::optional<eventcore::CommitReceipt>> {
        if (refusing_) return refused();
        return this->inner().find_commit(id);
    }

    void arm() { armed_ = true; }

private:
    auto refused() const -> tl::unexpected<eventcore::Error> {
        return eventcore::fail(*refusal_, "the server is recovering");
    }
    bool armed_ = false;
    int doubts_left_;
    std::optional<ErrorKind> refusal_;
    mutable bool refusing_ = false;
};

auto quick(std::uint32_t attempts) -> RetryPolicy {
    return RetryPolicy{.max_attempts = attempts, .initial_delay = std::chrono::microseconds{0},
                       .max_delay = std::chrono::microseconds{0}, .jitter = false};
}

} // namespace

TEST_CASE("a commit in doubt followed by a failing retry is reported in doubt, never as nothing written",
          "[executor][in_doubt]") {
    for (const auto refusal : {ErrorKind::store_unavailable, ErrorKind::transient, ErrorKind::timeout}) {
        Store inner;
        DoubtThenRefuse store(inner, 1, refusal);
        CommandExecutor executor{store};
        REQUIRE(executor.execute(OpenAccount{id("account-a"), 100}));
        REQUIRE(executor.execute(OpenAccount{id("account-b"), 0}));
        store.arm();

        const auto command_id = eventcore::Uuid::v7();
        const auto r = executor.execute(TransferMoney{id("account-a"), id("account-b"), 30},
                                        ExecuteOptions{.command_id = command_id, .retry = quick(5)});
        INFO("refusal " << eventcore::to_string(refusal));
        REQUIRE_FALSE(r);
        CHECK(r.error().kind() == ErrorKind::in_doubt);
        CHECK(r.error().command_id() == command_id);
        CHECK_THAT(r.error().message(), Catch::Contains("may have committed") &&
                                            Catch::Contains(fmt::format("{}", command_id)));
        // It did land: a report that said otherwise would have the caller apply it twice.
        CHECK(balance(inner, id("account-b")) == 30);
        CHECK(inner.find_commit(command_id).value().has_value());
    }
}

TEST_CASE("a deadline passing after a commit in doubt is reported in doubt", "[executor][in_doubt]") {
    Store inner;
    DoubtThenRefuse store(inner, 1, ErrorKind::store_unavailable);
    CommandExecutor executor{store};
    REQUIRE(executor.execute(OpenAccount{id("account-a"), 100}));
    REQUIRE(executor.execute(OpenAccount{id("account-b"), 0}));
    store.arm();
    const auto command_id = eventcore::Uuid::v7();
    const auto r = executor.execute(
        TransferMoney{id("account-a"), id("account-b"), 30},
        ExecuteOptions{.command_id = command_id,
                       .deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{30},
                       .retry = RetryPolicy{.max_attempts = 1000, .initial_delay = std::chrono::milliseconds{5},
                                            .max_delay = std::chrono::milliseconds{5}, .jitter = false}});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == ErrorKind::in_doubt);
    CHECK(r.error().command_id() == command_id);
}

TEST_CASE("a retry that finds its own in-doubt commit reports it committed, not duplicate", "[executor][in_doubt]") {
    Store inner;
    DoubtThenRefuse store(inner, 1, std::nullopt);
    CommandExecutor executor{store};
    REQUIRE(executor.execute(OpenAccount{id("account-a"), 100}));
    REQUIRE(executor.execute(OpenAccount{id("account-b"), 0}));
    store.arm();
    const auto command_id = eventcore::Uuid::v7();
    const ExecuteOptions once{.command_id = command_id, .retry = quick(5)};
    const auto r = executor.execute(TransferMoney{id("account-a"), id("account-b"), 30}, once);
    REQUIRE(r);
    CHECK_FALSE(r->duplicate);
    CHECK(r->attempts == 2);
    CHECK(r->events.size() == 2);
    CHECK(balance(inner, id("account-b")) == 30);
    // The events of the attempt that landed, not of the one that found it.
    CHECK(r->written == read_back(inner, r->events));
    CHECK(std::get<MoneyDeposited>(r->written.at(1).payload).amount == 30);

    // A later execution with the same id is the duplicate.
    const auto again = executor.execute(TransferMoney{id("account-a"), id("account-b"), 30}, once);
    REQUIRE(again);
    CHECK(again->duplicate);
    CHECK(again->written == r->written);
    CHECK(balance(inner, id("account-b")) == 30);
}

namespace {
/// A store whose first armed commit lands and is reported in doubt, and whose log cannot be read.
class DoubtThenUnreadable : public DoubtThenRefuse<Store> {
public:
    explicit DoubtThenUnreadable(Store& inner) : DoubtThenRefuse<Store>(inner, 1, std::nullopt) {}
    auto append(eventcore::AppendRequest<BankEvent> request) -> eventcore::Result<eventcore::CommitReceipt> {
        ++appends;
        return DoubtThenRefuse<Store>::append(std::move(request));
    }
    template <class F>
    auto read_all(const eventcore::LogQuery&, F&&) const -> eventcore::Result<eventcore::LogPage> {
        return eventcore::fail(ErrorKind::transient, "the log is busy");
    }
    int appends = 0;
};
} // namespace

TEST_CASE("a commit found after a doubt holds the events of the attempt that landed, without a read",
          "[executor][in_doubt]") {
    Store inner;
    DoubtThenUnreadable store(inner);
    CommandExecutor executor{store};
    REQUIRE(executor.execute(OpenAccount{id("account-a"), 100}));
    REQUIRE(executor.execute(OpenAccount{id("account-b"), 0}));
    store.arm();
    store.appends = 0;
    const auto command_id = eventcore::Uuid::v7();
    const ExecuteOptions once{.command_id = command_id, .retry = quick(5)};
    const auto r = executor.execute(TransferMoney{id("account-a"), id("account-b"), 30}, once);
    REQUIRE(r);
    CHECK_FALSE(r->duplicate);
    CHECK_FALSE(r->written_error);
    CHECK(r->written == read_back(inner, r->events));
    // The commit that landed, and the one that found it: no attempt after.
    CHECK(store.appends == 2);

    SECTION("and a duplicate whose events cannot be read back is still a success, saying so") {
        const auto again = executor.execute(TransferMoney{id("account-a"), id("account-b"), 30}, once);
        REQUIRE(again);
        CHECK(again->duplicate);
        CHECK(again->events == r->events);
        CHECK(again->written.empty());
        REQUIRE(again->written_error);
        CHECK_THAT(again->written_error->message(),
                   Catch::Contains("could not be read back") && Catch::Contains("the log is busy"));
        CHECK(balance(inner, id("account-b")) == 30);
    }
}
