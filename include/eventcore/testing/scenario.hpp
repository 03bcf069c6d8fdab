#pragma once
/// \file
/// Given/when/then scenarios for commands: given events on streams, when a command runs, then
/// exactly these events were written, or it failed with this kind of error.

#include <eventcore/codec.hpp>
#include <eventcore/executor.hpp>
#include <eventcore/in_memory_event_store.hpp>
#include <eventcore/json_codec.hpp>
#include <eventcore/stream_ops.hpp>
#include <eventcore/testing/describe.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace eventcore::testing {

/// An event on a stream: what a scenario starts from, and what it expects to be written.
template <class E>
struct StreamEvent {
    StreamId stream;
    E event;
};

/// How a scenario's check ended: passed or not, and, when not, a message that shows what was
/// expected and what happened. Test frameworks check `passed()` and print `message`.
///
/// \code
/// const auto outcome = scenario.when(command).then({{alice, MoneyWithdrawn{30}}});
/// INFO(outcome.message);   // Catch2; or EXPECT_TRUE(outcome.passed()) << outcome.message
/// CHECK(outcome.passed());
/// \endcode
struct ScenarioOutcome {
    bool ok = true;
    std::string message;

    [[nodiscard]] auto passed() const noexcept -> bool { return ok; }
    explicit operator bool() const noexcept { return ok; }
};

namespace detail {
template <class E>
void list_events(std::string& out, const std::vector<StreamEvent<E>>& events) {
    if (events.empty()) out += "  (none)\n";
    for (std::size_t i = 0; i < events.size(); ++i) {
        out += fmt::format("  #{} {}: ", i, events[i].stream);
        describe_to(out, events[i].event);
        out += '\n';
    }
}
} // namespace detail

namespace detail {
template <class T>
concept JsonRegistered = requires { eventcore_json_registered(static_cast<T*>(nullptr)); };

/// Whether `E` (or an alternative of it) is registered with `EVENTCORE_EVENT`: then its events are
/// meant for the JSON codec, and a scenario sends them through it by default.
template <class E>
inline constexpr bool json_registered = JsonRegistered<E>;
template <class... Ts>
inline constexpr bool json_registered<std::variant<Ts...>> = (JsonRegistered<Ts> || ...);

/// An event through a codec and back, as a durable store would keep it.
template <class E>
using CodecRoundTrip = std::function<Result<E>(const E&)>;

template <class E, class C>
auto round_trip_with(C codec) -> CodecRoundTrip<E> {
    return [codec = std::move(codec)](const E& event) -> Result<E> {
        auto encoded = codec.encode(event);
        if (!encoded) return fail(std::move(encoded).error());
        return codec.decode(encoded->type, encoded->payload);
    };
}

/// Why `event` would not come back from a durable store as it went in, if it would not.
template <class E>
auto codec_problem(const CodecRoundTrip<E>& round_trip, const StreamEvent<E>& event, std::string_view which)
    -> std::optional<std::string> {
    auto back = round_trip(event.event);
    std::string out;
    if (!back) {
        out = fmt::format("{} on stream '{}' cannot go through the store's codec: {}\n  the event: ", which,
                          event.stream, back.error());
        describe_to(out, event.event);
        return out;
    }
    if constexpr (std::equality_comparable<E>) {
        if (!(*back == event.event)) {
            out = fmt::format("{} on stream '{}' reads back different through the store's codec:\n  written:   ",
                              which, event.stream);
            describe_to(out, event.event);
            out += "\n  read back: ";
            describe_to(out, *back);
            return out;
        }
    }
    return std::nullopt;
}
} // namespace detail

/// What happened when a scenario's command ran: its result and the events it wrote. Check it
/// with `then` or `then_fails`, or look at it directly.
template <class E>
class ScenarioRun {
public:
    ScenarioRun(std::unique_ptr<InMemoryEventStore<E>> store, Result<ExecutionResult> result,
                std::vector<StreamEvent<E>> written, std::string command,
                std::optional<std::string> codec_problem = std::nullopt)
        : store_(std::move(store)), result_(std::move(result)), written_(std::move(written)),
          command_(std::move(command)), codec_problem_(std::move(codec_problem)) {}

    /// Why an event of the scenario (given or written) would not survive the store's codec, if
    /// one would not; `then` and `then_fails` fail with it.
    [[nodiscard]] auto codec_problem() const noexcept -> const std::optional<std::string>& { return codec_problem_; }

    /// The executor's result.
    [[nodiscard]] auto result() const noexcept -> const Result<ExecutionResult>& { return result_; }
    /// The events the command wrote, in commit order.
    [[nodiscard]] auto written() const noexcept -> const std::vector<StreamEvent<E>>& { return written_; }
    /// The store, holding the given events and what the command wrote.
    [[nodiscard]] auto store() const noexcept -> InMemoryEventStore<E>& { return *store_; }

    /// Passes if the command committed and wrote exactly `expected`: the same streams and
    /// events (compared with `==`), in the same order.
    ///
    /// \code
    /// CHECK(run.then({{alice, MoneyWithdrawn{30}}, {bob, MoneyDeposited{30}}}));
    /// \endcode
    [[nodiscard]] auto then(const std::vector<StreamEvent<E>>& expected) const -> ScenarioOutcome {
        static_assert(std::equality_comparable<E>,
                      "eventcore: then(...) compares events with ==; give each event type "
                      "`friend bool operator==(const T&, const T&) = default;`");
        if (codec_problem_) return {false, fmt::format("{}: {}\n", command_, *codec_problem_)};
        std::string out;
        if (!result_) {
            out = fmt::format("{}: expected it to write these events:\n", command_);
            detail::list_events(out, expected);
            out += fmt::format("but it failed with {}\n", result_.error());
            return {false, std::move(out)};
        }
        const auto mismatch = std::ranges::mismatch(expected, written_, [](const auto& a, const auto& b) {
            return a.stream == b.stream && a.event == b.event;
        });
        if (mismatch.in1 == expected.end() && mismatch.in2 == written_.end()) return {};
        const auto at = static_cast<std::size_t>(mismatch.in1 - expected.begin());
        out = fmt::format("{}: expected it to write these events:\n", command_);
        detail::list_events(out, expected);
        out += "but it wrote:\n";
        detail::list_events(out, written_);
        out += fmt::format("first difference at #{}\n", at);
        return {false, std::move(out)};
    }

    /// Passes if the command committed without writing anything.
    [[nodiscard]] auto then_nothing() const -> ScenarioOutcome { return then({}); }

    /// Passes if the command failed with an error of `kind` whose message contains
    /// `message_part` (any message if empty), and wrote nothing.
    ///
    /// \code
    /// CHECK(run.then_fails(eventcore::ErrorKind::business_rule, "insufficient funds"));
    /// \endcode
    [[nodiscard]] auto then_fails(ErrorKind kind, std::string_view message_part = {}) const -> ScenarioOutcome {
        const auto expected = message_part.empty()
                                  ? fmt::format("a {} error", to_string(kind))
                                  : fmt::format("a {} error containing \"{}\"", to_string(kind), message_part);
        if (codec_problem_) return {false, fmt::format("{}: {}\n", command_, *codec_problem_)};
        std::string out;
        if (result_) {
            out = fmt::format("{}: expected {}, but it committed, writing:\n", command_, expected);
            detail::list_events(out, written_);
            return {false, std::move(out)};
        }
        const Error& e = result_.error();
        if (!e.is(kind) || e.message().find(message_part) == std::string::npos)
            return {false, fmt::format("{}: expected {}, but it failed with {}\n", command_, expected, e)};
        if (!written_.empty()) {
            out = fmt::format("{}: failed as expected ({}), but these events were written:\n", command_, e);
            detail::list_events(out, written_);
            return {false, std::move(out)};
        }
        return {};
    }

private:
    std::unique_ptr<InMemoryEventStore<E>> store_;
    Result<ExecutionResult> result_;
    std::vector<StreamEvent<E>> written_;
    std::string command_;
    std::optional<std::string> codec_problem_;
};

/// A given/when/then scenario on a fresh `InMemoryEventStore<E>`: the given events are appended
/// in order (each one a commit of its own), then the command runs through a `CommandExecutor`.
///
/// The in-memory store keeps events as they are, so a scenario also sends every given and
/// written event through the codec a durable store would use, and fails if one cannot be encoded
/// or reads back different: by default `JsonCodec<E>` when `E` (or an alternative of it) is
/// registered with `EVENTCORE_EVENT`; `with_codec` names another, `without_codec` turns it off.
/// Given events are used as they read back.
///
/// \code
/// using eventcore::testing::Scenario;
/// CHECK(Scenario<BankEvent>{}
///           .given(alice, {AccountOpened{100}})
///           .given(bob, {AccountOpened{0}})
///           .when(TransferMoney{alice, bob, 30})
///           .then({{alice, MoneyWithdrawn{30}}, {bob, MoneyDeposited{30}}}));
/// CHECK(Scenario<BankEvent>{}
///           .given(alice, {AccountOpened{10}})
///           .when(TransferMoney{alice, bob, 30})
///           .then_fails(eventcore::ErrorKind::business_rule, "insufficient funds"));
/// \endcode
template <class E>
class Scenario {
public:
    /// Adds events to `stream`, after those given before.
    auto given(const StreamId& stream, std::vector<E> events) -> Scenario& {
        for (auto& e : events) given_.push_back({stream, std::move(e)});
        return *this;
    }
    /// Adds events, each on its stream, in this order.
    auto given(std::vector<StreamEvent<E>> events) -> Scenario& {
        for (auto& e : events) given_.push_back(std::move(e));
        return *this;
    }
    /// The executor's settings (default: `ExecutorConfig{}`).
    auto with_config(ExecutorConfig config) -> Scenario& {
        config_ = std::move(config);
        return *this;
    }
    /// Sends given and written events through `codec` and back (see the class comment).
    template <Codec<E> C>
    auto with_codec(C codec) -> Scenario& {
        round_trip_ = detail::round_trip_with<E>(std::move(codec));
        return *this;
    }
    /// Keeps events as they are, with no codec round trip.
    auto without_codec() -> Scenario& {
        round_trip_ = nullptr;
        return *this;
    }

    /// Runs `command` on a fresh store holding the given events. A given event that cannot be
    /// appended (an invalid stream id) is reported by `then`/`then_fails` as a failure.
    template <Command C>
        requires std::same_as<typename C::Event, E>
    [[nodiscard]] auto when(const C& command, const ExecuteOptions& options = {}) const -> ScenarioRun<E> {
        auto store = std::make_unique<InMemoryEventStore<E>>();
        const std::string name(eventcore::detail::command_name<C>());
        for (std::size_t i = 0; i < given_.size(); ++i) {
            const auto& g = given_[i];
            std::optional<E> stored;
            if (round_trip_) {
                if (auto problem = detail::codec_problem(round_trip_, g, fmt::format("given event #{}", i)))
                    return ScenarioRun<E>(std::move(store), fail(ErrorKind::serialization, "{}", *problem), {}, name,
                                          std::move(problem));
                stored = round_trip_(g.event).value();
            }
            auto appended = append_to_stream(*store, g.stream, ExpectedVersion::any(), {stored ? *stored : g.event});
            if (!appended) {
                return ScenarioRun<E>(std::move(store),
                                      fail(Error(appended.error().kind(),
                                                 fmt::format("the given events could not be appended: {}",
                                                             appended.error().message()))),
                                      {}, "given");
            }
        }
        const auto before = store->head().value_or(GlobalPosition{});
        CommandExecutor executor{*store, config_};
        auto result = executor.execute(command, options);
        std::vector<StreamEvent<E>> written;
        (void)visit_log(*store, {.after = before},
                        [&](const RecordedEvent<E>& e) { written.push_back({e.stream, e.payload}); });
        std::optional<std::string> problem;
        for (std::size_t i = 0; round_trip_ && !problem && i < written.size(); ++i)
            problem = detail::codec_problem(round_trip_, written[i], fmt::format("written event #{}", i));
        return ScenarioRun<E>(std::move(store), std::move(result), std::move(written), name, std::move(problem));
    }

private:
    static auto default_round_trip() -> detail::CodecRoundTrip<E> {
        if constexpr (detail::json_registered<E>) {
            return detail::round_trip_with<E>(JsonCodec<E>{});
        } else {
            return nullptr;
        }
    }

    std::vector<StreamEvent<E>> given_;
    ExecutorConfig config_{};
    detail::CodecRoundTrip<E> round_trip_ = default_round_trip();
};

} // namespace eventcore::testing
