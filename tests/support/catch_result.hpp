#pragma once
// Lets Catch show what a failed `REQUIRE(result)` held: the error's kind, code and message,
// instead of `{?}`.

#include <eventcore/error.hpp>
#include <eventcore/result.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <string>

namespace Catch {
template <class T>
struct StringMaker<tl::expected<T, eventcore::Error>> {
    static auto convert(const tl::expected<T, eventcore::Error>& result) -> std::string {
        return result ? std::string{"a value"} : fmt::format("error: {}", result.error());
    }
};
} // namespace Catch
