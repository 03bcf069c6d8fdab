#pragma once
/// \file
/// Everything in eventcore's core: include this, or the one header you need.

#include <eventcore/command.hpp>
#include <eventcore/context.hpp>
#include <eventcore/deadline.hpp>
#include <eventcore/error.hpp>
#include <eventcore/event_store.hpp>
#include <eventcore/executor.hpp>
#include <eventcore/in_memory_event_store.hpp>
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
