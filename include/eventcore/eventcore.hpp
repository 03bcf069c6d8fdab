#pragma once
/// \file
/// Everything in eventcore's core: include this, or the one header you need. Lighter:
/// `<eventcore/core.hpp>` (vocabulary, commands, executor) and `<eventcore/concepts.hpp>` (the
/// concepts alone).

#include <eventcore/command.hpp>
#include <eventcore/context.hpp>
#include <eventcore/deadline.hpp>
#include <eventcore/error.hpp>
#include <eventcore/event_store.hpp>
#include <eventcore/executor.hpp>
#include <eventcore/in_memory_event_store.hpp>
#include <eventcore/match.hpp>
#include <eventcore/metadata.hpp>
#include <eventcore/observer.hpp>
#include <eventcore/recorded_event.hpp>
#include <eventcore/result.hpp>
#include <eventcore/retry_policy.hpp>
#include <eventcore/stream_id.hpp>
#include <eventcore/stream_ops.hpp>
#include <eventcore/stream_set.hpp>
#include <eventcore/uuid.hpp>
#include <eventcore/version.hpp>
#include <eventcore/projection.hpp>
#include <eventcore/stream_pattern.hpp>
#include <eventcore/subscription.hpp>

// The JSON codec's registration macros live in <eventcore/json_codec.hpp>, which this header leaves
// out (it brings Boost.JSON). Until it is included, these stand-ins say where they are, at the
// line that uses them, rather than failing on the field names.
#ifndef EVENTCORE_EVENT
#define EVENTCORE_EVENT(Type, ...)                                                                                     \
    static_assert(sizeof(Type) == 0, "eventcore: EVENTCORE_EVENT is defined in <eventcore/json_codec.hpp> (target "    \
                                     "eventcore::json, which the SQLite and PostgreSQL stores bring): include it to "  \
                                     "register " #Type " with the JSON codec");
#endif
#ifndef EVENTCORE_EVENT_TRANSIENT
#define EVENTCORE_EVENT_TRANSIENT(Type, ...)                                                                           \
    static_assert(sizeof(Type) == 0, "eventcore: EVENTCORE_EVENT_TRANSIENT is defined in <eventcore/json_codec.hpp>: " \
                                     "include it to register " #Type " with the JSON codec");
#endif
