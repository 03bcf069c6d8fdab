// Fuzzes the JSON codec's decode of arbitrary bytes: the first byte picks the event type name,
// the rest is the payload. Decoding either fails with a `deserialization` error or yields an
// event that encodes to JSON which decodes and encodes again to the same text; never a crash.

#include <eventcore/json_codec.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fuzz {

struct Money {
    std::int64_t cents;
    std::string currency;
};
struct Deposited {
    Money amount;
    std::optional<std::string> reference;
    bool instant;
};
struct Tagged {
    std::vector<std::string> tags;
    std::map<std::string, std::int32_t> counts;
    std::uint8_t level;
    double ratio;
};
struct Nested {
    std::vector<Money> parts;
    std::optional<Deposited> original;
    std::uint64_t sequence;
    std::int16_t small;
};
EVENTCORE_EVENT(Money, cents, currency)
EVENTCORE_EVENT(Deposited, amount, reference, instant)
EVENTCORE_EVENT(Tagged, tags, counts, level, ratio)
EVENTCORE_EVENT(Nested, parts, original, sequence, small)

using Event = std::variant<Deposited, Tagged, Nested>;

} // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const eventcore::JsonCodec<fuzz::Event> codec;
    if (size == 0) return 0;
    const auto& names = eventcore::event_type_names<fuzz::Event>;
    // One byte in five names no type at all.
    const std::size_t pick = data[0] % (names.size() + 1);
    const std::string_view type = pick < names.size() ? names[pick] : std::string_view("NoSuchEvent");
    const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);

    auto decoded = codec.decode(type, payload);
    if (!decoded) {
        if (!decoded.error().is(eventcore::ErrorKind::deserialization)) std::abort();
        (void)fmt::format("{}", decoded.error());
        return 0;
    }
    if (pick == names.size()) std::abort(); // an unknown type must not decode
    auto first = codec.encode(*decoded);
    if (!first) std::abort();
    auto again = codec.decode(first->type, first->payload);
    if (!again) std::abort();
    auto second = codec.encode(*again);
    if (!second || second->payload != first->payload || second->type != first->type) std::abort();
    return 0;
}
