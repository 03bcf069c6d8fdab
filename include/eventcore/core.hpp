#pragma once
/// \file
/// The light entry point: the vocabulary (stream ids, versions, events, errors, results), the
/// `Command` concept and its `Context`, and the executor. What a file that defines and runs
/// commands needs, and no more: no store (include the one you use, such as
/// `<eventcore/in_memory_event_store.hpp>` or `<eventcore/sqlite_event_store.hpp>`), no
/// projections or subscriptions. `<eventcore/eventcore.hpp>` has everything.
///
/// \code
/// #include <eventcore/core.hpp>
/// #include <eventcore/sqlite_event_store.hpp>
/// \endcode

#include <eventcore/command.hpp>
#include <eventcore/context.hpp>
#include <eventcore/error.hpp>
#include <eventcore/event_store.hpp>
#include <eventcore/executor.hpp>
#include <eventcore/match.hpp>
#include <eventcore/metadata.hpp>
#include <eventcore/recorded_event.hpp>
#include <eventcore/result.hpp>
#include <eventcore/retry_policy.hpp>
#include <eventcore/stream_id.hpp>
#include <eventcore/stream_set.hpp>
#include <eventcore/uuid.hpp>
#include <eventcore/version.hpp>
