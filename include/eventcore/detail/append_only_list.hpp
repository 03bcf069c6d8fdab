#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

namespace eventcore::detail {

/// An append-only sequence whose elements never move, stored in chunks of doubling size.
///
/// One writer appends under an external lock; readers that learned the size under that same
/// lock may then walk the first `size` elements without it, while the writer keeps appending:
/// a walk touches only elements, and links between chunks, written before that size was
/// published. That is what lets the in-memory store fold events without copying them or
/// holding its lock.
template <class T>
    requires std::is_trivially_copyable_v<T>
class AppendOnlyList {
    struct Chunk {
        explicit Chunk(std::size_t n) : capacity(n), items(std::make_unique<T[]>(n)) {}
        std::size_t capacity;
        std::unique_ptr<T[]> items;
        Chunk* next = nullptr;
    };

public:
    static constexpr std::size_t first_chunk = 4;

    /// Walks elements `[from, to)`; see the class comment for when that is safe without a lock.
    class Cursor {
    public:
        Cursor() = default;
        [[nodiscard]] auto done() const noexcept -> bool { return remaining_ == 0; }
        [[nodiscard]] auto peek() const noexcept -> const T& { return chunk_->items[index_]; }
        void advance() noexcept {
            // Never follow `next` past the last element to walk: the writer may be setting it.
            if (--remaining_ != 0 && ++index_ == chunk_->capacity) {
                chunk_ = chunk_->next;
                index_ = 0;
            }
        }

    private:
        friend class AppendOnlyList;
        Cursor(const Chunk* chunk, std::size_t index, std::size_t remaining)
            : chunk_(chunk), index_(index), remaining_(remaining) {}
        const Chunk* chunk_ = nullptr;
        std::size_t index_ = 0;
        std::size_t remaining_ = 0;
    };

    AppendOnlyList() = default;
    AppendOnlyList(const AppendOnlyList&) = delete;
    auto operator=(const AppendOnlyList&) -> AppendOnlyList& = delete;
    AppendOnlyList(AppendOnlyList&& other) noexcept
        : head_(std::exchange(other.head_, nullptr)), tail_(std::exchange(other.tail_, nullptr)),
          size_(std::exchange(other.size_, 0)), tail_used_(std::exchange(other.tail_used_, 0)) {}
    auto operator=(AppendOnlyList&&) -> AppendOnlyList& = delete;
    ~AppendOnlyList() {
        while (head_ != nullptr) delete std::exchange(head_, head_->next);
    }

    [[nodiscard]] auto size() const noexcept -> std::size_t { return size_; }
    [[nodiscard]] auto empty() const noexcept -> bool { return size_ == 0; }

    void push_back(T value) {
        if (tail_ == nullptr) {
            head_ = tail_ = new Chunk(first_chunk);
        } else if (tail_used_ == tail_->capacity) {
            // A chunk emptied by `pop_back` may still be linked after the tail: reuse it.
            if (tail_->next == nullptr) tail_->next = new Chunk(tail_->capacity * 2);
            tail_ = tail_->next;
            tail_used_ = 0;
        }
        tail_->items[tail_used_++] = value;
        ++size_;
    }

    /// Takes back the last element (to undo a commit that failed part-way). Chunks stay allocated.
    void pop_back() noexcept {
        --size_;
        if (tail_used_ > 1 || tail_ == head_) {
            --tail_used_;
            return;
        }
        // The tail chunk is now empty: step back to the previous, full one.
        const Chunk* emptied = tail_;
        Chunk* previous = head_;
        while (previous->next != emptied) previous = previous->next;
        tail_ = previous;
        tail_used_ = previous->capacity;
    }

    /// A cursor over elements `[from, to)`, with `to <= size()` as published to the reader.
    [[nodiscard]] auto cursor(std::size_t from, std::size_t to) const noexcept -> Cursor {
        if (from >= to) return {};
        const Chunk* chunk = head_;
        std::size_t index = from;
        while (index >= chunk->capacity) {
            index -= chunk->capacity;
            chunk = chunk->next;
        }
        return Cursor(chunk, index, to - from);
    }

private:
    Chunk* head_ = nullptr;
    Chunk* tail_ = nullptr;
    std::size_t size_ = 0;
    std::size_t tail_used_ = 0;
};

} // namespace eventcore::detail
