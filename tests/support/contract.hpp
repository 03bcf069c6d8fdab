#pragma once
// Runs the store contract under Catch2: one section per case.

#include <eventcore/testing/store_contract.hpp>

#include "catch_result.hpp"

namespace testing_support {

template <class S>
void check_store_contract(const eventcore::testing::ContractHarness<S>& harness) {
    for (const auto& c : eventcore::testing::store_contract<S>()) {
        DYNAMIC_SECTION(c.name) {
            const auto outcome = c.run(harness);
            INFO(c.name << ": " << outcome.message);
            CHECK(outcome.passed());
            if (outcome.status == eventcore::testing::ContractOutcome::Status::skipped) WARN("skipped: " << outcome.message);
        }
    }
}

} // namespace testing_support
