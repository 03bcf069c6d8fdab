#include "support/contract.hpp"

#include <eventcore/in_memory_event_store.hpp>

using eventcore::testing::ContractEvent;
using eventcore::testing::ContractHarness;

TEST_CASE("the in-memory store keeps the store contract", "[store][contract]") {
    using Store = eventcore::InMemoryEventStore<ContractEvent>;
    testing_support::check_store_contract(ContractHarness<Store>{.make = [] { return std::make_unique<Store>(); }});
}
