// The checks of event_store.hpp that are not templates, compiled once.
#include <eventcore/event_store.hpp>

#include <algorithm>

namespace eventcore::detail {

namespace {
auto stream_of(const StreamId& s) noexcept -> const StreamId& { return s; }
auto stream_of(const StreamExpectation& e) noexcept -> const StreamId& { return e.stream; }
} // namespace

template <class T>
BasicStreamIndex<T>::BasicStreamIndex(std::span<const T> streams) : streams_(streams) {
    if (streams.size() <= scan_limit) return;
    // Hashes and positions in one sorted array: one allocation, and a lookup compares
    // integers until it meets the right hash.
    by_hash_.reserve(streams.size());
    for (std::size_t i = 0; i < streams.size(); ++i) by_hash_.push_back({stream_of(streams[i]).hash(), i});
    std::ranges::sort(by_hash_);
}

template <class T>
auto BasicStreamIndex<T>::find(std::string_view stream) const noexcept -> std::size_t {
    return streams_.size() <= scan_limit ? scan(stream) : find(stream, StreamId::hash_of(stream));
}

template <class T>
auto BasicStreamIndex<T>::scan(std::string_view stream) const noexcept -> std::size_t {
    for (std::size_t i = 0; i < streams_.size(); ++i) {
        if (stream_of(streams_[i]) == stream) return i;
    }
    return npos;
}

template <class T>
auto BasicStreamIndex<T>::find(std::string_view stream, std::size_t h) const noexcept -> std::size_t {
    if (streams_.size() <= scan_limit) {
        for (std::size_t i = 0; i < streams_.size(); ++i) {
            const StreamId& candidate = stream_of(streams_[i]);
            if (candidate.hash() == h && candidate == stream) return i;
        }
        return npos;
    }
    // Entries of one hash are sorted by position: the first that matches is the first occurrence.
    for (auto it = std::ranges::lower_bound(by_hash_, Entry{h, 0}); it != by_hash_.end() && it->hash == h; ++it) {
        if (stream_of(streams_[it->position]) == stream) return it->position;
    }
    return npos;
}

template class BasicStreamIndex<StreamId>;
template class BasicStreamIndex<StreamExpectation>;

auto validate_checkpoint_name(std::string_view name) -> Result<void> {
    if (name.empty() || name.size() > 255)
        return fail(ErrorKind::validation, "checkpoint names are 1 to 255 bytes long, got {}", name.size());
    for (std::size_t i = 0; i < name.size();) {
        const auto c = decode_utf8(name, i);
        if (!c.valid || is_control(c.code_point))
            return fail(ErrorKind::validation, "invalid checkpoint name {}: {}", quote_for_message(name),
                        c.valid ? "it contains a control character" : "it is not valid UTF-8");
        i += c.length;
    }
    return {};
}

auto checkpoint_moved(std::string_view name, GlobalPosition from) -> Error {
    return Error(ErrorKind::projection,
                 fmt::format("checkpoint {} is no longer at position {}: another runner moved it (this runner's "
                             "projection lock was lost), so it was not moved from there",
                             quote_for_message(name), from))
        .with_code("EVENTCORE_CHECKPOINT_MOVED");
}

auto text_problem(std::string_view text, bool controls) -> std::optional<std::string> {
    for (std::size_t i = 0; i < text.size();) {
        const auto c = decode_utf8(text, i);
        if (!c.valid) return fmt::format("is not valid UTF-8 (at byte {} of {})", i, text.size());
        if (c.code_point == 0) return fmt::format("holds a NUL character (at byte {})", i);
        if (controls && is_control(c.code_point))
            return fmt::format("holds a control character (at byte {})", i);
        i += c.length;
    }
    return std::nullopt;
}

auto validate_custom_metadata(const std::vector<std::pair<std::string, std::string>>& custom,
                                                   std::string_view where) -> Result<void> {
    for (std::size_t i = 0; i < custom.size(); ++i) {
        if (auto why = text_problem(custom[i].first))
            return fail(ErrorKind::validation, "{}: the key of custom metadata pair #{} ({}) {}", where, i,
                        quote_for_message(custom[i].first), *why);
        if (auto why = text_problem(custom[i].second))
            return fail(ErrorKind::validation, "{}: the value of custom metadata pair #{} (key {}) {}", where, i,
                        quote_for_message(custom[i].first), *why);
    }
    return {};
}

auto valid_text_head(std::string_view text) noexcept -> std::string_view {
    for (std::size_t i = 0; i < text.size();) {
        const auto c = decode_utf8(text, i);
        if (!c.valid || c.code_point == 0) return text.substr(0, i);
        i += c.length;
    }
    return text;
}

auto validate_event_type(std::size_t index, const StreamId& stream, std::string_view type)
    -> Result<void> {
    if (type.empty())
        return fail(ErrorKind::validation, "commit event #{} (stream '{}'): its event type name is empty", index,
                    stream);
    if (auto why = text_problem(type, true))
        return fail(ErrorKind::validation, "commit event #{} (stream '{}'): its event type name {} {}", index, stream,
                    quote_for_message(type), *why);
    return {};
}

auto validate_event(std::size_t index, const StreamId& stream, const EventMetadata& metadata)
    -> Result<void> {
    const auto where = [&] { return fmt::format("commit event #{} (stream '{}')", index, stream); };
    if (auto why = text_problem(metadata.command))
        return fail(ErrorKind::validation, "{}: its command name {} {}", where(), quote_for_message(metadata.command),
                    *why);
    if (!metadata.custom.empty()) {
        if (auto valid = validate_custom_metadata(metadata.custom, where()); !valid) return valid;
    }
    return {};
}

auto projection_running(std::string_view name, std::chrono::milliseconds waited) -> Error {
    return Error(ErrorKind::timeout,
                 fmt::format("projection '{}' is already running (waited {} ms)", name, waited.count()));
}

auto unencodable_event(const StreamId& stream, const Error& why) -> Error {
    return Error(ErrorKind::serialization,
                 fmt::format("an event for stream '{}' could not be encoded: {}", stream, why.message()))
        .at(stream);
}

auto invalid_stored_stream(const Error& why) -> Error {
    return Error(ErrorKind::storage, fmt::format("the store holds an invalid stream id: {}", why.message()));
}

auto undecodable_event(const StreamId& stream, StreamVersion version, const Error& why) -> Error {
    return Error(ErrorKind::deserialization, fmt::format("stream '{}' version {}: {}", stream, version, why.message()))
        .at(stream, version);
}

auto validate_request(std::span<const StreamExpectation> ex, std::size_t events,
                      FunctionRef<EventHead(std::size_t)> event) -> Result<std::vector<std::size_t>> {
    const BasicStreamIndex<StreamExpectation> index{ex};
    for (std::size_t i = 0; i < ex.size(); ++i) {
        if (ex[i].stream.empty()) return fail(ErrorKind::validation, "commit expectation #{} has an empty stream id", i);
        if (index.find(ex[i].stream) != i)
            return fail(ErrorKind::validation, "commit lists stream '{}' twice in its expectations", ex[i].stream);
    }
    std::vector<std::size_t> owner(events);
    for (std::size_t e = 0; e < events; ++e) {
        const EventHead head = event(e);
        const auto& stream = head.stream;
        // Events of one stream usually come together: try the previous event's stream first.
        std::size_t i = e > 0 && ex[owner[e - 1]].stream == stream ? owner[e - 1] : index.find(stream);
        if (i == BasicStreamIndex<StreamExpectation>::npos) {
            if (stream.empty()) return fail(ErrorKind::validation, "commit event #{} has an empty stream id", e);
            return fail(ErrorKind::validation,
                        "commit writes to stream '{}' without an expectation for it (use ExpectedVersion::any() "
                        "to write without a check)",
                        stream);
        }
        owner[e] = i;
        if (auto valid = validate_event(e, stream, head.metadata); !valid) return fail(std::move(valid).error());
    }
    return owner;
}

} // namespace eventcore::detail
