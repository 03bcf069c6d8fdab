// E-commerce checkout with dynamic stream discovery: CheckoutCart declares only the cart, the
// customer and the payment method; the product streams (from the cart's items) and the new
// order stream are discovered, read, checked and written in the same atomic commit.

#include "checks.hpp"

#include <eventcore/eventcore.hpp>

#include <fmt/format.h>

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

struct LineItem {
    int quantity = 0;
    std::int64_t unit_price = 0;
};
using Lines = std::map<std::string, LineItem>; // product -> line

// Cart stream
struct ItemAdded {
    std::string product;
    int quantity;
    std::int64_t unit_price;
};
struct CheckedOut {
    std::string order_id;
};
// Customer stream
struct CustomerRegistered {
    std::string name;
};
// Payment method stream
struct CardAdded {
    std::int64_t credit_limit;
};
struct PaymentCharged {
    std::int64_t amount;
    std::string order_id;
};
// Order stream
struct OrderCreated {
    StreamId cart;
    StreamId customer;
    Lines lines;
    std::int64_t total;
};
// Product streams
struct Restocked {
    int quantity;
};
struct StockReserved {
    int quantity;
    std::string order_id;
};

using ShopEvent = std::variant<ItemAdded, CheckedOut, CustomerRegistered, CardAdded, PaymentCharged, OrderCreated,
                               Restocked, StockReserved>;
using Store = eventcore::InMemoryEventStore<ShopEvent>;

auto product_stream(std::string_view product) -> StreamId { return StreamId(fmt::format("product-{}", product)); }
auto order_stream(std::string_view order_id) -> StreamId { return StreamId(fmt::format("order-{}", order_id)); }

struct CartView {
    Lines lines;
    bool checked_out = false;

    [[nodiscard]] auto total() const -> std::int64_t {
        std::int64_t sum = 0;
        for (const auto& [product, line] : lines) sum += line.quantity * line.unit_price;
        return sum;
    }
};

struct CheckoutState {
    CartView cart;
    bool customer_registered = false;
    std::int64_t available_credit = 0;
    std::map<StreamId, int> available_stock; // by product stream
    bool order_exists = false;
};

struct CheckoutCart {
    StreamId cart;
    StreamId customer;
    StreamId payment_method;
    // Chosen by the caller, not in handle: a retry must not mint a second order.
    std::string order_id;

    using Event = ShopEvent;
    using State = CheckoutState;
    static constexpr auto streams =
        eventcore::streams(&CheckoutCart::cart, &CheckoutCart::customer, &CheckoutCart::payment_method);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        eventcore::match(
            e.payload,
            [&](const ItemAdded& added) {
                if (e.stream != cart) return;
                auto& line = s.cart.lines[added.product];
                line.quantity += added.quantity;
                line.unit_price = added.unit_price;
            },
            [&](const CheckedOut&) {
                if (e.stream == cart) s.cart.checked_out = true;
            },
            [&](const CustomerRegistered&) {
                if (e.stream == customer) s.customer_registered = true;
            },
            [&](const CardAdded& card) {
                if (e.stream == payment_method) s.available_credit += card.credit_limit;
            },
            [&](const PaymentCharged& charged) {
                if (e.stream == payment_method) s.available_credit -= charged.amount;
            },
            [&](const OrderCreated&) { s.order_exists = true; }, // only the order stream of this checkout holds one
            [&](const Restocked& restocked) { s.available_stock[e.stream] += restocked.quantity; },
            [&](const StockReserved& reserved) { s.available_stock[e.stream] -= reserved.quantity; });
    }

    // Runs before handle, once the declared streams are folded: the cart says which product
    // streams matter. The order stream is read too, because a command writes only to streams it
    // read, and reading it makes the commit fail if that order appears in the meantime.
    void resolve(const State& s, eventcore::StreamResolver& resolver) const {
        for (const auto& [product, line] : s.cart.lines) resolver.add_stream(product_stream(product));
        resolver.add_stream(order_stream(order_id));
    }

    void handle(const State& s, Context<CheckoutCart>& ctx) const {
        ctx.require(!s.cart.checked_out, "cart {} is already checked out", cart);
        ctx.require(!s.cart.lines.empty(), "cart {} is empty", cart);
        ctx.require(s.customer_registered, "customer {} is not registered", customer);
        ctx.require(!s.order_exists, "order {} already exists", order_id);
        for (const auto& [product, line] : s.cart.lines) {
            const auto it = s.available_stock.find(product_stream(product));
            const int available = it == s.available_stock.end() ? 0 : it->second;
            ctx.require(available >= line.quantity, "insufficient stock for product {}: {} < {}", product, available,
                        line.quantity);
        }
        const auto total = s.cart.total();
        ctx.require(s.available_credit >= total, "payment method {} declined: {} < {}", payment_method,
                    s.available_credit, total);

        ctx.write<&CheckoutCart::cart>(CheckedOut{order_id});
        ctx.write(order_stream(order_id), OrderCreated{cart, customer, s.cart.lines, total});
        ctx.write<&CheckoutCart::payment_method>(PaymentCharged{total, order_id});
        for (const auto& [product, line] : s.cart.lines)
            ctx.write(product_stream(product), StockReserved{line.quantity, order_id});
    }
};

static_assert(eventcore::Command<CheckoutCart>);
static_assert(eventcore::HasResolver<CheckoutCart>);

using examples::check;
using examples::must;
using examples::seed;

auto events_of(const Store& store, const StreamId& stream) -> std::vector<RecordedEvent<ShopEvent>> {
    return must(eventcore::load_stream(store, stream), fmt::format("reading {}", stream));
}

auto stock_of(const Store& store, std::string_view product) -> int {
    int stock = 0;
    const auto events = events_of(store, product_stream(product));
    for (const auto& e : events) {
        if (const auto* r = std::get_if<Restocked>(&e.payload)) stock += r->quantity;
        if (const auto* r = std::get_if<StockReserved>(&e.payload)) stock -= r->quantity;
    }
    return stock;
}

auto is_checked_out(const Store& store, const StreamId& cart) -> bool {
    const auto events = events_of(store, cart);
    return !events.empty() && std::holds_alternative<CheckedOut>(events.back().payload);
}

void run() {
    Store store;
    eventcore::CommandExecutor executor{store};

    const auto customer = StreamId::from_static("customer-7");
    const auto card = StreamId::from_static("card-7");
    const auto cart_1 = StreamId::from_static("cart-1");
    const auto cart_2 = StreamId::from_static("cart-2");

    seed(store, customer, {CustomerRegistered{"Ada"}});
    seed(store, card, {CardAdded{100}});
    seed(store, product_stream("apple"), {Restocked{5}});
    seed(store, product_stream("pear"), {Restocked{2}});
    seed(store, product_stream("plum"), {Restocked{1}});
    seed(store, cart_1, {ItemAdded{"apple", 2, 3}, ItemAdded{"pear", 1, 5}});
    seed(store, cart_2, {ItemAdded{"apple", 1, 3}, ItemAdded{"plum", 2, 4}});

    const CheckoutCart checkout_1{.cart = cart_1, .customer = customer, .payment_method = card, .order_id = "1001"};
    const auto result = must(executor.execute(checkout_1), "checking out cart-1");
    fmt::print("cart-1 checked out; streams read (3 declared, then discovered):\n");
    for (const auto& s : result.streams) fmt::print("  {} (now v{})\n", s.stream, s.version);
    fmt::print("events written in one commit:\n");
    for (const auto& w : result.events) fmt::print("  {} v{}\n", w.stream, w.version);

    check(result.streams.size() == 6, "3 declared + 2 product streams + the order stream were read");
    check(result.streams[3].stream == product_stream("apple") && result.streams[4].stream == product_stream("pear"),
          "the product streams of the cart were discovered");
    check(result.streams[5].stream == order_stream("1001"), "the new order stream was discovered");
    check(result.events.size() == 5, "cart, order, payment and two products were written");

    check(is_checked_out(store, cart_1), "cart-1 is checked out");
    check(stock_of(store, "apple") == 3, "2 apples reserved: 5 -> 3");
    check(stock_of(store, "pear") == 1, "1 pear reserved: 2 -> 1");
    const auto order = events_of(store, order_stream("1001"));
    check(order.size() == 1 && std::holds_alternative<OrderCreated>(order.front().payload), "order-1001 was created");
    check(std::get<OrderCreated>(order.front().payload).total == 11, "the order totals 2x3 + 1x5 = 11");
    const auto charges = events_of(store, card);
    check(charges.size() == 2 && std::get<PaymentCharged>(charges.back().payload).amount == 11,
          "the card was charged 11");
    fmt::print("stock now: apple {}, pear {}; order-1001 total 11 charged to {}\n", stock_of(store, "apple"),
               stock_of(store, "pear"), card);

    const auto head = must(store.head(), "reading the head");
    const CheckoutCart checkout_2{.cart = cart_2, .customer = customer, .payment_method = card, .order_id = "1002"};
    const auto rejected = executor.execute(checkout_2);
    check(!rejected, "cart-2 wants 2 plums with 1 in stock: rejected");
    fmt::print("cart-2: rejected ({})\n", rejected.error());
    check(rejected.error().is(eventcore::ErrorKind::business_rule), "the rejection is a business rule");
    check(must(store.head(), "reading the head") == head, "the rejected checkout wrote nothing");
    check(!is_checked_out(store, cart_2), "cart-2 is not checked out");
    check(stock_of(store, "apple") == 3 && stock_of(store, "plum") == 1, "no stock reserved, not even apples");
    check(events_of(store, order_stream("1002")).empty(), "no order-1002");
    check(events_of(store, card).size() == 2, "the card was not charged again");
    fmt::print("nothing changed: apple {}, plum {}, no order-1002\n", stock_of(store, "apple"),
               stock_of(store, "plum"));
}

} // namespace

int main() {
    try {
        run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "checkout_cart: {}\n", e.what());
        return 1;
    }
    return 0;
}
