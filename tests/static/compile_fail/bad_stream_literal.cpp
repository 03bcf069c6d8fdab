// A literal stream id is checked at compile time.
// expect: stream_id_literal_has_a_reserved_character
#include <eventcore/stream_id.hpp>

#ifdef EVENTCORE_COMPILE_FAIL
const auto id = eventcore::StreamId::from_static("orders-*");
#else
const auto id = eventcore::StreamId::from_static("orders-1");
#endif
