// Fuzzes StreamId parsing: any bytes either parse into an id that keeps every rule of a stream
// id, or fail with a validation error whose message can be formatted; never a crash.

#include <eventcore/error.hpp>
#include <eventcore/stream_id.hpp>
#include <eventcore/stream_pattern.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto id = eventcore::StreamId::parse(text);
    if (id) {
        // Accepted: it is the same bytes, 1..255 long, and parses again to itself.
        if (id->view() != text || text.empty() || text.size() > 255) std::abort();
        if (eventcore::check_stream_id(text)) std::abort();
        auto again = eventcore::StreamId::parse(id->view());
        if (!again || *again != *id) std::abort();
        if (fmt::format("{}", *id) != text) std::abort();
    } else {
        if (!id.error().is(eventcore::ErrorKind::validation)) std::abort();
        if (!eventcore::check_stream_id(text)) std::abort();
        (void)fmt::format("{}", id.error());
    }
    // The same bytes as a stream pattern: parsed or refused, and matched against themselves.
    if (auto pattern = eventcore::StreamPattern::parse(text)) (void)pattern->matches(text);
    return 0;
}
