#pragma once
/// \file
/// `eventcore::match`: `std::visit` over a set of handlers, one per event type, checked at
/// compile time to handle every event type unless it ends with `eventcore::otherwise(...)`.

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace eventcore {

namespace detail {

template <class F>
struct Otherwise {
    F handler;
};

template <class T>
inline constexpr bool is_otherwise = false;
template <class F>
inline constexpr bool is_otherwise<Otherwise<F>> = true;

template <class... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};

template <class... Ts>
struct TypeList {};

template <std::size_t I, class List>
struct At;
template <std::size_t I, class... Ts>
struct At<I, TypeList<Ts...>> {
    using type = std::tuple_element_t<I, std::tuple<Ts...>>;
};

template <class... Fs>
inline constexpr bool last_is_otherwise = false;
template <class F, class... Fs>
inline constexpr bool last_is_otherwise<F, Fs...> =
    is_otherwise<std::remove_cvref_t<std::tuple_element_t<sizeof...(Fs), std::tuple<F, Fs...>>>>;

// A handler with one call operator that is not a template. Only these are asked which event
// types they take one by one: asking a generic lambda would instantiate its body for event types
// it was never meant for (the ones the other handlers take), which std::visit would not do.
template <class F>
concept PlainHandler = requires { &F::operator(); };

template <class F, class Arg>
inline constexpr bool plain_handler_takes = false;
template <PlainHandler F, class Arg>
inline constexpr bool plain_handler_takes<F, Arg> = std::is_invocable_v<F&, Arg>;

template <class F, class... Args>
inline constexpr bool handler_is_used = !PlainHandler<F> || (false || ... || plain_handler_takes<F, Args>);

// The alternatives of a variant, or the type itself: a command whose Event is one struct can
// match on it too.
template <class X>
struct AlternativesOf {
    using type = TypeList<X>;
    static constexpr bool is_variant = false;
};
template <class... Ts>
struct AlternativesOf<std::variant<Ts...>> {
    using type = TypeList<Ts...>;
    static constexpr bool is_variant = true;
};

// An alternative as std::visit hands it over: with the variant's constness and value category.
template <class From, class T>
using ForwardedLike = std::conditional_t<
    std::is_lvalue_reference_v<From>,
    std::conditional_t<std::is_const_v<std::remove_reference_t<From>>, const T&, T&>,
    std::conditional_t<std::is_const_v<std::remove_reference_t<From>>, const T&&, T&&>>;

// The diagnostics. Each names the offending event type (or the handler's position) in its
// template argument, which the compiler prints with the failed assertion (a C++20 static_assert
// message cannot hold it), and asserts a false constant whose name says what is missing, which
// Clang prints too.
template <class Event>
inline constexpr bool event_type_has_a_handler = false;
template <class Event>
inline constexpr bool event_type_has_one_best_handler = false;
template <std::size_t Position>
inline constexpr bool handler_takes_an_event_type = false;
template <class Event>
inline constexpr bool handler_returns_the_same_type = false;
template <std::size_t Position>
inline constexpr bool otherwise_is_last = false;
template <class T>
inline constexpr bool handler_is_a_function_object = false;

template <class Event>
struct match_has_no_handler_for {
    static_assert(event_type_has_a_handler<Event>,
                  "eventcore: match: no handler for one of the event types (named in "
                  "match_has_no_handler_for<...> here): add a handler for it, or end the handlers with "
                  "eventcore::otherwise(...) to leave the event types not handled out");
};

template <class Event>
struct match_has_ambiguous_handlers_for {
    static_assert(event_type_has_one_best_handler<Event>,
                  "eventcore: match: more than one handler fits one of the event types equally well (named "
                  "in match_has_ambiguous_handlers_for<...> here): keep one, or make one take exactly that "
                  "type");
};

template <std::size_t Position>
struct match_handler_takes_no_event_type {
    static_assert(handler_takes_an_event_type<Position>,
                  "eventcore: match: a handler takes none of the event types (the handler at the position, "
                  "counted from 0, in match_handler_takes_no_event_type<...> here): the event type it was "
                  "written for is not one of the variant's, or its parameter is misspelt");
};

template <class Event>
struct match_handlers_return_different_types {
    static_assert(handler_returns_the_same_type<Event>,
                  "eventcore: match: the handlers return different types (the handler for the event type "
                  "in match_handlers_return_different_types<...> here returns another type than the "
                  "handler for the variant's first): return the same type from every handler");
};

template <std::size_t Position>
struct match_otherwise_is_not_last {
    static_assert(otherwise_is_last<Position>,
                  "eventcore: match: eventcore::otherwise(...) must be the last argument, and come once");
};

template <class T>
struct match_handler_is_not_a_function_object {
    static_assert(handler_is_a_function_object<T>,
                  "eventcore: match: each handler must be a lambda or another function object (the type "
                  "in match_handler_is_not_a_function_object<...> here is not)");
};

// Stand in for the result of a match that failed to compile, so that the use of its result
// (`return match(...)`, `balance += match(...)`) adds no second error: the type the handlers
// that are there return, or, when there is none, anything.
struct MatchFailed {
    template <class T>
    operator T() const; // never defined: a program holding one does not compile
};
template <class R>
auto failed_match_result() -> R; // never defined, as above

template <class Set, class Fallback, class Arg>
constexpr decltype(auto) call_handler(Set& set, Fallback& fallback, Arg&& arg) {
    if constexpr (std::is_invocable_v<Set&, Arg&&>) {
        return set(std::forward<Arg>(arg));
    } else if constexpr (std::is_invocable_v<Fallback&, Arg&&>) {
        return fallback(std::forward<Arg>(arg));
    } else {
        return fallback();
    }
}

// What is wrong with a match, if anything: the first problem found, so that one mistake gives
// one error.
enum class MatchProblem { none, not_a_function_object, otherwise_not_last, no_handler, ambiguous, unused_handler,
                          return_types_differ };

struct MatchCheck {
    MatchProblem problem = MatchProblem::none;
    std::size_t index = 0; // the alternative, or the handler, concerned
};

struct NoFallback {};

template <class Arg, class Fallback, class... Fs>
constexpr auto result_of() {
    using Set = Overloaded<Fs...>;
    if constexpr (std::is_invocable_v<Set&, Arg>) {
        return std::type_identity<std::invoke_result_t<Set&, Arg>>{};
    } else if constexpr (std::is_invocable_v<Fallback&, Arg>) {
        return std::type_identity<std::invoke_result_t<Fallback&, Arg>>{};
    } else if constexpr (std::is_invocable_v<Fallback&>) {
        return std::type_identity<std::invoke_result_t<Fallback&>>{};
    } else {
        return std::type_identity<void>{};
    }
}

// Whether the handlers take one alternative, Arg. Lazily: a generic handler (or the fallback) is
// instantiated only for what std::visit would call it with.
template <class Arg, class Fallback, class... Fs>
consteval auto check_alternative() -> MatchProblem {
    if constexpr (std::is_invocable_v<Overloaded<Fs...>&, Arg>) {
        return MatchProblem::none;
    } else if constexpr ((false || ... || plain_handler_takes<Fs, Arg>)) {
        // A handler takes it, and yet the overload set does not: another fits as well.
        return MatchProblem::ambiguous;
    } else if constexpr (std::disjunction_v<std::is_invocable<Fallback&, Arg>, std::is_invocable<Fallback&>>) {
        return MatchProblem::none;
    } else {
        return MatchProblem::no_handler;
    }
}

template <class From, class Fallback, class Handlers, class... Ts>
struct FirstResult {
    using type = MatchFailed;
};
template <class From, class Fallback, class... Fs, class T, class... Ts>
struct FirstResult<From, Fallback, TypeList<Fs...>, T, Ts...> {
    using type = std::conditional_t<
        check_alternative<ForwardedLike<From, T>, Fallback, Fs...>() == MatchProblem::none,
        typename decltype(result_of<ForwardedLike<From, T>, Fallback, Fs...>())::type,
        typename FirstResult<From, Fallback, TypeList<Fs...>, Ts...>::type>;
};

template <class From, class Fallback, class... Fs, class... Ts>
consteval auto check_match(TypeList<Ts...>) -> MatchCheck {
    constexpr MatchProblem alternatives[] = {check_alternative<ForwardedLike<From, Ts>, Fallback, Fs...>()...};
    for (std::size_t i = 0; i < sizeof...(Ts); ++i) {
        if (alternatives[i] != MatchProblem::none) return {alternatives[i], i};
    }
    // A handler no alternative can call is dead code, most often for an event type the variant
    // no longer holds. (Generic handlers are not asked; see PlainHandler.)
    constexpr bool used[] = {true, handler_is_used<Fs, ForwardedLike<From, Ts>...>...};
    for (std::size_t i = 1; i < sizeof...(Fs) + 1; ++i) {
        if (!used[i]) return {MatchProblem::unused_handler, i - 1};
    }
    using First = ForwardedLike<From, typename At<0, TypeList<Ts...>>::type>;
    constexpr bool same_result[] = {std::is_same_v<typename decltype(result_of<ForwardedLike<From, Ts>, Fallback, Fs...>())::type,
                                                   typename decltype(result_of<First, Fallback, Fs...>())::type>...};
    for (std::size_t i = 0; i < sizeof...(Ts); ++i) {
        if (!same_result[i]) return {MatchProblem::return_types_differ, i};
    }
    return {};
}

template <class Fallback, class V, class... Fs>
constexpr decltype(auto) run_match(V&& v, Fallback fallback, Fs&&... handlers) {
    using Alternatives = AlternativesOf<std::remove_cvref_t<V>>;
    using List = typename Alternatives::type;
    constexpr MatchCheck check = check_match<V&&, Fallback, std::decay_t<Fs>...>(List{});
    if constexpr (check.problem == MatchProblem::none) {
        Overloaded<std::decay_t<Fs>...> set{std::forward<Fs>(handlers)...};
        auto visitor = [&](auto&& alternative) -> decltype(auto) {
            return call_handler(set, fallback, std::forward<decltype(alternative)>(alternative));
        };
        if constexpr (Alternatives::is_variant) {
            return std::visit(visitor, std::forward<V>(v));
        } else {
            return visitor(std::forward<V>(v));
        }
    } else {
        if constexpr (check.problem == MatchProblem::unused_handler) {
            (void)match_handler_takes_no_event_type<check.index>{};
        } else {
            using Event = typename At<check.index, List>::type;
            if constexpr (check.problem == MatchProblem::no_handler) {
                (void)match_has_no_handler_for<Event>{};
            } else if constexpr (check.problem == MatchProblem::ambiguous) {
                (void)match_has_ambiguous_handlers_for<Event>{};
            } else {
                (void)match_handlers_return_different_types<Event>{};
            }
        }
        return []<class... Ts>(TypeList<Ts...>) -> decltype(auto) {
            return failed_match_result<
                typename FirstResult<V&&, Fallback, TypeList<std::decay_t<Fs>...>, Ts...>::type>();
        }(List{});
    }
}

template <class... Fs>
consteval auto check_handler_shapes() -> MatchCheck {
    constexpr bool is_class[] = {true, std::is_class_v<std::remove_cvref_t<Fs>>...};
    constexpr bool otherwise_at[] = {false, is_otherwise<std::remove_cvref_t<Fs>>...};
    for (std::size_t i = 1; i < sizeof...(Fs) + 1; ++i) {
        if (!is_class[i]) return {MatchProblem::not_a_function_object, i - 1};
    }
    for (std::size_t i = 1; i + 1 < sizeof...(Fs) + 1; ++i) {
        if (otherwise_at[i]) return {MatchProblem::otherwise_not_last, i - 1};
    }
    return {};
}

} // namespace detail

/// Ends the handlers of `match` with a handler for every event type the others leave out, so
/// that `match` need not handle them all. It takes the event (`[](const auto&) {}`) or nothing
/// (`[] { return 0; }`), and is called only for the event types no other handler takes: it
/// never competes with them in overload resolution.
///
/// \code
/// auto delta(const BankEvent& e) -> std::int64_t {
///     return eventcore::match(e, [](const MoneyDeposited& d) { return d.amount; },
///                             eventcore::otherwise([] { return std::int64_t{0}; }));
/// }
/// \endcode
template <class F>
[[nodiscard]] constexpr auto otherwise(F&& handler) -> detail::Otherwise<std::decay_t<F>> {
    return {std::forward<F>(handler)};
}

/// Calls the handler that takes the event `v` holds: `std::visit` over an overload set of the
/// handlers (lambdas, or other function objects), for a `std::variant` of event types (or a
/// single event type). Every event type of the variant must have a handler, checked at compile
/// time, unless the last argument is `eventcore::otherwise(handler)`. A mistake is one error,
/// whose text starts `eventcore: match:` and whose template argument names the event type (or
/// the handler) concerned: an event type with no handler, or with two that fit it equally, a
/// handler that takes none of the event types, handlers that return different types. All
/// handlers return the same type, which `match` returns.
///
/// \code
/// void apply(State& s, const eventcore::RecordedEvent<BankEvent>& e) const {
///     eventcore::match(e.payload,
///         [&](const AccountOpened& o) { s.balance = o.initial_balance; },
///         [&](const MoneyDeposited& d) { s.balance += d.amount; },
///         [&](const MoneyWithdrawn& w) { s.balance -= w.amount; });
/// }
/// \endcode
template <class V, class... Fs>
constexpr decltype(auto) match(V&& v, Fs&&... handlers) {
    constexpr detail::MatchCheck shapes = detail::check_handler_shapes<Fs...>();
    if constexpr (shapes.problem == detail::MatchProblem::not_a_function_object) {
        (void)detail::match_handler_is_not_a_function_object<
            std::remove_cvref_t<std::tuple_element_t<shapes.index, std::tuple<Fs...>>>>{};
        return detail::MatchFailed{};
    } else if constexpr (shapes.problem == detail::MatchProblem::otherwise_not_last) {
        (void)detail::match_otherwise_is_not_last<shapes.index>{};
        return detail::MatchFailed{};
    } else if constexpr (detail::last_is_otherwise<Fs...>) {
        // Split the handlers from the trailing otherwise(...).
        auto all = std::forward_as_tuple(std::forward<Fs>(handlers)...);
        return [&]<std::size_t... I>(std::index_sequence<I...>) -> decltype(auto) {
            return detail::run_match(std::forward<V>(v), std::get<sizeof...(Fs) - 1>(std::move(all)).handler,
                                     std::get<I>(std::move(all))...);
        }(std::make_index_sequence<sizeof...(Fs) - 1>{});
    } else {
        return detail::run_match(std::forward<V>(v), detail::NoFallback{}, std::forward<Fs>(handlers)...);
    }
}

} // namespace eventcore
