// The compiled part of the JSON codec: an exact parser, and the check that an event's JSON can
// be stored and read back as it was.

#include <eventcore/json_codec.hpp>

#include <eventcore/detail/utf8.hpp>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

namespace eventcore::detail::json {

namespace {

/// Builds a `boost::json::value` as Boost.JSON's own parser does, but reads each double from its
/// text with `std::from_chars`, which rounds correctly: Boost.JSON 1.81 gives a neighbouring
/// double for about a quarter of all doubles, so a value would not read back as it was written.
class ExactHandler {
public:
    static constexpr std::size_t max_object_size = boost::json::object::max_size();
    static constexpr std::size_t max_array_size = boost::json::array::max_size();
    static constexpr std::size_t max_key_size = boost::json::string::max_size();
    static constexpr std::size_t max_string_size = boost::json::string::max_size();

    ExactHandler(boost::json::storage_ptr sp, unsigned char* buffer, std::size_t size)
        : st(std::move(sp), buffer, size) {}

    boost::json::value_stack st;

    auto on_document_begin(boost::json::error_code&) -> bool { return true; }
    auto on_document_end(boost::json::error_code&) -> bool { return true; }
    auto on_object_begin(boost::json::error_code&) -> bool { return true; }
    auto on_object_end(std::size_t n, boost::json::error_code&) -> bool {
        st.push_object(n);
        return true;
    }
    auto on_array_begin(boost::json::error_code&) -> bool { return true; }
    auto on_array_end(std::size_t n, boost::json::error_code&) -> bool {
        st.push_array(n);
        return true;
    }
    auto on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) -> bool {
        st.push_chars(s);
        return true;
    }
    auto on_key(boost::json::string_view s, std::size_t, boost::json::error_code&) -> bool {
        st.push_key(s);
        return true;
    }
    auto on_string_part(boost::json::string_view s, std::size_t, boost::json::error_code&) -> bool {
        st.push_chars(s);
        return true;
    }
    auto on_string(boost::json::string_view s, std::size_t, boost::json::error_code&) -> bool {
        st.push_string(s);
        return true;
    }
    auto on_number_part(boost::json::string_view s, boost::json::error_code&) -> bool {
        number_.append(s.data(), s.size());
        return true;
    }
    auto on_int64(std::int64_t i, boost::json::string_view, boost::json::error_code&) -> bool {
        number_.clear();
        st.push_int64(i);
        return true;
    }
    auto on_uint64(std::uint64_t u, boost::json::string_view, boost::json::error_code&) -> bool {
        number_.clear();
        st.push_uint64(u);
        return true;
    }
    auto on_double(double d, boost::json::string_view s, boost::json::error_code& error) -> bool {
        // A number split across input buffers arrives in parts; one buffer is the usual case.
        std::string_view text(s.data(), s.size());
        if (!number_.empty()) {
            number_.append(s.data(), s.size());
            text = number_;
        }
        number_.clear();
        // A number too large for a double (1e400) reads as an infinity, which no event can hold.
        if (!std::isfinite(d)) {
            error = boost::json::error::exponent_overflow;
            return false;
        }
        double exact = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), exact);
        // Too small (1e-400) keeps Boost.JSON's reading of it: zero.
        st.push_double(ec == std::errc{} && end == text.data() + text.size() ? exact : d);
        return true;
    }
    auto on_bool(bool b, boost::json::error_code&) -> bool {
        st.push_bool(b);
        return true;
    }
    auto on_null(boost::json::error_code&) -> bool {
        st.push_null();
        return true;
    }
    auto on_comment_part(boost::json::string_view, boost::json::error_code&) -> bool { return true; }
    auto on_comment(boost::json::string_view, boost::json::error_code&) -> bool { return true; }

private:
    std::string number_;
};

/// Why `text` is not valid UTF-8, if it is not: RFC 3629, so no encoded surrogates either.
auto utf8_problem(std::string_view text) -> std::optional<std::string> {
    for (std::size_t i = 0; i < text.size();) {
        if (static_cast<unsigned char>(text[i]) < 0x80) {
            ++i;
            continue;
        }
        const auto d = decode_utf8(text, i);
        if (!d.valid)
            return fmt::format("is not valid UTF-8 (at byte {} of {}: {})", i, text.size(),
                               quote_for_message(text.substr(i, 4)));
        i += d.length;
    }
    return std::nullopt;
}

auto find_unstorable(const boost::json::value& v, Path& path, std::size_t depth) -> std::optional<Problem> {
    // Arrays and objects nest; the parser reads no deeper than `max_depth`.
    if ((v.is_array() || v.is_object()) && depth >= max_depth)
        return Problem{std::string(path.str()),
                       fmt::format("nests arrays and objects deeper than {} levels, which the codec does not read back",
                                   max_depth)};
    switch (v.kind()) {
    case boost::json::kind::double_:
        if (!std::isfinite(v.get_double()))
            return Problem{std::string(path.str()),
                           fmt::format("is {}, which JSON cannot hold (use a std::optional for a missing value)",
                                       v.get_double())};
        return std::nullopt;
    case boost::json::kind::string:
        if (auto why = utf8_problem(v.get_string())) return Problem{std::string(path.str()), std::move(*why)};
        return std::nullopt;
    case boost::json::kind::array: {
        const auto& a = v.get_array();
        for (std::size_t i = 0; i < a.size(); ++i) {
            path.push(i);
            auto problem = find_unstorable(a[i], path, depth + 1);
            path.pop();
            if (problem) return problem;
        }
        return std::nullopt;
    }
    case boost::json::kind::object:
        for (const auto& entry : v.get_object()) {
            if (auto why = utf8_problem(entry.key()))
                return Problem{std::string(path.str()), fmt::format("has a key that {}", *why)};
            path.push(entry.key());
            auto problem = find_unstorable(entry.value(), path, depth + 1);
            path.pop();
            if (problem) return problem;
        }
        return std::nullopt;
    default: return std::nullopt;
    }
}

} // namespace

auto parse_exact(std::string_view text, boost::json::storage_ptr sp, boost::system::error_code& ec)
    -> boost::json::value {
    unsigned char temp[BOOST_JSON_STACK_BUFFER_SIZE];
    boost::json::parse_options options;
    options.max_depth = max_depth; // Boost.JSON's default, 32, is less than an event may nest
    boost::json::basic_parser<ExactHandler> parser(options, boost::json::storage_ptr(), temp, sizeof temp);
    parser.handler().st.reset(std::move(sp));
    const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (ec) return nullptr;
    if (used < text.size()) {
        ec = boost::json::error::extra_data;
        return nullptr;
    }
    return parser.handler().st.release();
}

auto find_unstorable(const boost::json::value& v) -> std::optional<Problem> {
    Path path;
    return find_unstorable(v, path, 0);
}

void Path::push(std::size_t index) {
    marks_.push_back(text_.size());
    text_ += fmt::format("[{}]", index);
}

auto unstorable(std::string_view type, const Problem& problem) -> Error {
    return Error(ErrorKind::serialization, fmt::format("event type '{}': {}: {}", type, problem.where, problem.what));
}

auto invalid_json(std::string_view type, const boost::system::error_code& ec) -> Error {
    return Error(ErrorKind::deserialization,
                 fmt::format("event type '{}': payload is not valid JSON ({})", type, ec.message()));
}

auto undecodable(std::string_view type, const Problem& problem) -> Error {
    return Error(ErrorKind::deserialization, fmt::format("event type '{}': {}: {}", type, problem.where, problem.what));
}

auto unknown_event_type(std::string_view type, std::span<const std::string_view> known) -> Error {
    return Error(ErrorKind::deserialization,
                 fmt::format("unknown event type '{}' (this codec knows: {})", type, fmt::join(known, ", ")));
}

} // namespace eventcore::detail::json
