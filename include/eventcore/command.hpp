#pragma once
/// \file
/// The `Command` concept: what a type needs to be executed.

#include <eventcore/context.hpp>
#include <eventcore/detail/type_name.hpp>
#include <eventcore/recorded_event.hpp>
#include <eventcore/stream_set.hpp>

#include <boost/pfr/core.hpp>

#include <concepts>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace eventcore {

namespace detail {

template <class S, class C>
inline constexpr bool is_stream_set_of = false;
template <class C, std::size_t N>
inline constexpr bool is_stream_set_of<StreamSet<C, N>, C> = true;

template <class C>
concept HasEventType = requires { typename C::Event; } && std::move_constructible<typename C::Event>;

template <class C>
concept HasStateType = requires { typename C::State; } && std::default_initializable<typename C::State>;

template <class C>
concept DeclaresStreams = requires { C::streams; };

template <class C>
concept DeclaresOwnStreams = is_stream_set_of<std::remove_cvref_t<decltype(C::streams)>, C>;

template <class C>
concept HasApply = requires(const C& c, typename C::State& s, const RecordedEvent<typename C::Event>& e) {
    c.apply(s, e);
};

template <class C>
concept HasHandle = requires(const C& c, const typename C::State& s, Context<C>& ctx) {
    { c.handle(s, ctx) };
};

template <class C>
concept HandleReturnsResult = requires(const C& c, const typename C::State& s, Context<C>& ctx) {
    requires std::same_as<decltype(c.handle(s, ctx)), void> ||
                 std::convertible_to<decltype(c.handle(s, ctx)), CommandResult>;
};

/// Commands may name fields that hold stream ids without being streams the command reads
/// (for instance a stream to mention in an event): `ignored_stream_fields` lists them.
template <class C>
consteval auto ignored_stream_fields() {
    if constexpr (requires { C::ignored_stream_fields; }) {
        static_assert(is_stream_set_of<std::remove_cvref_t<decltype(C::ignored_stream_fields)>, C>,
                      "eventcore: declare ignored_stream_fields with eventcore::streams(&Command::field, ...)");
        return C::ignored_stream_fields.fields;
    } else {
        return std::array<StreamField<C>, 0>{};
    }
}

template <class C>
consteval auto ignored_fields_are_not_declared() -> bool {
    for (auto m : ignored_stream_fields<C>()) {
        if (C::streams.contains(m)) return false;
    }
    return true;
}

template <class T>
inline constexpr bool is_stream_field = std::is_same_v<std::remove_cv_t<T>, StreamId> ||
                                        std::is_same_v<std::remove_cv_t<T>, std::vector<StreamId>>;

template <class C>
consteval auto count_stream_id_fields() -> std::size_t {
    return []<std::size_t... I>(std::index_sequence<I...>) {
        return (std::size_t{0} + ... + (is_stream_field<boost::pfr::tuple_element_t<I, C>> ? 1 : 0));
    }(std::make_index_sequence<boost::pfr::tuple_size_v<C>>{});
}

/// Whether the command opted out of the field check, for types Boost.PFR cannot inspect
/// (base classes with data, C arrays, bit-fields): `static constexpr bool check_stream_fields = false;`
template <class C>
consteval auto checks_stream_fields() -> bool {
    if constexpr (requires { bool{C::check_stream_fields}; }) {
        return C::check_stream_fields;
    } else {
        return std::is_aggregate_v<C>;
    }
}

/// Every `StreamId` field is declared or ignored. Fields of aggregates are found with Boost.PFR;
/// a command that is not an aggregate cannot be inspected, so it is not checked.
template <class C>
consteval auto stream_fields_accounted_for() -> bool {
    if constexpr (!checks_stream_fields<C>()) {
        return true;
    } else {
        return count_stream_id_fields<C>() == C::streams.size() + ignored_stream_fields<C>().size();
    }
}

/// A member called `resolve` must be the hook, or it would be silently ignored.
template <class C>
concept ResolveIsTheHook =
    !requires { &C::resolve; } ||
    requires(const C& c, const typename C::State& s, StreamResolver& r) { c.resolve(s, r); };

template <class C>
concept CommandShape = HasEventType<C> && HasStateType<C> && DeclaresStreams<C> && DeclaresOwnStreams<C> &&
                       HasApply<C> && HasHandle<C> && HandleReturnsResult<C> && ResolveIsTheHook<C>;

/// Shapes of `apply` and `handle` that are close to right, to say which part is wrong.
template <class C>
concept HasApplyMember = requires { &C::apply; } || requires(C& c) { c.apply; };
template <class C>
concept ApplyNotConst = requires(C& c, typename C::State& s, const RecordedEvent<typename C::Event>& e) {
    c.apply(s, e);
};
template <class C>
concept ApplyTakesPayload = requires(const C& c, typename C::State& s, const typename C::Event& e) { c.apply(s, e); };
template <class C>
concept HasHandleMember = requires { &C::handle; } || requires(C& c) { c.handle; };
template <class C>
concept HandleNotConst = requires(C& c, const typename C::State& s, Context<C>& ctx) { c.handle(s, ctx); };
template <class C>
concept HandleTakesMutableState = requires(const C& c, typename C::State& s, Context<C>& ctx) { c.handle(s, ctx); };

/// In a failed check of the `StreamId` fields, the note that names this type gives the counts:
/// `Declared` fields are in `streams` or `ignored_stream_fields`, of `Fields` `StreamId` (or
/// `std::vector<StreamId>`) fields that the command has.
template <class Command, std::size_t Declared, std::size_t Fields>
struct declares_of_stream_id_fields {
    static constexpr bool value = Declared == Fields;
};

/// Each requirement of `Command`, with a message naming what to fix and, where it can, which
/// part of what was written is wrong. The first one that fails stops the checks and is the only
/// error: whatever uses the command only asks whether it passed (see `check_command`).
template <class C>
consteval auto diagnose_command() -> bool {
    if constexpr (!HasEventType<C>) {
        static_assert(HasEventType<C>, "eventcore: a command needs `using Event = ...;`, its (movable) event type, "
                                       "usually a std::variant of event structs");
    } else if constexpr (!HasStateType<C>) {
        static_assert(HasStateType<C>,
                      "eventcore: a command needs `using State = ...;`, a default-constructible type its events fold into");
    } else if constexpr (!DeclaresStreams<C>) {
        static_assert(DeclaresStreams<C>, "eventcore: a command must declare its streams: "
                                          "static constexpr auto streams = eventcore::streams(&Command::account, ...);");
    } else if constexpr (std::is_same_v<std::remove_cvref_t<decltype(C::streams)>, InvalidStreams>) {
        // `streams(...)` refused the declaration and said why.
    } else if constexpr (!DeclaresOwnStreams<C>) {
        static_assert(DeclaresOwnStreams<C>, "eventcore: a command's `streams` must come from "
                                             "eventcore::streams(...) and point to members of the command itself");
    } else if constexpr (!HasApply<C>) {
        if constexpr (!HasApplyMember<C>) {
            static_assert(HasApply<C>, "eventcore: a command needs "
                                       "`void apply(State&, const eventcore::RecordedEvent<Event>&) const`");
        } else if constexpr (ApplyNotConst<C>) {
            static_assert(HasApply<C>, "eventcore: the command's apply must be a const member function: "
                                       "`void apply(State&, const eventcore::RecordedEvent<Event>&) const`");
        } else if constexpr (ApplyTakesPayload<C>) {
            static_assert(HasApply<C>, "eventcore: the command's apply takes the recorded event, not its payload: "
                                       "`void apply(State&, const eventcore::RecordedEvent<Event>&) const` "
                                       "(the payload is `e.payload`)");
        } else {
            static_assert(HasApply<C>, "eventcore: the command's apply does not take (State&, const "
                                       "eventcore::RecordedEvent<Event>&): check that its first parameter is the "
                                       "command's State and its second a RecordedEvent of the command's Event");
        }
    } else if constexpr (!HasHandle<C>) {
        if constexpr (!HasHandleMember<C>) {
            static_assert(HasHandle<C>, "eventcore: a command needs "
                                        "`void handle(const State&, eventcore::Context<Command>&) const`");
        } else if constexpr (HandleNotConst<C>) {
            static_assert(HasHandle<C>, "eventcore: the command's handle must be a const member function: "
                                        "`void handle(const State&, eventcore::Context<Command>&) const`");
        } else if constexpr (HandleTakesMutableState<C>) {
            static_assert(HasHandle<C>, "eventcore: the command's handle must take the state as `const State&`: "
                                        "it decides on the state, it does not change it");
        } else {
            static_assert(HasHandle<C>, "eventcore: the command's handle does not take (const State&, "
                                        "eventcore::Context<Command>&): check that its first parameter is the "
                                        "command's State and its second a Context of this very command");
        }
    } else if constexpr (!HandleReturnsResult<C>) {
        static_assert(HandleReturnsResult<C>, "eventcore: the command's handle returns something other than void or "
                                              "eventcore::CommandResult (a Result<void>): return one of those");
    } else if constexpr (!ResolveIsTheHook<C>) {
        static_assert(ResolveIsTheHook<C>, "eventcore: a command's resolve must be "
                                           "`void resolve(const State&, eventcore::StreamResolver&) const`");
    } else if constexpr (!ignored_fields_are_not_declared<C>()) {
        static_assert(ignored_fields_are_not_declared<C>(),
                      "eventcore: a field cannot be both in `streams` and in `ignored_stream_fields`");
    } else if constexpr (!stream_fields_accounted_for<C>()) {
        static_assert(declares_of_stream_id_fields<C, C::streams.size() + ignored_stream_fields<C>().size(),
                                                   count_stream_id_fields<C>()>::value,
                      "eventcore: every StreamId field of a command must be declared in `streams` (std::vector<StreamId> "
                      "fields too), or listed in `ignored_stream_fields` if the command does not read it (the note "
                      "`declares_of_stream_id_fields<Command, declared, fields>` gives the counts; types Boost.PFR "
                      "cannot inspect opt out with `static constexpr bool check_stream_fields = false;`)");
    } else {
        return CommandShape<C>; // every requirement holds
    }
    return true; // the one error is the static_assert above
}

} // namespace detail

/// A type the executor can run. A command is a plain struct that:
///
/// 1. names its event type, `using Event = ...;` (movable; usually a `std::variant`);
/// 2. names its state, `using State = ...;` (default-constructible);
/// 3. declares its streams, `static constexpr auto streams = eventcore::streams(&C::a, &C::b);`,
///    and every other `StreamId` field in `ignored_stream_fields` (checked with Boost.PFR when
///    the command is an aggregate; `static constexpr bool check_stream_fields = false;` opts out
///    for aggregates PFR cannot inspect: base classes with data, C arrays, bit-fields);
/// 4. folds events: `void apply(State&, const RecordedEvent<Event>&) const`;
/// 5. decides: `handle(const State&, Context<C>&) const`, returning `void` or `CommandResult`.
///
/// Optionally it may name itself (`static constexpr std::string_view name = "...";`, default:
/// its type name) and add streams before `handle` runs:
/// `void resolve(const State&, StreamResolver&) const`.
///
/// \code
/// static_assert(eventcore::Command<TransferMoney>);
/// \endcode
template <class C>
concept Command = detail::CommandShape<C> && detail::ignored_fields_are_not_declared<C>() &&
                  detail::stream_fields_accounted_for<C>();

/// Checks that `C` is a command, for a `static_assert` of the user's own: it fails to compile,
/// with one error naming what is wrong (the same as `execute` gives), if `C` is not one.
///
/// \code
/// static_assert(eventcore::check_command<TransferMoney>());
/// \endcode
template <class C>
consteval auto check_command() -> bool {
    return detail::diagnose_command<C>();
}

/// The command's optional resolver hook (see `Command`).
template <class C>
concept HasResolver = requires(const C& c, const typename C::State& s, StreamResolver& r) { c.resolve(s, r); };

} // namespace eventcore
