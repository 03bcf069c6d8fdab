// Stream declaration, the atomic read, state reconstruction and the atomic write: ProcessOrder
// declares four streams, validates one rule against each, and writes one event to each in a
// single commit. When any rule fails, none of the four streams changes.

#include "checks.hpp"

#include <eventcore/eventcore.hpp>

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <exception>
#include <map>
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
using eventcore::StreamVersion;

using Items = std::map<std::string, int>; // product -> quantity

// Order stream
struct OrderPlaced {
    Items items;
    std::int64_t total;
};
struct OrderConfirmed {
    std::int64_t total;
};
// Inventory stream
struct Restocked {
    std::string product;
    int quantity;
};
struct StockReserved {
    Items items;
    StreamId order;
};
// Customer stream
struct CustomerRegistered {
    bool authorized;
};
struct CustomerOrderPlaced {
    StreamId order;
};
// Payment stream
struct FundsDeposited {
    std::int64_t amount;
};
struct PaymentCharged {
    std::int64_t amount;
    StreamId order;
};

using ShopEvent = std::variant<OrderPlaced, OrderConfirmed, Restocked, StockReserved, CustomerRegistered,
                               CustomerOrderPlaced, FundsDeposited, PaymentCharged>;
using Store = eventcore::InMemoryEventStore<ShopEvent>;

struct OrderView {
    bool placed = false;
    bool confirmed = false;
    Items items;
    std::int64_t total = 0;

    [[nodiscard]] auto is_valid() const -> bool { return placed && !confirmed && !items.empty(); }
};

struct InventoryView {
    Items stock;

    [[nodiscard]] auto has_stock(const Items& wanted) const -> bool {
        for (const auto& [product, quantity] : wanted) {
            const auto it = stock.find(product);
            if (it == stock.end() || it->second < quantity) return false;
        }
        return true;
    }
};

struct CustomerView {
    bool registered = false;
    bool authorized = false;

    [[nodiscard]] auto can_purchase() const -> bool { return registered && authorized; }
};

struct PaymentView {
    std::int64_t balance = 0;

    [[nodiscard]] auto has_funds(std::int64_t amount) const -> bool { return balance >= amount; }
};

struct OrderProcessingState {
    OrderView order;
    InventoryView inventory;
    CustomerView customer;
    PaymentView payment;
};

struct ProcessOrder {
    StreamId order;
    StreamId inventory;
    StreamId customer;
    StreamId payment;

    using Event = ShopEvent;
    using State = OrderProcessingState;
    static constexpr auto streams = eventcore::streams(&ProcessOrder::order, &ProcessOrder::inventory,
                                                       &ProcessOrder::customer, &ProcessOrder::payment);

    // One fold over all four streams: each event updates the view of the stream it came from.
    void apply(State& s, const RecordedEvent<Event>& e) const {
        eventcore::match(
            e.payload,
            [&](const OrderPlaced& placed) {
                if (e.stream != order) return;
                s.order.placed = true;
                s.order.items = placed.items;
                s.order.total = placed.total;
            },
            [&](const OrderConfirmed&) {
                if (e.stream == order) s.order.confirmed = true;
            },
            [&](const Restocked& restocked) {
                if (e.stream == inventory) s.inventory.stock[restocked.product] += restocked.quantity;
            },
            [&](const StockReserved& reserved) {
                if (e.stream != inventory) return;
                for (const auto& [product, quantity] : reserved.items) s.inventory.stock[product] -= quantity;
            },
            [&](const CustomerRegistered& registered) {
                if (e.stream != customer) return;
                s.customer.registered = true;
                s.customer.authorized = registered.authorized;
            },
            [](const CustomerOrderPlaced&) {}, // order history is not needed to decide
            [&](const FundsDeposited& deposited) {
                if (e.stream == payment) s.payment.balance += deposited.amount;
            },
            [&](const PaymentCharged& charged) {
                if (e.stream == payment) s.payment.balance -= charged.amount;
            });
    }

    void handle(const State& s, Context<ProcessOrder>& ctx) const {
        ctx.require(s.order.is_valid(), "invalid order {}: not placed, empty or already confirmed", order);
        ctx.require(s.inventory.has_stock(s.order.items), "insufficient stock in {} for {}", inventory, order);
        ctx.require(s.customer.can_purchase(), "customer {} is not authorized to purchase", customer);
        ctx.require(s.payment.has_funds(s.order.total), "insufficient funds in {}: {} < {}", payment,
                    s.payment.balance, s.order.total);

        ctx.write<&ProcessOrder::order>(OrderConfirmed{s.order.total});
        ctx.write<&ProcessOrder::inventory>(StockReserved{s.order.items, order});
        ctx.write<&ProcessOrder::customer>(CustomerOrderPlaced{order});
        ctx.write<&ProcessOrder::payment>(PaymentCharged{s.order.total, order});
    }
};

static_assert(eventcore::Command<ProcessOrder>);

using examples::check;
using examples::must;
using examples::seed;

auto version_of(const Store& store, const StreamId& stream) -> StreamVersion {
    return must(store.read_stream(stream, StreamVersion{1}, [](const RecordedEvent<ShopEvent>&) {}),
                fmt::format("reading {}", stream));
}

auto versions_of(const Store& store, const ProcessOrder& command) -> std::array<StreamVersion, 4> {
    return {version_of(store, command.order), version_of(store, command.inventory),
            version_of(store, command.customer), version_of(store, command.payment)};
}

void run() {
    Store store;
    eventcore::CommandExecutor executor{store};

    const auto warehouse = StreamId::from_static("inventory-main");
    const auto alice = StreamId::from_static("customer-alice");
    const auto bob = StreamId::from_static("customer-bob");
    const auto alice_wallet = StreamId::from_static("payment-alice");
    const auto bob_wallet = StreamId::from_static("payment-bob");

    seed(store, warehouse, {Restocked{"widget", 10}, Restocked{"gadget", 1}});
    seed(store, alice, {CustomerRegistered{.authorized = true}});
    seed(store, bob, {CustomerRegistered{.authorized = false}});
    seed(store, alice_wallet, {FundsDeposited{200}});
    seed(store, bob_wallet, {FundsDeposited{1000}});
    seed(store, StreamId::from_static("order-1"), {OrderPlaced{{{"widget", 2}, {"gadget", 1}}, 150}});
    seed(store, StreamId::from_static("order-2"), {OrderPlaced{{{"gadget", 1}}, 40}});
    seed(store, StreamId::from_static("order-3"), {OrderPlaced{{{"widget", 1}}, 20}});
    seed(store, StreamId::from_static("order-4"), {OrderPlaced{{{"widget", 3}}, 90}});

    const ProcessOrder first{.order = StreamId::from_static("order-1"),
                             .inventory = warehouse,
                             .customer = alice,
                             .payment = alice_wallet};
    const auto result = must(executor.execute(first), "processing order-1");
    fmt::print("order-1 processed: {} events in one commit\n", result.events.size());
    for (const auto& w : result.events) fmt::print("  {} -> v{} (position {})\n", w.stream, w.version, w.position);

    check(result.events.size() == 4, "one event per declared stream");
    const std::array<StreamId, 4> expected{first.order, first.inventory, first.customer, first.payment};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        check(result.events[i].stream == expected[i], fmt::format("event #{} goes to {}", i, expected[i]));
        if (i > 0) {
            check(result.events[i].position == result.events[i - 1].position.next(),
                  "the four events are adjacent in the global log");
        }
    }
    check(result.streams.size() == 4, "the commit checked the four streams it read");

    // Each command breaks exactly one rule; the three others would hold.
    struct Rejected {
        std::string_view why;
        ProcessOrder command;
    };
    const std::array<Rejected, 4> rejected{{
        {"order already confirmed", first},
        {"out of stock", {StreamId::from_static("order-2"), warehouse, alice, alice_wallet}},
        {"customer not authorized", {StreamId::from_static("order-3"), warehouse, bob, bob_wallet}},
        {"insufficient funds", {StreamId::from_static("order-4"), warehouse, alice, alice_wallet}},
    }};
    for (const auto& [why, command] : rejected) {
        const auto before = versions_of(store, command);
        const auto head = must(store.head(), "reading the head");
        const auto outcome = executor.execute(command);
        check(!outcome, fmt::format("{} ({}) is rejected", command.order, why));
        fmt::print("{} ({}): rejected, {}\n", command.order, why, outcome.error().message());
        check(outcome.error().is(eventcore::ErrorKind::business_rule), "the rejection is a business rule");
        check(versions_of(store, command) == before,
              fmt::format("none of the four streams of {} changed", command.order));
        check(must(store.head(), "reading the head") == head, "nothing at all was written");
    }
    fmt::print("after every rejection: order, inventory, customer and payment streams unchanged\n");
}

} // namespace

int main() {
    try {
        run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "process_order: {}\n", e.what());
        return 1;
    }
    return 0;
}
