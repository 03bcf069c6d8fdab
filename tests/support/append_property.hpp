#pragma once
// The property behind "nothing accepted is unreadable": random commits, with odd text (NUL,
// control characters, invalid UTF-8, encoded surrogates, overlong forms), odd numbers (NaN,
// infinities, negative zero, subnormals) and odd metadata, go to several stores at once. Every
// store gives the same outcome, and whatever a store accepts reads back equal, bit for bit.

#include <eventcore/event_store.hpp>
#include <eventcore/json_codec.hpp>
#include <eventcore/stream_ops.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace append_property {

struct Sample {
    std::string text;
    double value;
    std::int64_t count;
    std::vector<std::string> tags;
    std::optional<double> maybe;
    std::map<std::string, double> by_key;
};
EVENTCORE_EVENT(Sample, text, value, count, tags, maybe, by_key)

/// An event whose type name no store can keep: every store must refuse it alike.
struct BadlyNamed {
    static constexpr std::string_view event_type_name{"Badly\0Named", 11};
    std::string note;
};
EVENTCORE_EVENT(BadlyNamed, note)

using Event = std::variant<Sample, BadlyNamed>;

inline auto same_bits(double a, double b) -> bool { return std::memcmp(&a, &b, sizeof a) == 0; }

/// Equal as stored: doubles bit for bit (so 0.0 is not -0.0).
inline auto same(const Event& a, const Event& b) -> bool {
    if (a.index() != b.index()) return false;
    if (const auto* x = std::get_if<BadlyNamed>(&a)) return x->note == std::get<BadlyNamed>(b).note;
    const auto& x = std::get<Sample>(a);
    const auto& y = std::get<Sample>(b);
    if (x.text != y.text || !same_bits(x.value, y.value) || x.count != y.count || x.tags != y.tags) return false;
    if (x.maybe.has_value() != y.maybe.has_value() || (x.maybe && !same_bits(*x.maybe, *y.maybe))) return false;
    if (x.by_key.size() != y.by_key.size()) return false;
    for (auto i = x.by_key.begin(), j = y.by_key.begin(); i != x.by_key.end(); ++i, ++j) {
        if (i->first != j->first || !same_bits(i->second, j->second)) return false;
    }
    return true;
}

/// Random commits from a seed: mostly valid, often not.
class Generator {
public:
    explicit Generator(std::uint64_t seed) : rng_(seed) {}

    auto text() -> std::string {
        static constexpr std::string_view pieces[] = {
            "a", "Z", "0", " ", "-", "\"", "\\", "\t", "\n",       // ASCII, JSON's escapes among them
            std::string_view("\0", 1), "\x01", "\x1f", "\x7f",     // NUL and other controls
            "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",        // two-, three- and four-byte characters
            "\xc2\x85", "\xef\xbf\xbf",                            // a C1 control, a noncharacter
        };
        static constexpr std::string_view broken[] = {
            "\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xed\xbf\xbf", "\xc0\x80", "\xf4\x90\x80\x80", "\x80",
        };
        std::string out;
        const auto n = pick(6);
        for (std::size_t i = 0; i < n; ++i) out += pieces[pick(std::size(pieces))];
        if (pick(16) == 0) out.insert(pick(out.size() + 1), broken[pick(std::size(broken))]);
        return out;
    }

    auto number() -> double {
        switch (pick(40)) {
        case 0: return std::numeric_limits<double>::quiet_NaN();
        case 1: return pick(2) == 0 ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
        case 2: return -0.0;
        case 3: return std::numeric_limits<double>::denorm_min() * static_cast<double>(pick(1000) + 1);
        case 4: return std::numeric_limits<double>::max();
        default: {
            // Any finite double, by its bits.
            for (;;) {
                const std::uint64_t bits = rng_();
                double d = 0;
                std::memcpy(&d, &bits, sizeof d);
                if (std::isfinite(d)) return d;
            }
        }
        }
    }

    auto event() -> Event {
        if (pick(25) == 0) return BadlyNamed{text()};
        Sample s{text(), number(), static_cast<std::int64_t>(rng_()), {}, std::nullopt, {}};
        for (std::size_t i = pick(3); i > 0; --i) s.tags.push_back(text());
        if (pick(2) == 0) s.maybe = number();
        for (std::size_t i = pick(3); i > 0; --i) s.by_key[text()] = pick(4) == 0 ? number() : 1.5;
        return s;
    }

    auto metadata() -> eventcore::EventMetadata {
        eventcore::EventMetadata m;
        m.event_id = eventcore::Uuid::v7();
        m.correlation_id = eventcore::Uuid::v7();
        m.causation_id = eventcore::Uuid::v7();
        m.command = pick(3) == 0 ? text() : std::string("Property.Command");
        for (std::size_t i = pick(3); i > 0; --i) m.custom.emplace_back(text(), text());
        return m;
    }

    /// One commit to one or two fresh streams named after `round`.
    auto request(int round) -> eventcore::AppendRequest<Event> {
        eventcore::AppendRequest<Event> r;
        const auto streams = pick(2) + 1;
        for (std::size_t s = 0; s < streams; ++s) {
            r.expectations.push_back({eventcore::StreamId(fmt::format("prop-{}-{}", round, s)),
                                      eventcore::ExpectedVersion::no_stream()});
        }
        for (std::size_t e = pick(3) + 1; e > 0; --e)
            r.events.push_back({r.expectations[pick(streams)].stream, event(), metadata()});
        return r;
    }

private:
    auto pick(std::size_t n) -> std::size_t { return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n); }
    std::mt19937_64 rng_;
};

/// A store under the property, with a name for messages and whether it keeps payloads through
/// the JSON codec (the in-memory store keeps them as they are).
template <class S>
struct Subject {
    std::string name;
    S* store;
    bool encodes = true;
};

inline auto outcome_of(const eventcore::Result<eventcore::CommitReceipt>& r) -> std::string {
    return r ? "accepted" : std::string(eventcore::to_string(r.error().kind()));
}

/// What a store that reads `request` back must give: every event with its payload and the
/// metadata it was written with.
template <class S>
void check_reads_back(const S& store, const std::string& name, const eventcore::AppendRequest<Event>& request) {
    for (const auto& expectation : request.expectations) {
        const auto events = eventcore::load_stream(store, expectation.stream);
        INFO(name << ": reading back " << expectation.stream.str());
        REQUIRE(events);
        std::size_t at = 0;
        for (const auto& written : request.events) {
            if (written.stream != expectation.stream) continue;
            REQUIRE(at < events->size());
            const auto& got = (*events)[at++];
            CHECK(same(got.payload, written.payload));
            CHECK(got.metadata.event_id == written.metadata.event_id);
            CHECK(got.metadata.command == written.metadata.command);
            CHECK(got.metadata.custom == written.metadata.custom);
        }
        CHECK(at == events->size());
    }
}

/// Runs `rounds` random commits against every subject at once: the same outcome everywhere
/// (a store without a codec cannot meet the codec's `serialization` refusals), and what is
/// accepted reads back equal. Returns how many were accepted, for the caller to check that the
/// run was not all refusals.
template <class... S>
auto run(std::uint64_t seed, int rounds, Subject<S>... subjects) -> int {
    Generator gen(seed);
    int accepted = 0;
    for (int round = 0; round < rounds; ++round) {
        const auto request = gen.request(round);
        std::vector<std::string> outcomes;
        std::vector<bool> encodes;
        (
            [&] {
                auto copy = request;
                const auto r = subjects.store->append(std::move(copy));
                outcomes.push_back(outcome_of(r));
                encodes.push_back(subjects.encodes);
                if (r) check_reads_back(*subjects.store, subjects.name, request);
                INFO(subjects.name << " round " << round << ": " << (r ? "accepted" : fmt::format("{}", r.error())));
                CHECK((r || r.error().is(eventcore::ErrorKind::validation) ||
                       r.error().is(eventcore::ErrorKind::serialization)));
            }(),
            ...);
        // Stores with the codec agree with each other; the one without agrees wherever the codec
        // had no say.
        std::optional<std::string> encoded;
        for (std::size_t i = 0; i < outcomes.size(); ++i) {
            if (!encodes[i]) continue;
            if (!encoded) encoded = outcomes[i];
            INFO("round " << round << ": subject #" << i << " said " << outcomes[i] << ", another " << *encoded);
            CHECK(outcomes[i] == *encoded);
        }
        for (std::size_t i = 0; i < outcomes.size(); ++i) {
            if (encodes[i] || !encoded || *encoded == "serialization") continue;
            INFO("round " << round << ": the store without a codec said " << outcomes[i] << ", the others "
                          << *encoded);
            CHECK(outcomes[i] == *encoded);
        }
        if (encoded && *encoded == "accepted") ++accepted;
    }
    return accepted;
}

} // namespace append_property
