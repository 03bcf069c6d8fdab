#pragma once
/// \file
/// The testing kit: given/when/then scenarios, `ChaosStore`, `ConflictingStore` and
/// `describe`. Header-only and free of any test framework; see docs/testing.md.

#include <eventcore/testing/chaos_store.hpp>
#include <eventcore/testing/conflicting_store.hpp>
#include <eventcore/testing/describe.hpp>
#include <eventcore/testing/scenario.hpp>
#include <eventcore/testing/store_wrapper.hpp>
