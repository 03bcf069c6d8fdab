#include "connection.hpp"

#include <eventcore/deadline.hpp>

#include <fmt/format.h>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
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

auto classify(std::string_view sqlstate, bool connection_lost, Phase phase) -> ErrorKind {
    // Serialization failure, deadlock: the server rolled back, nothing was changed.
    if (sqlstate == "40001" || sqlstate == "40P01") return ErrorKind::transient;
    // statement_completion_unknown: the server itself cannot say whether it completed.
    if (sqlstate == "40003") return ErrorKind::in_doubt;
    // query_canceled (statement_timeout, a cancel request): the statement was rolled back.
    if (sqlstate == "57014") return ErrorKind::timeout;
    if (connection_lost || is_connection_state(sqlstate))
        return phase == Phase::commit ? ErrorKind::in_doubt : ErrorKind::store_unavailable;
    return ErrorKind::storage;
}

namespace {

// Idle 30 s before the first probe, then one every 10 s, 3 unanswered end it: a dead peer is
// found within about a minute. Data unacknowledged for 30 s ends the connection too.
constexpr std::array<std::pair<const char*, const char*>, 5> connection_defaults{{
    {"keepalives", "1"},
    {"keepalives_idle", "30"},
    {"keepalives_interval", "10"},
    {"keepalives_count", "3"},
    {"tcp_user_timeout", "30000"},
}};

struct FinishConnection {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};

auto ceil_ms(std::chrono::steady_clock::duration d) -> std::int64_t {
    return std::chrono::ceil<std::chrono::milliseconds>(d).count();
}

/// Polls `fd` for `events` until `until` (forever without one): 1 ready, 0 the time passed, -1 an error.
auto poll_until(int fd, short events, std::optional<std::chrono::steady_clock::time_point> until) -> int {
    for (;;) {
        int wait_ms = -1;
        if (until) {
            const auto left = ceil_ms(*until - std::chrono::steady_clock::now());
            if (left <= 0) return 0;
            wait_ms = static_cast<int>(std::min<std::int64_t>(left, std::numeric_limits<int>::max()));
        }
        if (fd < 0) {
            errno = EBADF;
            return -1;
        }
        pollfd p{fd, events, 0};
        const int ready = ::poll(&p, 1, wait_ms);
        if (ready > 0) return 1;
        if (ready < 0 && errno != EINTR) return -1;
    }
}

/// The connect timeout libpq would apply to `conn` (0: none): its rule is at least 2 s.
auto effective_connect_timeout(PGconn* conn) -> std::chrono::seconds {
    std::int64_t seconds = 0;
    if (PQconninfoOption* options = PQconninfo(conn)) {
        for (const auto* o = options; o->keyword != nullptr; ++o) {
            if (std::string_view(o->keyword) == "connect_timeout" && o->val != nullptr)
                seconds = std::strtoll(o->val, nullptr, 10);
        }
        PQconninfoFree(options);
    }
    return std::chrono::seconds{seconds <= 0 ? 0 : std::max<std::int64_t>(seconds, 2)};
}

} // namespace

auto default_connection_parameters() -> std::span<const std::pair<const char*, const char*>> {
    return connection_defaults;
}

[[nodiscard]] auto open_connection(const ConnectSettings& settings) -> Result<std::unique_ptr<Connection>> {
    // The caller's settings (the expanded `dbname`) come after ours, and win.
    const std::string timeout = std::to_string(settings.connect_timeout.count());
    std::vector<const char*> keys{"connect_timeout", "fallback_application_name"};
    std::vector<const char*> values{timeout.c_str(), "eventcore"};
    for (const auto& [key, value] : connection_defaults) {
        keys.push_back(key);
        values.push_back(value);
    }
    keys.insert(keys.end(), {"dbname", nullptr});
    values.insert(values.end(), {settings.conninfo.c_str(), nullptr});

    PGconn* made = nullptr;
    if (const auto deadline = current_deadline()) {
        // Asynchronously, to stop at the deadline. The connect timeout then bounds the whole
        // attempt (libpq's blocking connect applies it to each host in turn).
        std::unique_ptr<PGconn, FinishConnection> conn(PQconnectStartParams(keys.data(), values.data(), 1));
        if (conn != nullptr && PQstatus(conn.get()) != CONNECTION_BAD) {
            auto until = *deadline;
            bool by_deadline = true;
            if (const auto limit = effective_connect_timeout(conn.get()); limit.count() > 0) {
                if (const auto end = std::chrono::steady_clock::now() + limit; end < until) {
                    until = end;
                    by_deadline = false;
                }
            }
            for (auto state = PGRES_POLLING_WRITING; state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED;) {
                const int ready = poll_until(PQsocket(conn.get()),
                                             static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), until);
                if (ready == 0) {
                    if (by_deadline)
                        return fail(Error(ErrorKind::timeout,
                                          fmt::format("connecting to PostgreSQL ({}): the call's deadline passed "
                                                      "before the server answered",
                                                      settings.target))
                                        .with_code("08001"));
                    return fail(Error(ErrorKind::store_unavailable,
                                      fmt::format("connecting to PostgreSQL ({}): no answer within the connect "
                                                  "timeout",
                                                  settings.target))
                                    .with_code("08001"));
                }
                state = ready < 0 ? PGRES_POLLING_FAILED : PQconnectPoll(conn.get());
            }
        }
        made = conn.release();
    } else {
        made = PQconnectdbParams(keys.data(), values.data(), 1);
    }
    auto c = Connection::adopt(made, settings.target);
    if (!c) return c;
    auto& connection = **c;
    connection.prepare(settings.prepare_statements);
    connection.response_timeout(settings.response_timeout);
    // Non-blocking, so that neither sending nor closing ever waits for a server that stopped
    // reading: each round trip waits on the socket within its bound instead.
    if (PQsetnonblocking(connection.conn_, 1) != 0)
        return fail(Error(ErrorKind::store_unavailable,
                          fmt::format("connecting to PostgreSQL ({}): {}", settings.target,
                                      one_line(PQerrorMessage(connection.conn_))))
                        .with_code("08006"));
    std::string setup = "SET default_transaction_isolation = 'read committed'";
    if (settings.statement_timeout) setup += fmt::format("; SET statement_timeout = {}", settings.statement_timeout->count());
    if (auto r = connection.run(setup, "setting up a connection"); !r) return fail(std::move(r).error());
    return c;
}

[[nodiscard]] auto Connection::adopt(PGconn* conn, const std::string& target) -> Result<std::unique_ptr<Connection>> {
    if (conn == nullptr) return fail(ErrorKind::store_unavailable, "connecting to PostgreSQL ({}): out of memory", target);
    std::unique_ptr<PGconn, FinishConnection> owned(conn); // closed if anything below throws
    if (PQstatus(conn) != CONNECTION_OK) {
        const std::string message = one_line(PQerrorMessage(conn));
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
    std::unique_ptr<Connection> c(new Connection(nullptr, target));
    c->conn_ = owned.release();
    return c;
}

auto Connection::setting(std::string_view keyword) const -> std::string {
    std::string value;
    if (PQconninfoOption* options = PQconninfo(conn_)) {
        for (const auto* o = options; o->keyword != nullptr; ++o) {
            if (keyword == o->keyword && o->val != nullptr) value = o->val;
        }
        PQconninfoFree(options);
    }
    return value;
}

auto Connection::failure(PGresult* result, Phase phase, std::string_view doing) const -> Error {
    const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state != nullptr ? state : "";
    const std::string message =
        one_line(result != nullptr && *PQresultErrorMessage(result) != '\0' ? PQresultErrorMessage(result)
                                                                             : PQerrorMessage(conn_));
    const ErrorKind kind = classify(sqlstate, broken(), phase);
    std::string text = fmt::format("{} ({}): {}", doing, target_, message);
    if (kind == ErrorKind::in_doubt) {
        text += sqlstate == "40003"
                    ? "; the server could not tell whether the statement completed: it may or may not have landed"
                    : "; the connection was lost after the commit was sent: it may or may not have landed";
    } else if (kind == ErrorKind::timeout) {
        text += "; the server cancelled the statement (statement_timeout, or a cancel request), which rolled it back";
    }
    return Error(kind, std::move(text)).with_code(sqlstate.empty() ? "08006" : sqlstate);
}

auto Connection::described(std::string_view doing, std::string_view statement) -> std::string {
    return doing.empty() ? fmt::format("running `{}`", statement) : std::string(doing);
}

auto Connection::bound() const -> Bound {
    Bound b;
    if (response_timeout_.count() > 0) b.at = std::chrono::steady_clock::now() + response_timeout_;
    if (const auto deadline = current_deadline(); deadline && (!b.at || *deadline <= *b.at)) {
        b.at = *deadline;
        b.by_deadline = true;
    }
    return b;
}

auto Connection::await_socket(short events, const Bound& b) -> int { return poll_until(PQsocket(conn_), events, b.at); }

auto Connection::unpollable(Phase phase, std::string_view doing) -> Error {
    const int error = errno;
    abandoned_ = true;
    const ErrorKind kind = classify("", true, phase);
    return Error(kind, fmt::format("{} ({}): waiting on the connection failed: {}{}", doing, target_,
                                   std::strerror(error),
                                   kind == ErrorKind::in_doubt ? "; the commit was sent and may or may not have landed"
                                                               : ""))
        .with_code("08006");
}

auto Connection::gave_up(Phase phase, std::string_view doing, const Bound& b) -> Error {
    // Its answer may still come: nothing else may be sent on it, and the pool drops it.
    abandoned_ = true;
    const std::string why = b.by_deadline ? std::string("the call's deadline passed")
                                          : fmt::format("the server did not answer within {} ms "
                                                        "(postgres::Options::response_timeout)",
                                                        response_timeout_.count());
    if (phase == Phase::commit) {
        return Error(ErrorKind::in_doubt,
                     fmt::format("{} ({}): {} while waiting for the server; the commit was sent and may or may not "
                                 "have landed (the connection was closed)",
                                 doing, target_, why))
            .with_code("EVENTCORE_NO_ANSWER");
    }
    return Error(ErrorKind::timeout,
                 fmt::format("{} ({}): {} while waiting for the server; gave up and closed the connection", doing,
                             target_, why))
        .with_code("EVENTCORE_NO_ANSWER");
}

[[nodiscard]] auto Connection::exchange(eventcore::detail::FunctionRef<int()> send, Phase phase, std::string_view doing_text,
                          std::string_view statement, const RowSink* sink) -> Result<OwnedResult> {
    // Without a description, the statement describes itself: formatted only on failure.
    const auto doing = [&] { return described(doing_text, statement); };
    if (abandoned_)
        return fail(Error(ErrorKind::store_unavailable,
                          fmt::format("{} ({}): the connection was given up by an earlier statement (no answer in "
                                      "time, or a failure); nothing was sent",
                                      doing(), target_))
                        .with_code("08003"));
    const Bound b = bound();
    if (b.by_deadline && std::chrono::steady_clock::now() >= *b.at)
        return fail(Error(ErrorKind::timeout,
                          fmt::format("{} ({}): the call's deadline passed before the statement was sent; nothing "
                                      "was sent",
                                      doing(), target_)));
    if (send() == 0) return fail(failure(nullptr, phase, doing()));
    if (sink != nullptr && PQsetSingleRowMode(conn_) == 0) {
        abandoned_ = true; // the statement is on its way, and its answer would come whole
        return fail(Error(ErrorKind::storage,
                          fmt::format("{} ({}): libpq refused single-row mode; the connection was closed", doing(),
                                      target_)));
    }
    // Non-blocking: what does not fit in the socket now is sent as the server reads. Input is
    // read meanwhile, for a server may not read more until its answer is taken.
    for (;;) {
        const int flushed = PQflush(conn_);
        if (flushed == 0) break;
        if (flushed < 0) return fail(failure(nullptr, phase, doing()));
        const int ready = await_socket(POLLIN | POLLOUT, b);
        if (ready < 0) return fail(unpollable(phase, doing()));
        if (ready == 0) return fail(gave_up(phase, doing(), b));
        if (PQconsumeInput(conn_) == 0) return fail(failure(nullptr, phase, doing()));
    }
    OwnedResult kept;
    for (;;) {
        while (PQisBusy(conn_) == 1) {
            const int ready = await_socket(POLLIN, b);
            if (ready < 0) return fail(unpollable(phase, doing()));
            if (ready == 0) return fail(gave_up(phase, doing(), b));
            if (PQconsumeInput(conn_) == 0) {
                // The server's own error, if it sent one before closing, says more.
                if (kept != nullptr && PQresultStatus(kept.get()) == PGRES_FATAL_ERROR) return kept;
                return fail(failure(nullptr, phase, doing()));
            }
        }
        OwnedResult next(PQgetResult(conn_));
        if (next == nullptr) break;
        const auto status = PQresultStatus(next.get());
        if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
            abandoned_ = true; // the connection is inside COPY, which nothing here ends
            return fail(Error(ErrorKind::storage, fmt::format("{} ({}): COPY is not supported here; the connection "
                                                              "was closed",
                                                              doing(), target_)));
        }
        if (status == PGRES_SINGLE_TUPLE) {
            const ResultSet row(std::move(next));
            if (auto taken = (*sink)(row); !taken) {
                abandoned_ = true; // the rest of the result is still coming
                return fail(std::move(taken).error());
            }
            continue;
        }
        // The first error says what failed; later results (of a failed batch) add nothing.
        if (kept == nullptr || PQresultStatus(kept.get()) != PGRES_FATAL_ERROR) kept = std::move(next);
    }
    if (kept == nullptr) return fail(failure(nullptr, phase, doing()));
    return kept;
}

[[nodiscard]] auto Connection::query(const char* sql, Params& params, Phase phase, std::string_view doing) -> Result<ResultSet> {
    params.seal();
    auto result = exchange(
        [&] {
            return PQsendQueryParams(conn_, sql, params.count(), params.types(), params.values(), params.lengths(),
                                     params.formats(), 1);
        },
        phase, doing);
    if (!result) return fail(std::move(result).error());
    if (PQresultStatus(result->get()) != PGRES_TUPLES_OK) return fail(failure(result->get(), phase, doing));
    return ResultSet(std::move(*result));
}

namespace {

constexpr std::array<const char*, prepared_count> prepared_names{
    "eventcore_read_stream", "eventcore_read_streams", "eventcore_append", "eventcore_receipt", "eventcore_head",
    "eventcore_read_all", "eventcore_read_tail"};

} // namespace

[[nodiscard]] auto Connection::query(Prepared which, const std::string& sql, Params& params, Phase phase, std::string_view doing)
    -> Result<ResultSet> {
    auto result = prepared_query(which, sql, params, phase, doing, nullptr);
    if (!result) return fail(std::move(result).error());
    return ResultSet(std::move(*result));
}

[[nodiscard]] auto Connection::stream(const char* sql, Params& params, Phase phase, std::string_view doing, RowSink sink)
    -> Result<void> {
    params.seal();
    auto result = exchange(
        [&] {
            return PQsendQueryParams(conn_, sql, params.count(), params.types(), params.values(), params.lengths(),
                                     params.formats(), 1);
        },
        phase, doing, {}, &sink);
    if (!result) return fail(std::move(result).error());
    if (PQresultStatus(result->get()) != PGRES_TUPLES_OK) return fail(failure(result->get(), phase, doing));
    return {};
}

[[nodiscard]] auto Connection::stream(Prepared which, const std::string& sql, Params& params, Phase phase,
                                      std::string_view doing, RowSink sink) -> Result<void> {
    auto result = prepared_query(which, sql, params, phase, doing, &sink);
    if (!result) return fail(std::move(result).error());
    return {};
}

[[nodiscard]] auto Connection::prepared_query(Prepared which, const std::string& sql, Params& params, Phase phase,
                                              std::string_view doing, const RowSink* sink) -> Result<OwnedResult> {
    const auto unprepared = [&]() -> Result<OwnedResult> {
        params.seal();
        auto result = exchange(
            [&] {
                return PQsendQueryParams(conn_, sql.c_str(), params.count(), params.types(), params.values(),
                                         params.lengths(), params.formats(), 1);
            },
            phase, doing, {}, sink);
        if (!result) return fail(std::move(result).error());
        if (PQresultStatus(result->get()) != PGRES_TUPLES_OK) return fail(failure(result->get(), phase, doing));
        return result;
    };
    if (!prepare_) return unprepared();
    params.seal();
    auto& types = prepared_[static_cast<std::size_t>(which)];
    const char* name = prepared_names[static_cast<std::size_t>(which)];
    const std::span<const unsigned> given(params.types(), static_cast<std::size_t>(params.count()));
    if (types && !std::ranges::equal(*types, given)) return unprepared();
    const auto sqlstate_of = [](PGresult* r) -> std::string_view {
        const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
        return state != nullptr ? state : "";
    };
    for (int attempt = 0;; ++attempt) {
        if (!types) {
            // Nothing is run yet: a lost connection here is never "in doubt".
            auto made = exchange(
                [&] { return PQsendPrepare(conn_, name, sql.c_str(), params.count(), params.types()); }, Phase::read,
                doing);
            if (!made) return fail(std::move(made).error());
            if (PQresultStatus(made->get()) != PGRES_COMMAND_OK) {
                if (attempt == 0 && sqlstate_of(made->get()) == "42P05" && !transaction_failed()) {
                    // The name is taken on this connection (prepared by someone else): replace it.
                    if (auto dropped = run(fmt::format("DEALLOCATE {}", name), doing); !dropped)
                        return fail(std::move(dropped).error());
                    continue;
                }
                return fail(failure(made->get(), Phase::read, doing));
            }
            types.emplace(given.begin(), given.end());
        }
        auto result = exchange(
            [&] {
                return PQsendQueryPrepared(conn_, name, params.count(), params.values(), params.lengths(),
                                           params.formats(), 1);
            },
            phase, doing, {}, sink);
        if (!result) return fail(std::move(result).error());
        if (PQresultStatus(result->get()) == PGRES_TUPLES_OK) return result;
        if (attempt == 0 && sqlstate_of(result->get()) == "26000" && !transaction_failed()) {
            // Someone ran DEALLOCATE (or DISCARD ALL) on this connection: prepare it again. The
            // others may still exist; each is prepared again when it meets the same error.
            types.reset();
            continue;
        }
        return fail(failure(result->get(), phase, doing));
    }
}

auto ResultSet::changed() const -> std::int64_t {
    const char* n = PQcmdTuples(result_.get());
    return n == nullptr || *n == '\0' ? 0 : std::strtoll(n, nullptr, 10);
}

[[nodiscard]] auto Connection::execute(std::string_view sql, Params& params, std::string_view doing) -> Result<ResultSet> {
    params.seal();
    const std::string text(sql);
    auto result = exchange(
        [&] {
            return PQsendQueryParams(conn_, text.c_str(), params.count(), params.types(), params.values(),
                                     params.lengths(), params.formats(), 0);
        },
        Phase::read, doing, sql);
    if (!result) return fail(std::move(result).error());
    const auto status = PQresultStatus(result->get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
        return fail(failure(result->get(), Phase::read, described(doing, sql)));
    return ResultSet(std::move(*result));
}

[[nodiscard]] auto Connection::run(const std::string& sql, std::string_view doing) -> Result<void> {
    auto result = exchange([&] { return PQsendQuery(conn_, sql.c_str()); }, Phase::read, doing);
    if (!result) return fail(std::move(result).error());
    const auto status = PQresultStatus(result->get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return fail(failure(result->get(), Phase::read, doing));
    return {};
}

[[nodiscard]] auto Connection::wait_for_notification(std::chrono::milliseconds timeout, int wake_fd) -> Result<bool> {
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
        std::array<pollfd, 2> fds{pollfd{PQsocket(conn_), POLLIN, 0}, pollfd{wake_fd, POLLIN, 0}};
        const int ready = ::poll(fds.data(), wake_fd >= 0 ? 2 : 1, static_cast<int>(left.count()));
        if (ready < 0 && errno != EINTR) return lost();
        if (ready > 0) {
            if (wake_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
                std::array<char, 64> drained{};
                while (::read(wake_fd, drained.data(), drained.size()) > 0) {
                }
                return true;
            }
            if (PQconsumeInput(conn_) == 0) return lost();
            if (take()) return true;
        }
    }
}

} // namespace eventcore::postgres::detail
