// The parts of error.hpp, stream_id.hpp, uuid.hpp and command_id.hpp that are not templates:
// compiled here once, so that every file including them does not compile them again.
#include <eventcore/command_id.hpp>
#include <eventcore/detail/random.hpp>
#include <eventcore/error.hpp>

#include <boost/uuid/name_generator_sha1.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>

#if __has_include(<sys/random.h>)
#include <sys/random.h>
#else
#include <random>
#endif

namespace eventcore {

auto Error::conflict(std::vector<VersionConflict> conflicts) -> Error {
    std::string message;
    if (!conflicts.empty()) {
        const auto& c = conflicts.front();
        message = fmt::format("stream '{}' expected {}, actual version {}", c.stream, c.expected, c.actual);
        if (conflicts.size() > 1) message += fmt::format(" (and {} more streams)", conflicts.size() - 1);
    } else {
        message = "version conflict";
    }
    return Error(ErrorKind::version_conflict, std::move(message)).with_conflicts(std::move(conflicts));
}

auto operator==(const Error&, const Error&) -> bool = default;

auto vfail(ErrorKind kind, fmt::string_view format, fmt::format_args args) -> tl::unexpected<Error> {
    return tl::unexpected<Error>(Error(kind, fmt::vformat(format, args)));
}

Exception::Exception(Error error)
    : error_(std::move(error)), what_(fmt::format("{}: {}", to_string(error_.kind()), error_.message())) {}

namespace detail {

auto quote_for_message(std::string_view text) -> std::string {
    constexpr std::size_t shown = 64;
    std::string out = "\"";
    std::size_t offset = 0;
    while (offset < text.size() && offset < shown) {
        const auto d = decode_utf8(text, offset);
        if (d.valid && !is_control(d.code_point) && d.code_point != U'"' && d.code_point != U'\\') {
            out.append(text.substr(offset, d.length));
            offset += d.length;
        } else {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[offset]));
            ++offset;
        }
    }
    out += '"';
    if (offset < text.size()) out += fmt::format("... ({} bytes)", text.size());
    return out;
}

auto invalid_stream_id(std::string_view text, StreamIdViolation violation) -> Error {
    return Error(ErrorKind::validation, fmt::format("invalid stream id {}: a stream id {} (byte {})",
                                                    quote_for_message(text), describe(violation.rule),
                                                    violation.offset));
}

auto system_seed() noexcept -> std::uint64_t {
    std::uint64_t seed = 0;
#if __has_include(<sys/random.h>)
    unsigned char bytes[sizeof seed] = {};
    if (::getentropy(bytes, sizeof bytes) == 0) {
        std::memcpy(&seed, bytes, sizeof seed);
        return seed;
    }
#else
    std::random_device device;
    seed = (std::uint64_t{device()} << 32) ^ device();
#endif
    // No entropy to be had: the address of a thread's own variable still tells threads and
    // processes (under ASLR) apart.
    thread_local const char marker = 0;
    return seed ^ reinterpret_cast<std::uintptr_t>(&marker) ^ 0x9E3779B97F4A7C15ULL;
}

auto random_u64() noexcept -> std::uint64_t {
    thread_local std::uint64_t state = system_seed();
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

} // namespace detail

auto StreamId::parse(std::string_view text) -> Result<StreamId> {
    if (const auto violation = check_stream_id(text)) return fail(detail::invalid_stream_id(text, violation));
    return StreamId(trusted, text);
}

StreamId::StreamId(std::string_view text) {
    if (const auto violation = check_stream_id(text)) throw Exception(detail::invalid_stream_id(text, violation));
    value_ = text;
    hash_ = hash_of(text);
}

namespace {
constexpr auto hex_value(char c) noexcept -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
} // namespace

auto Uuid::parse(std::string_view text) -> Result<Uuid> {
    const auto bad = [&] {
        return fail(ErrorKind::validation, "invalid UUID {}: expected 8-4-4-4-12 hexadecimal digits",
                    detail::quote_for_message(text));
    };
    if (text.size() != 36) return bad();
    Bytes b{};
    std::size_t out = 0;
    for (std::size_t i = 0; i < text.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') return bad();
            ++i;
            continue;
        }
        const int hi = hex_value(text[i]);
        const int lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) return bad();
        b[out++] = static_cast<std::uint8_t>(hi * 16 + lo);
        i += 2;
    }
    return Uuid(b);
}

auto Uuid::v7(std::chrono::system_clock::time_point now) -> Uuid {
    static std::atomic<std::uint64_t> last{0}; // (unix_ms << 12) | counter
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const std::uint64_t floor = static_cast<std::uint64_t>(now_ms) << 12;
    std::uint64_t prev = last.load(std::memory_order_relaxed);
    std::uint64_t next = 0;
    do {
        next = std::max(prev + 1, floor);
    } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));

    const std::uint64_t ms = next >> 12;
    const std::uint64_t random = detail::random_u64();
    Bytes b{};
    for (int i = 0; i < 6; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
    b[6] = static_cast<std::uint8_t>(0x70 | ((next >> 8) & 0x0F));
    b[7] = static_cast<std::uint8_t>(next & 0xFF);
    b[8] = static_cast<std::uint8_t>(0x80 | ((random >> 56) & 0x3F));
    for (int i = 9; i < 16; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(random >> (8 * (15 - i)));
    return Uuid(b);
}

auto name_based_uuid(const Uuid& ns, std::string_view name) -> Uuid {
    boost::uuids::uuid boost_ns{};
    std::ranges::copy(ns.bytes(), boost_ns.begin());
    const boost::uuids::name_generator_sha1 generate(boost_ns);
    const boost::uuids::uuid made = generate(name.data(), name.size());
    Uuid::Bytes bytes{};
    std::ranges::copy(made, bytes.begin());
    return Uuid(bytes);
}

} // namespace eventcore
