// The projection runner's messages, compiled once.
#include <eventcore/projection.hpp>

namespace eventcore::detail {

auto projection_lock_lost(std::string_view projection, const Error& why) -> Error {
    return Error(ErrorKind::projection,
                 fmt::format("projection '{}' stopped before its next batch: {}", projection, why.message()))
        .with_code(why.code().empty() ? std::string("EVENTCORE_PROJECTION_LOCK_LOST") : why.code());
}

auto projection_stopped(std::string_view projection, const StreamId& stream, StreamVersion version,
                        GlobalPosition position, std::uint32_t attempts, const Error& error) -> Error {
    return Error(error.kind(), fmt::format("projection '{}' stopped at stream '{}' version {} (position {}){}: {}",
                                           projection, stream, version, position,
                                           attempts > 0 ? fmt::format(" after {} attempts", attempts) : "",
                                           error.message()))
        .at(stream, version);
}

auto projector_threw(const std::exception& e) -> Error { return Error(ErrorKind::projection, e.what()); }

} // namespace eventcore::detail
