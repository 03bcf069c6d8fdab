#pragma once
// Catch2 adapter for the testing kit: `CHECK(outcome)` prints the outcome's message when it
// fails, so a failed scenario shows expected and actual events without an INFO line.

#include <eventcore/testing.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace Catch {
template <>
struct StringMaker<eventcore::testing::ScenarioOutcome> {
    static auto convert(const eventcore::testing::ScenarioOutcome& outcome) -> std::string {
        return outcome.passed() ? std::string("passed") : "\n" + outcome.message;
    }
};
} // namespace Catch
