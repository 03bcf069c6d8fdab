// StreamPattern, compiled once.
#include <eventcore/stream_pattern.hpp>

namespace eventcore {

auto StreamPattern::parse(std::string_view text) -> Result<StreamPattern> {
    StreamPattern p;
    p.text_ = text;
    const auto bad = [&](std::string_view why) {
        return fail(ErrorKind::validation, "invalid stream pattern {}: {}", detail::quote_for_message(text), why);
    };
    if (text.empty()) return bad("it is empty");
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = detail::decode_utf8(text, i);
        if (!c.valid) return bad("it is not valid UTF-8");
        i += c.length;
        if (c.code_point == U'*') {
            p.tokens_.push_back({Token::Kind::star, {}, false});
        } else if (c.code_point == U'?') {
            p.tokens_.push_back({Token::Kind::any, {}, false});
        } else if (c.code_point == U']') {
            return bad("']' without '['");
        } else if (c.code_point == U'[') {
            Token t{Token::Kind::set, {}, false};
            if (i < text.size() && (text[i] == '!' || text[i] == '^')) {
                t.negated = true;
                ++i;
            }
            bool closed = false;
            while (i < text.size()) {
                const auto lo = detail::decode_utf8(text, i);
                if (!lo.valid) return bad("it is not valid UTF-8");
                if (lo.code_point == U']' && !t.ranges.empty()) {
                    i += lo.length;
                    closed = true;
                    break;
                }
                i += lo.length;
                char32_t hi = lo.code_point;
                if (i + 1 < text.size() && text[i] == '-' && text[i + 1] != ']') {
                    const auto h = detail::decode_utf8(text, i + 1);
                    if (!h.valid) return bad("it is not valid UTF-8");
                    hi = h.code_point;
                    i += 1 + h.length;
                    if (hi < lo.code_point) return bad("a range in [...] goes downwards");
                }
                t.ranges.push_back({lo.code_point, hi});
            }
            if (!closed) return bad(t.ranges.empty() ? "'[' opens an empty set" : "'[' is never closed");
            p.tokens_.push_back(std::move(t));
        } else {
            if (!p.tokens_.empty() && p.tokens_.back().kind == Token::Kind::literal) {
                p.tokens_.back().literal.append(text.substr(i - c.length, c.length));
            } else {
                p.tokens_.push_back({Token::Kind::literal, {}, false, std::string(text.substr(i - c.length, c.length))});
            }
        }
    }
    return p;
}

auto StreamPattern::to_sqlite_glob() const -> std::string {
    std::string out;
    for (const auto& t : tokens_) {
        switch (t.kind) {
        case Token::Kind::literal: out += t.literal; break;
        case Token::Kind::star: out += '*'; break;
        case Token::Kind::any: out += '?'; break;
        case Token::Kind::set: out += set_text(t, '^'); break;
        }
    }
    return out;
}

auto StreamPattern::to_regex() const -> std::string {
    std::string out = "^";
    for (const auto& t : tokens_) {
        switch (t.kind) {
        case Token::Kind::literal:
            for (const char c : t.literal) {
                if (std::string_view(".^$|()[]{}*+?\\").find(c) != std::string_view::npos) out += '\\';
                out += c;
            }
            break;
        case Token::Kind::star: out += ".*"; break;
        case Token::Kind::any: out += '.'; break;
        case Token::Kind::set: {
            // Inside a bracket expression only ], ^, - and \ are special: put each where it
            // means itself.
            std::string body;
            bool close = false;
            bool dash = false;
            for (const auto& [lo, hi] : t.ranges) {
                if (lo == hi && lo == U']') {
                    close = true;
                } else if (lo == hi && lo == U'-') {
                    dash = true;
                } else {
                    body += escape_in_brackets(lo);
                    if (hi != lo) body += '-' + escape_in_brackets(hi);
                }
            }
            out += '[';
            if (t.negated) out += '^';
            if (close) out += ']';
            out += body;
            if (dash) out += '-';
            out += ']';
            break;
        }
        }
    }
    return out + '$';
}

auto StreamPattern::match(std::string_view s) const -> bool {
    constexpr std::size_t none = static_cast<std::size_t>(-1);
    std::size_t ti = 0;
    std::size_t si = 0;
    std::size_t star = none; // the token after the last `*`
    std::size_t star_si = 0; // where the text after that `*` starts now
    while (si < s.size()) {
        if (ti < tokens_.size() && tokens_[ti].kind == Token::Kind::star) {
            star = ++ti;
            star_si = si;
            continue;
        }
        if (ti < tokens_.size()) {
            if (const auto taken = match_one(tokens_[ti], s, si)) {
                si += taken;
                ++ti;
                continue;
            }
        }
        if (star == none) return false;
        star_si += next_length(s, star_si);
        si = star_si;
        ti = star;
    }
    while (ti < tokens_.size() && tokens_[ti].kind == Token::Kind::star) ++ti;
    return ti == tokens_.size();
}

auto StreamPattern::match_one(const Token& t, std::string_view s, std::size_t i) -> std::size_t {
    switch (t.kind) {
    case Token::Kind::literal: return s.substr(i).starts_with(t.literal) ? t.literal.size() : 0;
    case Token::Kind::any: return next_length(s, i);
    case Token::Kind::set: {
        const auto c = detail::decode_utf8(s, i);
        bool in = false;
        for (const auto& [lo, hi] : t.ranges) in = in || (c.code_point >= lo && c.code_point <= hi);
        return in != t.negated ? c.length : 0;
    }
    case Token::Kind::star: break;
    }
    return 0;
}

auto StreamPattern::next_length(std::string_view s, std::size_t i) -> std::size_t {
    if (i >= s.size()) return 1;
    const auto c = detail::decode_utf8(s, i);
    return c.valid ? c.length : 1;
}

auto StreamPattern::utf8(char32_t cp) -> std::string {
    std::string out;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
}

auto StreamPattern::escape_in_brackets(char32_t cp) -> std::string {
    if (cp == U'\\' || cp == U'^' || cp == U'[') return "\\" + utf8(cp);
    return utf8(cp);
}

auto StreamPattern::set_text(const Token& t, char negation) -> std::string {
    std::string out = "[";
    if (t.negated) out += negation;
    for (const auto& [lo, hi] : t.ranges) {
        out += utf8(lo);
        if (hi != lo) out += '-' + utf8(hi);
    }
    return out + ']';
}

} // namespace eventcore
