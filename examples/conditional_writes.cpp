// Conditional stream writes and lazy stream loading: processing an order always writes the order
// stream, writes the customer stream only for VIPs, and reads and writes a fraud-check stream
// only when the order needs one, so ordinary orders never touch (or wait on) that stream.

#include "checks.hpp"

#include <eventcore/eventcore.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace {

using eventcore::Context;
using eventcore::ExpectedVersion;
using eventcore::RecordedEvent;
using eventcore::StreamId;

// Order streams
struct OrderPlaced {
    std::int64_t total;
};
struct OrderProcessed {
    std::int64_t total;
};
// Customer streams
struct CustomerRegistered {
    bool vip;
};
struct VipPointsEarned {
    std::int64_t points;
};
// Fraud-check streams
struct FraudCheckRequested {
    StreamId order;
    std::string reason;
};

using OrderEvent = std::variant<OrderPlaced, OrderProcessed, CustomerRegistered, VipPointsEarned, FraudCheckRequested>;
using Store = eventcore::InMemoryEventStore<OrderEvent>;

constexpr std::int64_t fraud_check_above = 1000;

struct OrderState {
    bool placed = false;
    bool processed = false;
    std::int64_t total = 0;
    bool customer_registered = false;
    bool is_vip = false;

    [[nodiscard]] auto requires_fraud_check() const -> bool { return total > fraud_check_above; }
};

auto fraud_stream(const StreamId& customer) -> StreamId { return StreamId(fmt::format("fraud-checks-{}", customer)); }

struct ProcessOrder {
    StreamId order;
    StreamId customer;

    using Event = OrderEvent;
    using State = OrderState;
    static constexpr auto streams = eventcore::streams(&ProcessOrder::order, &ProcessOrder::customer);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        eventcore::match(
            e.payload,
            [&](const OrderPlaced& placed) {
                s.placed = true;
                s.total = placed.total;
            },
            [&](const OrderProcessed&) { s.processed = true; },
            [&](const CustomerRegistered& registered) {
                s.customer_registered = true;
                s.is_vip = registered.vip;
            },
            // Points and fraud checks are outcomes of this command, not inputs to it.
            eventcore::otherwise([] {}));
    }

    void handle(const State& s, Context<ProcessOrder>& ctx) const {
        ctx.require(s.placed && !s.processed, "order {} is not waiting to be processed", order);
        ctx.require(s.customer_registered, "customer {} is not registered", customer);

        ctx.write<&ProcessOrder::order>(OrderProcessed{s.total});
        if (s.is_vip) ctx.write<&ProcessOrder::customer>(VipPointsEarned{s.total / 10});
        if (s.requires_fraud_check()) {
            // Discovered only now: adding it makes the executor read it and run handle again,
            // so the write below lands in the same commit as the order's.
            const auto fraud = fraud_stream(customer);
            ctx.add_stream(fraud);
            ctx.write(fraud, FraudCheckRequested{order, fmt::format("total {} above {}", s.total, fraud_check_above)});
        }
    }
};

static_assert(eventcore::Command<ProcessOrder>);

using examples::check;
using examples::must;
using examples::seed;

auto count_events(const Store& store, const StreamId& stream) -> std::size_t {
    return must(eventcore::load_stream(store, stream), fmt::format("reading {}", stream)).size();
}

void run() {
    Store store;
    eventcore::CommandExecutor executor{store};

    const auto regular = StreamId::from_static("customer-regular");
    const auto vip = StreamId::from_static("customer-vip");
    seed(store, regular, {CustomerRegistered{.vip = false}});
    seed(store, vip, {CustomerRegistered{.vip = true}});

    struct Case {
        std::string_view description;
        StreamId order;
        StreamId customer;
        std::int64_t total;
        std::vector<StreamId> written; // expected, in the order of the writes
        std::size_t read;              // streams the command should have read
    };
    const std::array<Case, 3> cases{{
        {"regular customer, small order", StreamId::from_static("order-1"), regular, 200,
         {StreamId::from_static("order-1")}, 2},
        {"VIP customer, small order", StreamId::from_static("order-2"), vip, 300,
         {StreamId::from_static("order-2"), vip}, 2},
        {"regular customer, large order", StreamId::from_static("order-3"), regular, 5000,
         {StreamId::from_static("order-3"), fraud_stream(regular)}, 3},
    }};

    for (const auto& c : cases) {
        seed(store, c.order, {OrderPlaced{c.total}});
        const auto before = must(store.head(), "reading the head");
        const auto result =
            must(executor.execute(ProcessOrder{c.order, c.customer}), fmt::format("processing {}", c.order));

        std::vector<StreamId> written;
        for (const auto& w : result.events) written.push_back(w.stream);
        std::vector<StreamId> read;
        for (const auto& s : result.streams) read.push_back(s.stream);
        fmt::print("{} ({}): wrote [{}], read [{}]\n", c.order, c.description, fmt::join(written, ", "),
                   fmt::join(read, ", "));

        check(written == c.written, fmt::format("{} wrote exactly to the expected streams", c.order));
        check(read.size() == c.read, fmt::format("{} read only the streams it needed", c.order));
        check(must(store.head(), "reading the head").value() == before.value() + c.written.size(),
              "nothing else was written");
    }

    check(count_events(store, regular) == 1, "the regular customer earned no points");
    check(count_events(store, vip) == 2, "the VIP earned points once");
    check(count_events(store, fraud_stream(vip)) == 0, "no fraud check for the VIP's small order");
    check(count_events(store, fraud_stream(regular)) == 1, "one fraud check, for the large order");
}

} // namespace

int main() {
    try {
        run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "conditional_writes: {}\n", e.what());
        return 1;
    }
    return 0;
}
