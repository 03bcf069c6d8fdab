// Fuzzes the append path of a durable store: the bytes become a commit (payload text, doubles
// and integers taken from the bytes as they are, a command name and custom metadata), appended
// to an SQLite store and to the in-memory store. What the SQLite store accepts must read back
// equal, bit for bit; what it refuses must be a `validation` or `serialization` error with nothing
// written; and the in-memory store, which has no codec, must agree wherever the codec had no say.

#include <eventcore/in_memory_event_store.hpp>
#include <eventcore/json_codec.hpp>
#include <eventcore/sqlite_event_store.hpp>
#include <eventcore/stream_ops.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fuzz {

struct Entry {
    std::string text;
    double value;
    std::int64_t count;
    std::vector<std::string> tags;
    std::map<std::string, double> by_key;
};
EVENTCORE_EVENT(Entry, text, value, count, tags, by_key)

using Event = std::variant<Entry>;

/// Takes pieces of the input in turn.
class Bytes {
public:
    Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    auto byte() -> std::uint8_t { return at_ < size_ ? data_[at_++] : 0; }
    auto text() -> std::string {
        const std::size_t n = std::min<std::size_t>(byte() % 24, size_ - std::min(at_, size_));
        std::string out(reinterpret_cast<const char*>(data_ + at_), n);
        at_ += n;
        return out;
    }
    template <class T>
    auto raw() -> T {
        T out{};
        unsigned char buffer[sizeof(T)] = {};
        for (auto& b : buffer) b = byte();
        std::memcpy(&out, buffer, sizeof out);
        return out;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
};

auto same_bits(double a, double b) -> bool { return std::memcmp(&a, &b, sizeof a) == 0; }

auto same(const Entry& a, const Entry& b) -> bool {
    if (a.text != b.text || !same_bits(a.value, b.value) || a.count != b.count || a.tags != b.tags ||
        a.by_key.size() != b.by_key.size())
        return false;
    for (auto i = a.by_key.begin(), j = b.by_key.begin(); i != a.by_key.end(); ++i, ++j)
        if (i->first != j->first || !same_bits(i->second, j->second)) return false;
    return true;
}

} // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace eventcore;
    static auto sqlite = SqliteEventStore<fuzz::Event>::open(":memory:").value();
    static InMemoryEventStore<fuzz::Event> memory;
    static std::uint64_t round = 0;
    ++round;

    fuzz::Bytes in(data, size);
    const auto stream = StreamId(fmt::format("fuzz-{}", round));
    AppendRequest<fuzz::Event> request;
    request.expectations = {{stream, ExpectedVersion::no_stream()}};
    for (int e = in.byte() % 3 + 1; e > 0; --e) {
        fuzz::Entry entry{in.text(), in.raw<double>(), in.raw<std::int64_t>(), {}, {}};
        for (int t = in.byte() % 3; t > 0; --t) entry.tags.push_back(in.text());
        for (int k = in.byte() % 3; k > 0; --k) entry.by_key[in.text()] = in.raw<double>();
        EventMetadata m;
        m.command = in.text();
        for (int c = in.byte() % 3; c > 0; --c) m.custom.emplace_back(in.text(), in.text());
        request.events.push_back({stream, std::move(entry), std::move(m)});
    }

    auto to_memory = request;
    const auto in_memory = memory.append(std::move(to_memory));
    auto copy = request;
    const auto stored = sqlite.append(std::move(copy));
    if (!stored) {
        const auto kind = stored.error().kind();
        if (kind != ErrorKind::validation && kind != ErrorKind::serialization) std::abort();
        if (stream_version(sqlite, stream).value() != StreamVersion{}) std::abort(); // a refusal wrote
        if (kind == ErrorKind::validation && in_memory) std::abort();             // the stores disagree
        return 0;
    }
    if (!in_memory) std::abort();
    const auto events = load_stream(sqlite, stream);
    if (!events || events->size() != request.events.size()) std::abort();
    for (std::size_t i = 0; i < events->size(); ++i) {
        const auto& got = (*events)[i];
        const auto& want = request.events[i];
        if (!fuzz::same(std::get<fuzz::Entry>(got.payload), std::get<fuzz::Entry>(want.payload))) std::abort();
        if (got.metadata.command != want.metadata.command || got.metadata.custom != want.metadata.custom) std::abort();
    }
    return 0;
}
