#pragma once
/// \file
/// `Error`, `ErrorKind` and `Exception`: how every operation says what went wrong.

#include <eventcore/result.hpp>
#include <eventcore/stream_id.hpp>
#include <eventcore/uuid.hpp>
#include <eventcore/version.hpp>

#include <fmt/format.h>

#include <exception>
#include <type_traits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventcore {

/// The kind of an `Error`: what callers branch on.
enum class ErrorKind : unsigned char {
    validation,            ///< bad input: a malformed stream id, an inconsistent request
    business_rule,         ///< a command's `require(...)` failed
    undeclared_stream,     ///< a command wrote to a stream it had not read
    version_conflict,      ///< a stream was not at the expected version; see `conflicts()`
    concurrency_exhausted, ///< every attempt allowed by the retry policy met a conflict
    too_many_streams,      ///< a command read more streams than the configured limit
    discovery_limit,       ///< stream discovery did not settle within the configured rounds
    serialization,         ///< an event could not be encoded
    deserialization,       ///< a stored event could not be decoded; see `stream()` and `version()`
    store_unavailable,     ///< the store could not be reached
    transient,             ///< the store failed in a way that is safe to retry (e.g. deadlock)
    in_doubt,              ///< the connection was lost during a commit: it may or may not have landed
    timeout,               ///< the call's deadline passed
    storage,               ///< the store failed (I/O, corruption, constraint, unexpected schema)
    projection,            ///< a projector failed on an event; see `stream()` and `version()`
};

/// The name of a kind, as used in messages: `"version_conflict"`.
[[nodiscard]] constexpr auto to_string(ErrorKind kind) noexcept -> std::string_view {
    switch (kind) {
    case ErrorKind::validation: return "validation";
    case ErrorKind::business_rule: return "business_rule";
    case ErrorKind::undeclared_stream: return "undeclared_stream";
    case ErrorKind::version_conflict: return "version_conflict";
    case ErrorKind::concurrency_exhausted: return "concurrency_exhausted";
    case ErrorKind::too_many_streams: return "too_many_streams";
    case ErrorKind::discovery_limit: return "discovery_limit";
    case ErrorKind::serialization: return "serialization";
    case ErrorKind::deserialization: return "deserialization";
    case ErrorKind::store_unavailable: return "store_unavailable";
    case ErrorKind::transient: return "transient";
    case ErrorKind::in_doubt: return "in_doubt";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::storage: return "storage";
    case ErrorKind::projection: return "projection";
    }
    return "unknown";
}

/// One stream that was not where a commit expected it.
struct VersionConflict {
    StreamId stream;
    ExpectedVersion expected;
    StreamVersion actual;

    friend auto operator==(const VersionConflict&, const VersionConflict&) -> bool = default;
};

/// An error: a kind to branch on, a message for people, and the facts behind it.
///
/// \code
/// auto result = executor.execute(transfer);
/// if (!result && result.error().kind() == eventcore::ErrorKind::business_rule)
///     fmt::print("rejected: {}\n", result.error().message());
/// \endcode
class Error {
public:
    Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

    /// A `version_conflict` naming every stream that was not where it was expected.
    [[nodiscard]] static auto conflict(std::vector<VersionConflict> conflicts) -> Error;

    [[nodiscard]] auto kind() const noexcept -> ErrorKind { return kind_; }
    [[nodiscard]] auto message() const noexcept -> const std::string& { return message_; }
    [[nodiscard]] auto is(ErrorKind kind) const noexcept -> bool { return kind_ == kind; }

    /// For `version_conflict`: each stream whose version did not match, with expected and actual.
    [[nodiscard]] auto conflicts() const noexcept -> std::span<const VersionConflict> { return conflicts_; }
    /// The stream the error concerns, when there is one (e.g. the event that failed to decode).
    [[nodiscard]] auto stream() const noexcept -> const std::optional<StreamId>& { return stream_; }
    /// The stream version the error concerns, when there is one.
    [[nodiscard]] auto version() const noexcept -> std::optional<StreamVersion> { return version_; }
    /// A code from the store underneath (an SQLite result code, a PostgreSQL SQLSTATE), if any.
    [[nodiscard]] auto code() const noexcept -> const std::string& { return code_; }
    /// For `in_doubt` from the executor: the id of the command execution that may have committed.
    /// Executed again with this id (`ExecuteOptions::command_id`), the command finds its commit
    /// if it landed; its events, if any landed, carry it as their causation id.
    [[nodiscard]] auto command_id() const noexcept -> const std::optional<Uuid>& { return command_id_; }

    /// Attaches the stream (and version) the error concerns.
    auto at(StreamId stream, std::optional<StreamVersion> version = std::nullopt) && -> Error {
        stream_ = std::move(stream);
        version_ = version;
        return std::move(*this);
    }
    /// Attaches the conflicts behind the error (e.g. the last ones before retries ran out).
    auto with_conflicts(std::vector<VersionConflict> conflicts) && -> Error {
        conflicts_ = std::move(conflicts);
        return std::move(*this);
    }
    /// Attaches the store's own error code.
    auto with_code(std::string code) && -> Error {
        code_ = std::move(code);
        return std::move(*this);
    }
    /// Attaches the command execution the error concerns.
    auto with_command_id(Uuid id) && -> Error {
        command_id_ = id;
        return std::move(*this);
    }

    friend auto operator==(const Error&, const Error&) -> bool;

private:
    ErrorKind kind_;
    std::string message_;
    std::vector<VersionConflict> conflicts_;
    std::optional<StreamId> stream_;
    std::optional<StreamVersion> version_;
    std::string code_;
    std::optional<Uuid> command_id_;
};

/// The core of `fail`, not a template: `format` formatted with `args`, as {fmt}'s `vformat`, so
/// that the formatting is compiled once per translation unit rather than once per list of
/// argument types.
///
/// \code
/// auto refuse(std::string_view field, fmt::format_args args) { return eventcore::vfail(ErrorKind::validation, field, args); }
/// \endcode
[[nodiscard]] auto vfail(ErrorKind kind, fmt::string_view format, fmt::format_args args) -> tl::unexpected<Error>;

/// Shorthand for returning an error from a function that returns `Result<T>`: a thin shell over
/// `vfail`, whose format string is checked at compile time.
///
/// \code
/// if (amount <= 0) return eventcore::fail(ErrorKind::validation, "amount must be positive, got {}", amount);
/// \endcode
template <class... Args>
[[nodiscard]] auto fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args)
    -> tl::unexpected<Error> {
    return vfail(kind, fmt::string_view(format), fmt::make_format_args(args...));
}

/// Shorthand for returning an existing error.
[[nodiscard]] inline auto fail(Error error) -> tl::unexpected<Error> { return tl::unexpected<Error>(std::move(error)); }

/// An `Error` thrown. Command handlers throw it (through `Context::require`, `Context::write`, or
/// a throwing constructor such as `StreamId(std::string_view)`); the executor catches it and
/// returns the error as a value, with nothing written.
class Exception : public std::exception {
public:
    explicit Exception(Error error);

    [[nodiscard]] auto error() const& noexcept -> const Error& { return error_; }
    [[nodiscard]] auto error() && noexcept -> Error&& { return std::move(error_); }
    [[nodiscard]] auto what() const noexcept -> const char* override { return what_.c_str(); }

private:
    Error error_;
    std::string what_;
};

/// The value of `result`, or throws `Exception` carrying its error. Unlike `result.value()`,
/// whose exception says only "bad expected access", the exception's `what()` is the error's
/// kind and message.
///
/// \code
/// auto receipt = eventcore::value_or_throw(store.append(std::move(request)));
/// \endcode
template <class T>
auto value_or_throw(Result<T> result) -> T {
    if (!result) throw Exception(std::move(result).error());
    if constexpr (!std::is_void_v<T>) return std::move(*result);
}

namespace detail {
/// `text` quoted for a message: control bytes and invalid UTF-8 escaped, long text shortened.
[[nodiscard]] auto quote_for_message(std::string_view text) -> std::string;
/// The `validation` error for a stream id that breaks `violation`'s rule.
[[nodiscard]] auto invalid_stream_id(std::string_view text, StreamIdViolation violation) -> Error;
} // namespace detail

} // namespace eventcore

/// Formats as `kind: message`.
template <>
struct fmt::formatter<eventcore::Error> : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(const eventcore::Error& e, FormatContext& ctx) const {
        // Not `format_to`: see the formatter of `ExpectedVersion`.
        std::string text(eventcore::to_string(e.kind()));
        text += ": ";
        text += e.message();
        return fmt::formatter<std::string_view>::format(text, ctx);
    }
};
