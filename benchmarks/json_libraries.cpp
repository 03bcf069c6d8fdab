// Compares Boost.JSON (with Boost.Describe) and nlohmann-json as the event codec's JSON layer:
// encode (event struct -> JSON text) and decode (JSON text -> event struct, with error checks)
// for a small, a medium and a nested event.
//
// Build (Release, -O2, C++20) against Boost::json and nlohmann_json::nlohmann_json, link
// benchmark::benchmark, then run:
//   ./json_libraries --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

// ---------------------------------------------------------------------------------------------
// Events

struct MoneyDeposited {
    std::int64_t amount = 0;
    std::string reference;
    bool operator==(const MoneyDeposited&) const = default;
};

struct OrderLineAdded {
    std::string order_id;
    std::string sku;
    std::string description;
    std::int32_t quantity = 0;
    std::int64_t unit_price_cents = 0;
    double discount_rate = 0.0;
    bool gift_wrap = false;
    std::vector<std::string> tags;
    bool operator==(const OrderLineAdded&) const = default;
};

struct Address {
    std::string street;
    std::string city;
    std::string postal_code;
    std::string country;
    bool operator==(const Address&) const = default;
};

struct OrderItem {
    std::string sku;
    std::string name;
    std::int32_t quantity = 0;
    std::int64_t unit_price_cents = 0;
    bool operator==(const OrderItem&) const = default;
};

struct OrderPlaced {
    std::string order_id;
    std::string customer_id;
    Address shipping_address;
    std::vector<OrderItem> items;
    std::int64_t total_cents = 0;
    bool operator==(const OrderPlaced&) const = default;
};

// One line per type and library: this is the registration cost the codec asks of users.
BOOST_DESCRIBE_STRUCT(MoneyDeposited, (), (amount, reference))
BOOST_DESCRIBE_STRUCT(OrderLineAdded, (),
    (order_id, sku, description, quantity, unit_price_cents, discount_rate, gift_wrap, tags))
BOOST_DESCRIBE_STRUCT(Address, (), (street, city, postal_code, country))
BOOST_DESCRIBE_STRUCT(OrderItem, (), (sku, name, quantity, unit_price_cents))
BOOST_DESCRIBE_STRUCT(OrderPlaced, (), (order_id, customer_id, shipping_address, items, total_cents))

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MoneyDeposited, amount, reference)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OrderLineAdded,
    order_id, sku, description, quantity, unit_price_cents, discount_rate, gift_wrap, tags)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Address, street, city, postal_code, country)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OrderItem, sku, name, quantity, unit_price_cents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OrderPlaced, order_id, customer_id, shipping_address, items, total_cents)

// ---------------------------------------------------------------------------------------------
// Sample events

MoneyDeposited small_event() { return {125'000, "INV-2024-000117"}; }

OrderLineAdded medium_event()
{
    return {"ord-7f3c2a91-5b1e-4c0d-9e8f-112233445566",
        "SKU-COFFEE-BEANS-1KG",
        "Single-origin Ethiopian Yirgacheffe, whole beans, 1 kg bag",
        3,
        2'499,
        0.15,
        true,
        {"coffee", "organic", "fair-trade", "gift"}};
}

OrderPlaced nested_event()
{
    OrderPlaced e;
    e.order_id = "ord-7f3c2a91-5b1e-4c0d-9e8f-112233445566";
    e.customer_id = "cust-000042";
    e.shipping_address = {"221B Baker Street", "London", "NW1 6XE", "GB"};
    for (int i = 0; i < 20; ++i) {
        OrderItem item;
        item.sku = "SKU-" + std::to_string(10'000 + i * 37);
        item.name = "Catalogue item number " + std::to_string(i);
        item.quantity = 1 + i % 4;
        item.unit_price_cents = 199 + i * 250;
        e.total_cents += item.quantity * item.unit_price_cents;
        e.items.push_back(std::move(item));
    }
    return e;
}

// The stored payload both libraries decode: the text Boost.JSON writes (members in declaration
// order, as a codec would store them). nlohmann writes the same members in sorted order.
template <class Event>
std::string canonical_text(const Event& e)
{
    return boost::json::serialize(boost::json::value_from(e));
}

[[noreturn]] void die(const char* what)
{
    std::fprintf(stderr, "json_libraries: %s\n", what);
    std::abort();
}

// ---------------------------------------------------------------------------------------------
// Boost.JSON

template <class Event>
std::string boost_encode(const Event& e)
{
    return boost::json::serialize(boost::json::value_from(e));
}

// value_from into a stack arena, so building the DOM does not touch the heap.
template <class Event>
std::string boost_encode_arena(const Event& e)
{
    unsigned char arena[8192];
    boost::json::monotonic_resource mr(arena, sizeof arena);
    const boost::json::value jv = boost::json::value_from(e, &mr);
    return boost::json::serialize(jv);
}

template <class Event>
bool boost_decode(std::string_view text, Event& out)
{
    boost::system::error_code ec;
    const boost::json::value jv = boost::json::parse(text, ec);
    if (ec) return false;
    auto r = boost::json::try_value_to<Event>(jv);
    if (!r) return false;
    out = std::move(*r);
    return true;
}

// A reused parser (as a codec would keep one per thread) writing into a stack arena.
class BoostArenaDecoder {
public:
    BoostArenaDecoder() : parser_(boost::json::storage_ptr(), {}, temp_, sizeof temp_) {}

    template <class Event>
    bool decode(std::string_view text, Event& out)
    {
        unsigned char arena[8192];
        boost::json::monotonic_resource mr(arena, sizeof arena);
        parser_.reset(&mr);
        boost::system::error_code ec;
        parser_.write(text.data(), text.size(), ec);
        if (ec) return false;
        const boost::json::value jv = parser_.release();
        auto r = boost::json::try_value_to<Event>(jv);
        if (!r) return false;
        out = std::move(*r);
        return true;
    }

private:
    unsigned char temp_[4096];
    boost::json::parser parser_;
};

// ---------------------------------------------------------------------------------------------
// nlohmann-json

template <class Event>
std::string nlohmann_encode(const Event& e)
{
    const nlohmann::json j = e;
    return j.dump();
}

template <class Event>
bool nlohmann_decode(std::string_view text, Event& out)
{
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return false;
    try {
        j.get_to(out);
    } catch (const nlohmann::json::exception&) {
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Benchmarks

template <class Event, std::string (*Encode)(const Event&)>
void encode_bench(benchmark::State& state, Event (*make)())
{
    const Event e = make();
    for (auto _ : state) {
        std::string text = Encode(e);
        benchmark::DoNotOptimize(text.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(canonical_text(e).size()));
}

template <class Event, bool (*Decode)(std::string_view, Event&)>
void decode_bench(benchmark::State& state, Event (*make)())
{
    const std::string text = canonical_text(make());
    for (auto _ : state) {
        Event out;
        if (!Decode(text, out)) {
            state.SkipWithError("decode failed");
            break;
        }
        benchmark::DoNotOptimize(out);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(text.size()));
}

template <class Event>
void boost_arena_decode_bench(benchmark::State& state, Event (*make)())
{
    const std::string text = canonical_text(make());
    BoostArenaDecoder decoder;
    for (auto _ : state) {
        Event out;
        if (!decoder.decode(text, out)) {
            state.SkipWithError("decode failed");
            break;
        }
        benchmark::DoNotOptimize(out);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(text.size()));
}

template <class Event>
void register_event(const char* name, Event (*make)())
{
    const std::string n = name;
    benchmark::RegisterBenchmark(("encode/" + n + "/boost").c_str(),
        encode_bench<Event, boost_encode<Event>>, make);
    benchmark::RegisterBenchmark(("encode/" + n + "/boost_arena").c_str(),
        encode_bench<Event, boost_encode_arena<Event>>, make);
    benchmark::RegisterBenchmark(("encode/" + n + "/nlohmann").c_str(),
        encode_bench<Event, nlohmann_encode<Event>>, make);
    benchmark::RegisterBenchmark(("decode/" + n + "/boost").c_str(),
        decode_bench<Event, boost_decode<Event>>, make);
    benchmark::RegisterBenchmark(("decode/" + n + "/boost_arena").c_str(),
        boost_arena_decode_bench<Event>, make);
    benchmark::RegisterBenchmark(("decode/" + n + "/nlohmann").c_str(),
        decode_bench<Event, nlohmann_decode<Event>>, make);
}

// ---------------------------------------------------------------------------------------------
// Before timing anything: every path must round-trip every event, and both libraries must read
// each other's output.

template <class Event>
void check_round_trips(Event (*make)())
{
    const Event e = make();
    BoostArenaDecoder arena_decoder;
    const std::string texts[] = {boost_encode(e), boost_encode_arena(e), nlohmann_encode(e)};
    for (const std::string& text : texts) {
        Event a, b, c;
        if (!boost_decode(text, a) || !(a == e)) die("Boost.JSON round trip failed");
        if (!arena_decoder.decode(text, b) || !(b == e)) die("Boost.JSON arena round trip failed");
        if (!nlohmann_decode(text, c) || !(c == e)) die("nlohmann-json round trip failed");
    }
    Event bad;
    if (boost_decode(std::string_view("{\"amount\":"), bad)) die("Boost.JSON accepted bad JSON");
    if (nlohmann_decode(std::string_view("{\"amount\":"), bad)) die("nlohmann accepted bad JSON");
    if (boost_decode(std::string_view("[1,2]"), bad)) die("Boost.JSON accepted a wrong payload");
    if (nlohmann_decode(std::string_view("[1,2]"), bad)) die("nlohmann accepted a wrong payload");
}

} // namespace bench

int main(int argc, char** argv)
{
    bench::check_round_trips(bench::small_event);
    bench::check_round_trips(bench::medium_event);
    bench::check_round_trips(bench::nested_event);

    bench::register_event("small", bench::small_event);
    bench::register_event("medium", bench::medium_event);
    bench::register_event("nested", bench::nested_event);

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
