#pragma once
// Where a stream sits in a list of streams: a command's streams are looked up once per write,
// per expectation and per added stream, and comparing ids pairwise costs a command of n streams
// n * n string comparisons (ids of one command often share a long prefix, so each compares many
// bytes). Short lists are scanned; longer ones get a hash index.

#include <eventcore/stream_id.hpp>

#include <algorithm>
#include <compare>
#include <cstddef>
#include <functional>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace eventcore::detail {

/// Over `StreamId`s, or over records with a `stream` member (`StreamExpectation`).
template <class T>
class BasicStreamIndex {
public:
    /// Up to this many streams a scan beats building and probing a hash table.
    static constexpr std::size_t scan_limit = 8;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    BasicStreamIndex() = default;
    /// Indexes `streams`, which must outlive the index and not change while it is used.
    explicit BasicStreamIndex(std::span<const T> streams) : streams_(streams) {
        if (streams.size() <= scan_limit) return;
        // Hashes and positions in one sorted array: one allocation, and a lookup compares
        // integers until it meets the right hash.
        by_hash_.reserve(streams.size());
        for (std::size_t i = 0; i < streams.size(); ++i) by_hash_.push_back({stream_of(streams[i]).hash(), i});
        std::ranges::sort(by_hash_);
    }

    /// The position of the first occurrence of `stream`, or `npos`. A `StreamId` brings its
    /// hash along; text is hashed here.
    [[nodiscard]] auto find(const StreamId& stream) const noexcept -> std::size_t {
        return find(stream.view(), stream.hash());
    }
    [[nodiscard]] auto find(std::string_view stream) const noexcept -> std::size_t {
        return streams_.size() <= scan_limit ? scan(stream) : find(stream, StreamId::hash_of(stream));
    }
    [[nodiscard]] auto contains(const StreamId& stream) const noexcept -> bool { return find(stream) != npos; }
    [[nodiscard]] auto contains(std::string_view stream) const noexcept -> bool { return find(stream) != npos; }

private:
    static auto stream_of(const T& t) noexcept -> const StreamId& {
        if constexpr (std::is_same_v<T, StreamId>) {
            return t;
        } else {
            return t.stream;
        }
    }

    auto scan(std::string_view stream) const noexcept -> std::size_t {
        for (std::size_t i = 0; i < streams_.size(); ++i) {
            if (stream_of(streams_[i]) == stream) return i;
        }
        return npos;
    }

    auto find(std::string_view stream, std::size_t h) const noexcept -> std::size_t {
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

    struct Entry {
        std::size_t hash;
        std::size_t position;
        friend auto operator<=>(const Entry&, const Entry&) = default;
    };
    std::span<const T> streams_;
    std::vector<Entry> by_hash_;
};

using StreamIndex = BasicStreamIndex<StreamId>;

} // namespace eventcore::detail
