#pragma once
// Where a stream sits in a list of streams: a command's streams are looked up once per write,
// per expectation and per added stream, and comparing ids pairwise costs a command of n streams
// n * n string comparisons (ids of one command often share a long prefix, so each compares many
// bytes). Short lists are scanned; longer ones get a hash index.

#include <eventcore/stream_id.hpp>

#include <compare>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

namespace eventcore::detail {

/// Over `StreamId`s, or over records with a `stream` member (`StreamExpectation`). Its members
/// are compiled in the library, for those two.
template <class T>
class BasicStreamIndex {
public:
    /// Up to this many streams a scan beats building and probing a hash table.
    static constexpr std::size_t scan_limit = 8;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    BasicStreamIndex() = default;
    /// Indexes `streams`, which must outlive the index and not change while it is used.
    explicit BasicStreamIndex(std::span<const T> streams);

    /// The position of the first occurrence of `stream`, or `npos`. A `StreamId` brings its
    /// hash along; text is hashed here.
    [[nodiscard]] auto find(const StreamId& stream) const noexcept -> std::size_t {
        return find(stream.view(), stream.hash());
    }
    [[nodiscard]] auto find(std::string_view stream) const noexcept -> std::size_t;
    [[nodiscard]] auto contains(const StreamId& stream) const noexcept -> bool { return find(stream) != npos; }
    [[nodiscard]] auto contains(std::string_view stream) const noexcept -> bool { return find(stream) != npos; }

private:
    auto scan(std::string_view stream) const noexcept -> std::size_t;
    auto find(std::string_view stream, std::size_t h) const noexcept -> std::size_t;

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
