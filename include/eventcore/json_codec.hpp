#pragma once
/// \file
/// `JsonCodec<E>`: events as JSON objects, through Boost.JSON and Boost.Describe.
/// Link `eventcore::json` (or a store component, which brings it).

#include <eventcore/codec.hpp>
#include <eventcore/event_type_name.hpp>

#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp> // for users: BOOST_DESCRIBE_ENUM, which the codec stores by name
#include <boost/describe/members.hpp>
#include <boost/describe/modifiers.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <boost/mp11/algorithm.hpp>
#include <boost/preprocessor/punctuation/comma_if.hpp>
#include <boost/preprocessor/seq/for_each_i.hpp>
#include <boost/preprocessor/tuple/to_seq.hpp>


#include <array>
#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

/// Registers an event type (or a struct nested in one) with the JSON codec: one line, at
/// namespace scope next to the type, naming its fields. Every field must be named: for an
/// aggregate, leaving one out (it would never be stored) does not compile.
///
/// \code
/// struct MoneyDeposited { std::int64_t amount; std::string reference; };
/// EVENTCORE_EVENT(MoneyDeposited, amount, reference)
/// \endcode
#undef EVENTCORE_EVENT // <eventcore/eventcore.hpp> defines a stand-in that points here
#define EVENTCORE_EVENT(Type, ...)                                                                                     \
    BOOST_DESCRIBE_STRUCT(Type, (), (__VA_ARGS__))                                                                     \
    EVENTCORE_DETAIL_JSON_REGISTERED(Type)                                                                             \
    static_assert(::eventcore::detail::json::names_every_field<Type, 0>(),                                             \
                  "eventcore: EVENTCORE_EVENT(" #Type ", ...) does not name every field of " #Type                     \
                  " (or " #Type " has a base class, whose fields it would not store); a field left out would never "   \
                  "be stored: name it, or name fields not to store with EVENTCORE_EVENT_TRANSIENT");

/// `EVENTCORE_EVENT` for a type with fields that are not to be stored: they are named, in
/// parentheses, before the stored ones, and read back default-initialized.
///
/// \code
/// struct SeatReserved { std::string show; int seat; std::string display_cache; };
/// EVENTCORE_EVENT_TRANSIENT(SeatReserved, (display_cache), show, seat)
/// \endcode
#undef EVENTCORE_EVENT_TRANSIENT
#define EVENTCORE_EVENT_TRANSIENT(Type, Transient, ...)                                                                \
    BOOST_DESCRIBE_STRUCT(Type, (), (__VA_ARGS__))                                                                     \
    EVENTCORE_DETAIL_JSON_REGISTERED(Type)                                                                             \
    static_assert(::eventcore::detail::json::names_every_field<Type, ::eventcore::detail::json::count_fields(          \
                                                                         EVENTCORE_DETAIL_MEMBER_POINTERS(Type, Transient))>(), \
                  "eventcore: EVENTCORE_EVENT_TRANSIENT(" #Type ", ...) does not name every field of " #Type           \
                  " (or " #Type " has a base class, whose fields it would not store): name each field, as stored or "  \
                  "transient");

// Found by argument-dependent lookup: the testing kit's scenarios round-trip a registered type's
// events through the codec (`eventcore::testing::Scenario`).
#define EVENTCORE_DETAIL_JSON_REGISTERED(Type)                                                                         \
    [[maybe_unused]] constexpr auto eventcore_json_registered(Type*) noexcept -> bool { return true; }
#define EVENTCORE_DETAIL_MEMBER_POINTER(r, Type, i, field) BOOST_PP_COMMA_IF(i) & Type::field
#define EVENTCORE_DETAIL_MEMBER_POINTERS(Type, Fields)                                                                 \
    BOOST_PP_SEQ_FOR_EACH_I(EVENTCORE_DETAIL_MEMBER_POINTER, Type, BOOST_PP_TUPLE_TO_SEQ(Fields))

namespace eventcore {

namespace detail::json {

/// Converts to any field type; only ever named in unevaluated checks.
struct AnyField {
    template <class T>
    operator T() const noexcept; // not defined: unevaluated only
};
template <std::size_t>
using any_field = AnyField;

template <class T, std::size_t... I>
consteval auto brace_initializable(std::index_sequence<I...>) -> bool {
    return requires { T{any_field<I>{}...}; };
}

/// Whether the fields registered for an aggregate `T` (described, plus `transient`) are all its
/// fields: it takes no more initializers than that. Counted by hand rather than with
/// Boost.PFR, whose count is a hard error for a type with a base class, where this check must
/// give its own message. Other types (constructors, private members) are not checked.
template <class T, std::size_t transient>
consteval auto names_every_field() -> bool {
    if constexpr (!std::is_aggregate_v<T>) {
        return true;
    } else {
        constexpr std::size_t named =
            boost::mp11::mp_size<boost::describe::describe_members<T, boost::describe::mod_any_access>>::value +
            transient;
        return !brace_initializable<T>(std::make_index_sequence<named + 1>{});
    }
}

/// The number of data members pointed to (the transient fields of `EVENTCORE_EVENT_TRANSIENT`).
template <class... Members>
consteval auto count_fields(Members...) -> std::size_t {
    static_assert((std::is_member_object_pointer_v<Members> && ...),
                  "eventcore: EVENTCORE_EVENT_TRANSIENT names a transient field that is not a data member");
    return sizeof...(Members);
}

template <class T>
inline constexpr bool is_described_struct =
    boost::describe::has_describe_members<T>::value && !std::is_enum_v<T> && !std::is_union_v<T>;

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};

template <class T>
struct IsStringMap : std::false_type {};
template <class T, class C, class A>
struct IsStringMap<std::map<std::string, T, C, A>> : std::true_type {};
template <class T, class H, class Q, class A>
struct IsStringMap<std::unordered_map<std::string, T, H, Q, A>> : std::true_type {};

/// Where in the payload a value sits, for messages: `lines[2].price`.
class Path {
public:
    void push(std::string_view field) {
        marks_.push_back(text_.size());
        if (!text_.empty()) text_ += '.';
        text_ += field;
    }
    void push(std::size_t index);
    void pop() {
        text_.resize(marks_.back());
        marks_.pop_back();
    }
    [[nodiscard]] auto str() const -> std::string_view { return text_.empty() ? std::string_view("payload") : text_; }

private:
    std::string text_;
    std::vector<std::size_t> marks_;
};

/// A decoding error: where, and what.
struct Problem {
    std::string where;
    std::string what;
};

template <class T>
auto decode_value(const boost::json::value& v, T& out, Path& path) -> std::optional<Problem>;

template <class T>
auto decode_struct(const boost::json::value& v, T& out, Path& path) -> std::optional<Problem> {
    const auto* object = v.if_object();
    if (object == nullptr) return Problem{std::string(path.str()), "expected an object"};
    std::optional<Problem> problem;
    boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_any_access>>([&](auto member) {
        if (problem) return;
        using Field = std::remove_cvref_t<decltype(out.*member.pointer)>;
        path.push(member.name);
        if (const auto* field = object->if_contains(member.name)) {
            problem = decode_value(*field, out.*member.pointer, path);
        } else if constexpr (IsOptional<Field>::value) {
            // A field added to the type after events were stored: absent means empty.
            (out.*member.pointer).reset();
        } else {
            problem = Problem{std::string(path.str()), "missing"};
        }
        path.pop();
    });
    return problem; // keys the type does not have (fields since removed) are ignored
}

template <class T>
auto decode_value(const boost::json::value& v, T& out, Path& path) -> std::optional<Problem> {
    if constexpr (is_described_struct<T>) {
        return decode_struct(v, out, path);
    } else if constexpr (IsOptional<T>::value) {
        if (v.is_null()) {
            out.reset();
            return std::nullopt;
        }
        return decode_value(v, out.emplace(), path);
    } else if constexpr (IsVector<T>::value) {
        const auto* array = v.if_array();
        if (array == nullptr) return Problem{std::string(path.str()), "expected an array"};
        out.clear();
        out.reserve(array->size());
        for (std::size_t i = 0; i < array->size(); ++i) {
            path.push(i);
            auto problem = decode_value((*array)[i], out.emplace_back(), path);
            path.pop();
            if (problem) return problem;
        }
        return std::nullopt;
    } else if constexpr (IsStringMap<T>::value) {
        const auto* object = v.if_object();
        if (object == nullptr) return Problem{std::string(path.str()), "expected an object"};
        out.clear();
        for (const auto& entry : *object) {
            path.push(entry.key());
            auto problem = decode_value(entry.value(), out[std::string(entry.key())], path);
            path.pop();
            if (problem) return problem;
        }
        return std::nullopt;
    } else {
        auto converted = boost::json::try_value_to<T>(v);
        if (!converted) return Problem{std::string(path.str()), converted.error().message()};
        out = std::move(*converted);
        return std::nullopt;
    }
}

/// How deep arrays and objects may nest in an event's JSON: the codec refuses deeper at
/// encoding, and reads up to this deep.
inline constexpr std::size_t max_depth = 512;

/// Parses `text` as `boost::json::parse` does, except that every double reads back exactly as it
/// was written (Boost.JSON 1.81's own parser is off by a unit in the last place for about a
/// quarter of all doubles). Compiled, in the `eventcore::json` library.
[[nodiscard]] auto parse_exact(std::string_view text, boost::json::storage_ptr sp, boost::system::error_code& ec)
    -> boost::json::value;

/// The first value in an event's JSON that a store could not give back as it was: a NaN or an
/// infinity (JSON has neither), a string or key that is not valid UTF-8 (which no JSON parser
/// accepts), or nesting deeper than `max_depth`. Compiled, in the `eventcore::json` library.
[[nodiscard]] auto find_unstorable(const boost::json::value& v) -> std::optional<Problem>;

// The codec's errors, compiled once in the `eventcore::json` library.
[[nodiscard]] auto unstorable(std::string_view type, const Problem& problem) -> Error;
[[nodiscard]] auto invalid_json(std::string_view type, const boost::system::error_code& ec) -> Error;
[[nodiscard]] auto undecodable(std::string_view type, const Problem& problem) -> Error;
[[nodiscard]] auto unknown_event_type(std::string_view type, std::span<const std::string_view> known) -> Error;

/// A stack arena for the JSON tree of one event: most events need no heap allocation for it.
struct Arena {
    static constexpr std::size_t size = 4096;
    alignas(std::max_align_t) unsigned char buffer[size];
    boost::json::monotonic_resource resource{buffer, size};
};

/// The check that `T` is described, in one place: its error comes once per type, however many
/// functions of the codec the type reaches.
template <class T>
consteval auto require_described() -> bool {
    static_assert(is_described_struct<T>,
                  "eventcore: JsonCodec needs each event type described: EVENTCORE_EVENT(Type, field, ...)");
    return is_described_struct<T>;
}

template <class T>
[[nodiscard]] auto encode_one(std::string_view type, const T& event) -> Result<std::string> {
    if constexpr (!require_described<T>()) {
        return fail(ErrorKind::serialization, "event type '{}' is not described", type); // not compiled: see above
    } else {
        Arena arena;
        const boost::json::value v = boost::json::value_from(event, boost::json::storage_ptr(&arena.resource));
        // Refused here, or the store would hold an event that no later read could decode.
        if (auto problem = find_unstorable(v)) return fail(unstorable(type, *problem));
        return boost::json::serialize(v);
    }
}

template <class T>
[[nodiscard]] auto decode_one(std::string_view type, std::string_view payload) -> Result<T> {
    if constexpr (!require_described<T>()) {
        return fail(ErrorKind::deserialization, "event type '{}' is not described", type); // not compiled: see above
    } else {
        Arena arena;
        boost::system::error_code ec;
        const auto v = parse_exact(payload, boost::json::storage_ptr(&arena.resource), ec);
        if (ec) return fail(invalid_json(type, ec));
        T out{};
        Path path;
        if (auto problem = decode_struct(v, out, path)) return fail(undecodable(type, *problem));
        return out;
    }
}

} // namespace detail::json

/// Encodes events as JSON objects with one member per field, and decodes them, naming the
/// field when a payload does not fit. Every event type (each alternative of a variant) and
/// every struct inside one is registered with `EVENTCORE_EVENT(Type, fields...)`; enums with
/// `BOOST_DESCRIBE_ENUM` (stored by name); other types through Boost.JSON's `tag_invoke`.
///
/// Decoding tolerates the usual changes to event types: a field added as `std::optional` reads
/// as empty from older events, and a field since removed is ignored.
///
/// \code
/// struct MoneyDeposited { std::int64_t amount; };
/// EVENTCORE_EVENT(MoneyDeposited, amount)
/// eventcore::JsonCodec<std::variant<MoneyDeposited, MoneyWithdrawn>> codec;
/// auto encoded = codec.encode(MoneyDeposited{5}).value();  // {"MoneyDeposited", R"({"amount":5})"}
/// \endcode
template <class E>
class JsonCodec {
public:
    [[nodiscard]] auto encode(const E& event) const -> Result<EncodedEvent> {
        const std::string_view type = event_type_name_of(event);
        Result<std::string> payload = [&] {
            if constexpr (detail::is_variant<E>) {
                return std::visit([&](const auto& alternative) { return detail::json::encode_one(type, alternative); },
                                  event);
            } else {
                return detail::json::encode_one(type, event);
            }
        }();
        if (!payload) return fail(std::move(payload).error());
        return EncodedEvent{type, std::move(*payload)};
    }

    [[nodiscard]] auto decode(std::string_view type, std::string_view payload) const -> Result<E> {
        if constexpr (detail::is_variant<E>) {
            return decode_alternative(type, payload, std::make_index_sequence<std::variant_size_v<E>>{});
        } else {
            if (type != event_type_name<E>()) return unknown(type);
            return detail::json::decode_one<E>(type, payload);
        }
    }

private:
    template <std::size_t... I>
    [[nodiscard]] static auto decode_alternative(std::string_view type, std::string_view payload, std::index_sequence<I...>)
        -> Result<E> {
        // The unknown-type error is only built when no name matched: formatting it costs more
        // than decoding a small event.
        std::optional<Result<E>> out;
        (void)((type == event_type_names<E>[I]
                    ? (out.emplace(detail::json::decode_one<std::variant_alternative_t<I, E>>(type, payload).map(
                           [](auto&& alternative) { return E(std::in_place_index<I>, std::move(alternative)); })),
                       true)
                    : false) ||
               ...);
        if (!out) return unknown(type);
        return std::move(*out);
    }

    static auto unknown(std::string_view type) -> tl::unexpected<Error> {
        return fail(detail::json::unknown_event_type(type, event_type_names<E>));
    }
};

} // namespace eventcore
