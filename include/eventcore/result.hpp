#pragma once
/// \file
/// `Result<T>`: a value or an `eventcore::Error`.

#include <tl/expected.hpp>

namespace eventcore {

class Error;

/// What every fallible operation of the library returns: the value, or the `Error` that
/// prevented it. Expected outcomes (a version conflict, a broken business rule, a bad
/// stream id) are values of this type, never exceptions.
///
/// \code
/// eventcore::Result<eventcore::StreamId> id = eventcore::StreamId::parse(text);
/// if (!id) return tl::make_unexpected(id.error());
/// \endcode
template <class T = void>
using Result = tl::expected<T, Error>;

} // namespace eventcore
