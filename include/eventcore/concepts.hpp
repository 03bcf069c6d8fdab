#pragma once
/// \file
/// eventcore's concepts alone, for code that states what it needs of a type without the
/// executor, the stores or the projections: `Command` (and `check_command`), `EventStore`,
/// `LiveEventStore`, `EventVisitor` and `Codec`, with the vocabulary they are stated in.
///
/// \code
/// #include <eventcore/concepts.hpp>
/// template <eventcore::EventStore S> void archive(const S& store);
/// \endcode

#include <eventcore/codec.hpp>
#include <eventcore/command.hpp>
#include <eventcore/event_store.hpp>
