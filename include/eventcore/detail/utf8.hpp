#pragma once

#include <cstddef>
#include <string_view>

namespace eventcore::detail {

struct DecodedCodePoint {
    char32_t code_point = 0;
    unsigned char length = 0;
    bool valid = false;
};

/// Decodes the code point starting at `text[offset]`, rejecting overlong forms, surrogates
/// and values above U+10FFFF (RFC 3629).
[[nodiscard]] constexpr auto decode_utf8(std::string_view text, std::size_t offset) noexcept -> DecodedCodePoint {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[offset + i]); };
    const std::size_t left = text.size() - offset;
    const unsigned char lead = byte(0);
    if (lead < 0x80) return {lead, 1, true};

    unsigned char length = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if ((lead & 0xE0) == 0xC0) {
        length = 2, cp = lead & 0x1F, min = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        length = 3, cp = lead & 0x0F, min = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
        length = 4, cp = lead & 0x07, min = 0x10000;
    } else {
        return {};
    }
    if (left < length) return {};
    for (std::size_t i = 1; i < length; ++i) {
        if ((byte(i) & 0xC0) != 0x80) return {};
        cp = (cp << 6) | (byte(i) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {};
    return {cp, length, true};
}

/// C0 controls, DEL and C1 controls (Unicode general category Cc).
[[nodiscard]] constexpr auto is_control(char32_t cp) noexcept -> bool {
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/// The Unicode White_Space property.
[[nodiscard]] constexpr auto is_white_space(char32_t cp) noexcept -> bool {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

} // namespace eventcore::detail
