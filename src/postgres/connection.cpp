#include "connection.hpp"

#include <fmt/format.h>

#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <span>

namespace eventcore::postgres::detail {

namespace {

void put_be(std::string& out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

auto get_be(std::string_view in) -> std::uint64_t {
    std::uint64_t v = 0;
    for (const char c : in) v = (v << 8) | static_cast<unsigned char>(c);
    return v;
}

auto be_bytes(std::uint64_t v, int bytes) -> std::string {
    std::string out;
    put_be(out, v, bytes);
    return out;
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
constexpr std::int64_t postgres_epoch_us = 946'684'800'000'000;

/// SQLSTATEs that say the server went away or would not take us.
auto is_connection_state(std::string_view sqlstate) -> bool {
    return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

/// libpq's messages end with a newline and may run over several lines: keep them on one.
auto one_line(std::string_view text) -> std::string {
    std::string out;
    for (const char c : text) out += (c == '\n' || c == '\r') ? ' ' : c;
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

} // namespace

void Params::add(Oid type, std::string bytes, bool is_null, int format) {
    types_.push_back(static_cast<unsigned>(type));
    lengths_.push_back(static_cast<int>(bytes.size()));
    formats_.push_back(format);
    nulls_.push_back(is_null);
    values_.push_back(std::move(bytes));
}

void Params::null(Oid type) { add(type, {}, true); }
void Params::int8(std::int64_t v) { add(Oid::int8, be_bytes(static_cast<std::uint64_t>(v), 8)); }
void Params::text(std::string_view v) { add(Oid::text, std::string(v)); }
void Params::untyped_text(std::string_view v) { add(Oid::unspecified, std::string(v), false, 0); }
void Params::bytea(std::string_view v) { add(Oid::bytea, std::string(v)); }
void Params::uuid(const Uuid& v) {
    add(Oid::uuid, std::string(reinterpret_cast<const char*>(v.bytes().data()), v.bytes().size()));
}
void Params::float8(double v) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    add(Oid::float8, be_bytes(bits, 8));
}
void Params::array(Oid array_type, ArrayBuilder&& builder) { add(array_type, std::move(builder).finish()); }

void Params::seal() {
    pointers_.clear();
    for (std::size_t i = 0; i < values_.size(); ++i) pointers_.push_back(nulls_[i] ? nullptr : values_[i].data());
}

void Params::ArrayBuilder::add_int8(std::int64_t v) {
    put_be(body_, 8, 4);
    put_be(body_, static_cast<std::uint64_t>(v), 8);
    ++count_;
}
void Params::ArrayBuilder::add_int4(std::int32_t v) {
    put_be(body_, 4, 4);
    put_be(body_, static_cast<std::uint32_t>(v), 4);
    ++count_;
}
void Params::ArrayBuilder::add_int2(std::int16_t v) {
    put_be(body_, 2, 4);
    put_be(body_, static_cast<std::uint16_t>(v), 2);
    ++count_;
}
void Params::ArrayBuilder::add_bool(bool v) {
    put_be(body_, 1, 4);
    body_.push_back(v ? 1 : 0);
    ++count_;
}
void Params::ArrayBuilder::add_bytes(std::string_view v) {
    put_be(body_, v.size(), 4);
    body_.append(v);
    ++count_;
}
void Params::ArrayBuilder::add_uuid(const Uuid& v) {
    put_be(body_, 16, 4);
    body_.append(reinterpret_cast<const char*>(v.bytes().data()), v.bytes().size());
    ++count_;
}
void Params::ArrayBuilder::add_null() {
    put_be(body_, 0xFFFFFFFFu, 4); // length -1
    has_null_ = true;
    ++count_;
}

auto Params::ArrayBuilder::finish() && -> std::string {
    // The binary array format: dimensions, null flag, element type, then per dimension its
    // size and lower bound, then each element as a length and its bytes.
    std::string header;
    const bool empty = count_ == 0;
    put_be(header, empty ? 0 : 1, 4);
    put_be(header, has_null_ ? 1 : 0, 4);
    put_be(header, static_cast<unsigned>(element_), 4);
    if (!empty) {
        put_be(header, static_cast<std::uint32_t>(count_), 4);
        put_be(header, 1, 4);
    }
    // An empty array has no dimension: its shorter header ends where the room for it does.
    const std::size_t at = header_size - header.size();
    body_.replace(at, header.size(), header);
    if (at > 0) body_.erase(0, at);
    return std::move(body_);
}

auto ResultSet::int8(int row, int col) const -> std::int64_t { return static_cast<std::int64_t>(get_be(bytes(row, col))); }
auto ResultSet::int4(int row, int col) const -> std::int32_t { return static_cast<std::int32_t>(get_be(bytes(row, col))); }
auto ResultSet::int2(int row, int col) const -> std::int16_t { return static_cast<std::int16_t>(get_be(bytes(row, col))); }

auto ResultSet::uuid(int row, int col) const -> Uuid {
    const auto b = bytes(row, col);
    Uuid::Bytes out{};
    if (b.size() == out.size()) std::memcpy(out.data(), b.data(), out.size());
    return Uuid(out);
}

auto ResultSet::timestamp(int row, int col) const -> Timestamp {
    return Timestamp{std::chrono::microseconds{int8(row, col) + postgres_epoch_us}};
}

auto ResultSet::jsonb(int row, int col) const -> std::string_view {
    const auto b = bytes(row, col);
    return b.empty() ? b : b.substr(1);
}

auto Connection::adopt(PGconn* conn, const std::string& target) -> Result<std::unique_ptr<Connection>> {
    if (conn == nullptr) return fail(ErrorKind::store_unavailable, "connecting to PostgreSQL ({}): out of memory", target);
    if (PQstatus(conn) != CONNECTION_OK) {
        const std::string message = one_line(PQerrorMessage(conn));
        PQfinish(conn);
        // libpq's connection errors name the host and the user, never the password.
        const bool refused_credentials =
            message.find("password authentication failed") != std::string::npos ||
            message.find("no password supplied") != std::string::npos || message.find("pg_hba.conf") != std::string::npos;
        return fail(Error(ErrorKind::store_unavailable, fmt::format("connecting to PostgreSQL ({}): {}", target, message))
                        .with_code(refused_credentials ? "28P01" : "08001"));
    }
    // A library keeps quiet: notices (and errors the server sends between queries, such as
    // "terminating connection") would otherwise go to standard error. Failures reach the caller
    // through results.
    PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
    return std::unique_ptr<Connection>(new Connection(conn, target));
}

auto Connection::failure(PGresult* result, Phase phase, std::string_view doing) const -> Error {
    const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state != nullptr ? state : "";
    const std::string message =
        one_line(result != nullptr && *PQresultErrorMessage(result) != '\0' ? PQresultErrorMessage(result)
                                                                             : PQerrorMessage(conn_));
    ErrorKind kind = ErrorKind::storage;
    if (sqlstate == "40001" || sqlstate == "40P01") {
        kind = ErrorKind::transient; // serialization failure, deadlock: nothing was changed
    } else if (broken() || is_connection_state(sqlstate)) {
        kind = phase == Phase::commit ? ErrorKind::in_doubt : ErrorKind::store_unavailable;
    }
    std::string text = fmt::format("{} ({}): {}", doing, target_, message);
    if (kind == ErrorKind::in_doubt)
        text += "; the connection was lost after the commit was sent: it may or may not have landed";
    return Error(kind, std::move(text)).with_code(sqlstate.empty() ? "08006" : sqlstate);
}

auto Connection::query(const char* sql, Params& params, Phase phase, std::string_view doing) -> Result<ResultSet> {
    params.seal();
    PGresult* result = PQexecParams(conn_, sql, params.count(), params.types(), params.values(), params.lengths(),
                                    params.formats(), 1);
    if (result == nullptr || PQresultStatus(result) != PGRES_TUPLES_OK) {
        auto error = failure(result, phase, doing);
        PQclear(result);
        return fail(std::move(error));
    }
    return ResultSet(result);
}

namespace {

constexpr std::array<const char*, prepared_count> prepared_names{
    "eventcore_read_stream", "eventcore_append", "eventcore_receipt", "eventcore_head"};

} // namespace

auto Connection::query(Prepared which, const std::string& sql, Params& params, Phase phase, std::string_view doing)
    -> Result<ResultSet> {
    if (!prepare_) return query(sql.c_str(), params, phase, doing);
    params.seal();
    auto& types = prepared_[static_cast<std::size_t>(which)];
    const char* name = prepared_names[static_cast<std::size_t>(which)];
    const std::span<const unsigned> given(params.types(), static_cast<std::size_t>(params.count()));
    if (types && !std::ranges::equal(*types, given)) return query(sql.c_str(), params, phase, doing);
    const auto sqlstate_of = [](PGresult* r) -> std::string_view {
        const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
        return state != nullptr ? state : "";
    };
    for (int attempt = 0;; ++attempt) {
        if (!types) {
            PGresult* made = PQprepare(conn_, name, sql.c_str(), params.count(), params.types());
            if (made != nullptr && PQresultStatus(made) != PGRES_COMMAND_OK && attempt == 0 &&
                sqlstate_of(made) == "42P05" && !transaction_failed()) {
                // The name is taken on this connection (prepared by someone else): replace it.
                PQclear(made);
                if (auto dropped = run(fmt::format("DEALLOCATE {}", name), doing); !dropped)
                    return fail(std::move(dropped).error());
                continue;
            }
            if (made == nullptr || PQresultStatus(made) != PGRES_COMMAND_OK) {
                // Nothing was run yet: a lost connection here is never "in doubt".
                auto error = failure(made, Phase::read, doing);
                PQclear(made);
                return fail(std::move(error));
            }
            PQclear(made);
            types.emplace(given.begin(), given.end());
        }
        PGresult* result =
            PQexecPrepared(conn_, name, params.count(), params.values(), params.lengths(), params.formats(), 1);
        if (result != nullptr && PQresultStatus(result) == PGRES_TUPLES_OK) return ResultSet(result);
        if (attempt == 0 && sqlstate_of(result) == "26000" && !transaction_failed()) {
            // Someone ran DEALLOCATE (or DISCARD ALL) on this connection: prepare it again. The
            // others may still exist; each is prepared again when it meets the same error.
            PQclear(result);
            types.reset();
            continue;
        }
        auto error = failure(result, phase, doing);
        PQclear(result);
        return fail(std::move(error));
    }
}

auto ResultSet::changed() const -> std::int64_t {
    const char* n = PQcmdTuples(result_.get());
    return n == nullptr || *n == '\0' ? 0 : std::strtoll(n, nullptr, 10);
}

auto Connection::execute(std::string_view sql, Params& params, std::string_view doing) -> Result<ResultSet> {
    params.seal();
    const std::string text(sql);
    PGresult* result = PQexecParams(conn_, text.c_str(), params.count(), params.types(), params.values(),
                                    params.lengths(), params.formats(), 0);
    const auto status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        // Without a description, the statement describes itself: formatted only on failure.
        auto error = failure(result, Phase::read, doing.empty() ? fmt::format("running `{}`", sql) : std::string(doing));
        PQclear(result);
        return fail(std::move(error));
    }
    return ResultSet(result);
}

auto Connection::run(const std::string& sql, std::string_view doing) -> Result<void> {
    PGresult* result = PQexec(conn_, sql.c_str());
    const auto status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        auto error = failure(result, Phase::read, doing);
        PQclear(result);
        return fail(std::move(error));
    }
    PQclear(result);
    return {};
}

auto Connection::wait_for_notification(std::chrono::milliseconds timeout) -> Result<bool> {
    const auto lost = [&] { return fail(failure(nullptr, Phase::read, "waiting for new events")); };
    const auto take = [&] {
        bool any = false;
        while (PGnotify* n = PQnotifies(conn_)) {
            PQfreemem(n);
            any = true;
        }
        return any;
    };
    if (PQconsumeInput(conn_) == 0) return lost();
    if (take()) return true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd fd{PQsocket(conn_), POLLIN, 0};
        const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno != EINTR) return lost();
        if (ready > 0) {
            if (PQconsumeInput(conn_) == 0) return lost();
            if (take()) return true;
        }
    }
}

} // namespace eventcore::postgres::detail
