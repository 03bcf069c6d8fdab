#pragma once
/// \file
/// What a command's `handle` works with: `Context<C>`, `StreamResolver` and `StreamWrite<E>`.

#include <eventcore/detail/stream_index.hpp>
#include <eventcore/detail/type_name.hpp>
#include <eventcore/error.hpp>
#include <eventcore/stream_id.hpp>
#include <eventcore/version.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <concepts>
#include <type_traits>
#include <cstddef>
#include <iterator> // std::ranges::input_range, without all of <ranges>
#include <span>
#include <utility>
#include <vector>

namespace eventcore {

/// One event a command decided to write, and the stream it goes to.
template <class E>
struct StreamWrite {
    StreamId stream;
    E event;
};

/// What a `handle` may return when it prefers values to exceptions: nothing, or an error.
using CommandResult = Result<void>;

/// Adds streams to a running command (dynamic discovery). When a round of the command adds a
/// stream it has not read, the executor reads it too, rebuilds the state from every stream, and
/// runs the command again, until a round adds nothing new.
///
/// \code
/// for (const auto& [product, quantity] : state.cart.items)
///     resolver.add_stream(fmt::format("product-{}", product));
/// \endcode
class StreamResolver {
public:
    StreamResolver(std::span<const StreamId> read, std::size_t max_streams)
        : read_(read), read_index_(read), max_streams_(max_streams) {}

    /// Asks for `stream` to be read; nothing happens if it already is.
    /// Throws `Exception` (`too_many_streams`) past the executor's stream limit.
    void add_stream(StreamId stream);

    /// As `add_stream`, validating `text` first (throws `Exception`, kind `validation`, if invalid).
    void add_stream(std::string_view text) { add_stream(StreamId(text)); }

    /// Adds each stream of a range of `StreamId`s (or of strings, validated).
    template <std::ranges::input_range R>
    void add_streams(R&& streams) {
        for (auto&& s : streams) add_stream(std::forward<decltype(s)>(s));
    }

    /// Whether the command has read `stream` in this round.
    [[nodiscard]] auto has_read(const StreamId& stream) const noexcept -> bool { return read_index_.contains(stream); }
    /// Where `stream` is among the streams read in this round (`detail::StreamIndex::npos` if not).
    [[nodiscard]] auto read_position(const StreamId& stream) const noexcept -> std::size_t {
        return read_index_.find(stream);
    }
    /// Whether `stream` was added in this round.
    [[nodiscard]] auto is_added(const StreamId& stream) const noexcept -> bool {
        return std::ranges::find(added_, stream) != added_.end(); // ids compare their hashes first
    }
    /// Streams added in this round and not read yet.
    [[nodiscard]] auto added() const noexcept -> std::span<const StreamId> { return added_; }
    [[nodiscard]] auto take_added() noexcept -> std::vector<StreamId> { return std::exchange(added_, {}); }

private:
    std::span<const StreamId> read_;
    detail::StreamIndex read_index_;
    std::size_t max_streams_;
    std::vector<StreamId> added_;
};

/// The command's window on its execution, passed to `handle`: the streams it read, where it
/// writes its events, `require` for business rules, and stream discovery.
///
/// \code
/// void handle(const State& s, eventcore::Context<TransferMoney>& ctx) const {
///     ctx.require(s.from_balance >= amount, "insufficient funds: {} < {}", s.from_balance, amount);
///     ctx.write<&TransferMoney::from_account>(MoneyWithdrawn{amount});
///     ctx.write<&TransferMoney::to_account>(MoneyDeposited{amount});
/// }
/// \endcode
template <class C>
class Context {
public:
    using Command = C;
    using Event = typename C::Event;

    Context(const C& command, std::span<const StreamId> read, std::span<const StreamVersion> versions,
            StreamResolver& resolver)
        : command_(command), read_(read), versions_(versions), resolver_(resolver) {}

    Context(const Context&) = delete;
    auto operator=(const Context&) -> Context& = delete;

    /// Writes `event` to `stream`, which the command must have read (declared or discovered).
    /// Otherwise throws `Exception` (`undeclared_stream`) and the command writes nothing.
    template <class T>
        requires std::constructible_from<Event, T&&>
    void write(const StreamId& stream, T&& event) {
        if (auto r = try_write(stream, std::forward<T>(event)); !r) throw Exception(std::move(r).error());
    }

    /// Writes `event` to the stream held by the declared field `Member`: checked at compile time.
    template <auto Member, class T>
        requires std::constructible_from<Event, T&&>
    void write(T&& event) {
        if constexpr (!std::is_convertible_v<decltype(Member), const StreamId C::*>) {
            static_assert(std::is_convertible_v<decltype(Member), const StreamId C::*>,
                          "eventcore: ctx.write<&Command::field> takes a StreamId field; write to a stream of a "
                          "list with ctx.write(stream, event)");
        } else {
            static_assert(C::streams.contains(static_cast<const StreamId C::*>(Member)),
                          "eventcore: ctx.write<&Command::field> needs a field declared in the command's streams");
            writes_.push_back({command_.*Member, Event(std::forward<T>(event))});
        }
    }

    /// As `write`, but returns the `undeclared_stream` error instead of throwing it.
    template <class T>
        requires std::constructible_from<Event, T&&>
    [[nodiscard]] auto try_write(const StreamId& stream, T&& event) -> Result<void> {
        // A stream added in this round may be written: the round is run again once it is read.
        if (!resolver_.has_read(stream) && !resolver_.is_added(stream)) {
            return fail(ErrorKind::undeclared_stream,
                        "command {} wrote to stream '{}', which it did not read; declare it in `streams` or add it "
                        "with add_stream first",
                        detail::command_name<C>(), stream);
        }
        if (writes_.empty()) writes_.reserve(read_.size()); // commands mostly write once per stream
        writes_.push_back({stream, Event(std::forward<T>(event))});
        return {};
    }

    /// Stops the command with a `business_rule` error unless `condition` holds. Nothing is written.
    template <class... Args>
    void require(bool condition, fmt::format_string<Args...> message, Args&&... args) const {
        if (!condition)
            throw Exception(
                vfail(ErrorKind::business_rule, fmt::string_view(message), fmt::make_format_args(args...)).value());
    }

    /// Stream discovery: see `StreamResolver`.
    void add_stream(StreamId stream) { resolver_.add_stream(std::move(stream)); }
    void add_stream(std::string_view text) { resolver_.add_stream(text); }
    template <std::ranges::input_range R>
    void add_streams(R&& streams) {
        resolver_.add_streams(std::forward<R>(streams));
    }

    /// The streams read in this round, declared ones first, then discovered ones.
    [[nodiscard]] auto streams() const noexcept -> std::span<const StreamId> { return read_; }
    /// Whether `stream` was read in this round.
    [[nodiscard]] auto has_read(const StreamId& stream) const noexcept -> bool { return resolver_.has_read(stream); }
    /// The version at which `stream` was read (0 if it has no events or was not read).
    [[nodiscard]] auto version(const StreamId& stream) const noexcept -> StreamVersion {
        const auto at = resolver_.read_position(stream);
        return at == detail::StreamIndex::npos ? StreamVersion{} : versions_[at];
    }
    [[nodiscard]] auto command() const noexcept -> const C& { return command_; }

    /// The events written so far, in order.
    [[nodiscard]] auto writes() const noexcept -> std::span<const StreamWrite<Event>> { return writes_; }
    [[nodiscard]] auto take_writes() noexcept -> std::vector<StreamWrite<Event>> { return std::exchange(writes_, {}); }

private:
    const C& command_;
    std::span<const StreamId> read_;
    std::span<const StreamVersion> versions_;
    StreamResolver& resolver_;
    std::vector<StreamWrite<Event>> writes_;
};

} // namespace eventcore
