#pragma once
// RAII over libpq: connections, binary parameters and results, and the mapping of libpq and
// SQLSTATE failures to eventcore errors. Private to the postgres component.

#include <eventcore/detail/function_ref.hpp>
#include <eventcore/error.hpp>
#include <eventcore/metadata.hpp>
#include <eventcore/uuid.hpp>

#include <libpq-fe.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventcore::postgres::detail {

/// Type OIDs of the parameters we send (pg_type.dat).
enum class Oid : unsigned {
    unspecified = 0, // the server infers the type from the statement
    boolean = 16,
    bytea = 17,
    int8 = 20,
    int2 = 21,
    int4 = 23,
    text = 25,
    float8 = 701,
    uuid = 2950,
    boolean_array = 1000,
    bytea_array = 1001,
    int2_array = 1005,
    int4_array = 1007,
    text_array = 1009,
    int8_array = 1016,
    uuid_array = 2951,
};

/// Parameters in binary format: no quoting, no escaping, nothing interpolated into SQL.
class Params {
public:
    void null(Oid type);
    void int8(std::int64_t v);
    void text(std::string_view v);
    void bytea(std::string_view v);
    void uuid(const Uuid& v);
    void float8(double v);
    /// Text of a type the server infers from where the parameter stands (uuid, jsonb,
    /// timestamptz, text, ...), as if it were a quoted literal: sent in text format, so it must
    /// hold no NUL byte (the caller checks).
    void untyped_text(std::string_view v);
    void optional_uuid(const std::optional<Uuid>& v) {
        if (v) {
            uuid(*v);
        } else {
            null(Oid::uuid);
        }
    }

    /// A one-dimensional array, elements added with the `add_*` functions of `ArrayBuilder`.
    class ArrayBuilder {
    public:
        explicit ArrayBuilder(Oid element) : element_(element), body_(header_size, '\0') {}
        void add_int8(std::int64_t v);
        void add_int4(std::int32_t v);
        void add_int2(std::int16_t v);
        void add_bool(bool v);
        void add_bytes(std::string_view v); // text or bytea
        void add_uuid(const Uuid& v);
        void add_null();
        /// The array in binary format; the builder is spent. Elements are written once, after
        /// room for the header, which is filled in here: no copy of the (payload) bytes.
        [[nodiscard]] auto finish() && -> std::string;

    private:
        static constexpr std::size_t header_size = 20; // dimensions, null flag, type, size, lower bound
        Oid element_;
        std::string body_;
        std::int32_t count_ = 0;
        bool has_null_ = false;
    };
    void array(Oid array_type, ArrayBuilder&& builder);

    [[nodiscard]] auto count() const -> int { return static_cast<int>(values_.size()); }
    [[nodiscard]] auto types() const -> const unsigned* { return types_.data(); }
    [[nodiscard]] auto values() const -> const char* const* { return pointers_.data(); }
    [[nodiscard]] auto lengths() const -> const int* { return lengths_.data(); }
    [[nodiscard]] auto formats() const -> const int* { return formats_.data(); }

    /// Fixes the pointers once all parameters are in (the strings do not move afterwards).
    void seal();

private:
    void add(Oid type, std::string bytes, bool is_null = false, int format = 1);

    std::vector<std::string> values_;
    std::vector<bool> nulls_;
    std::vector<unsigned> types_;
    std::vector<int> lengths_;
    std::vector<int> formats_;
    std::vector<const char*> pointers_;
};

/// Frees a libpq result.
struct ClearResult {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using OwnedResult = std::unique_ptr<PGresult, ClearResult>;

/// A result in binary format.
class ResultSet {
public:
    explicit ResultSet(OwnedResult result) noexcept : result_(std::move(result)) {}
    [[nodiscard]] auto rows() const -> int { return PQntuples(result_.get()); }
    [[nodiscard]] auto is_null(int row, int col) const -> bool { return PQgetisnull(result_.get(), row, col) == 1; }
    [[nodiscard]] auto bytes(int row, int col) const -> std::string_view {
        return {PQgetvalue(result_.get(), row, col), static_cast<std::size_t>(PQgetlength(result_.get(), row, col))};
    }
    [[nodiscard]] auto int8(int row, int col) const -> std::int64_t;
    [[nodiscard]] auto int4(int row, int col) const -> std::int32_t;
    [[nodiscard]] auto int2(int row, int col) const -> std::int16_t;
    [[nodiscard]] auto uuid(int row, int col) const -> Uuid;
    [[nodiscard]] auto timestamp(int row, int col) const -> Timestamp;
    /// A jsonb column, without its format version byte.
    [[nodiscard]] auto jsonb(int row, int col) const -> std::string_view;
    [[nodiscard]] auto columns() const -> int { return PQnfields(result_.get()); }
    /// Rows changed by a statement that returns none.
    [[nodiscard]] auto changed() const -> std::int64_t;

private:
    OwnedResult result_;
};

/// What a statement was doing when it failed: a lost connection means "unavailable" before a
/// commit was sent, and "in doubt" once it was.
enum class Phase : unsigned char { read, commit };

/// The kind of error for a failed statement: `sqlstate` as the server reported it (empty when
/// there was no answer), `connection_lost` whether the connection is gone. A serialization failure
/// or deadlock is `transient`; 40003 (statement_completion_unknown) is `in_doubt`; a statement the
/// server cancelled (57014: statement_timeout, a cancel request) is `timeout`, for it rolled back;
/// a lost connection is `in_doubt` once a commit was sent and `store_unavailable` before.
[[nodiscard]] auto classify(std::string_view sqlstate, bool connection_lost, Phase phase) -> ErrorKind;

/// The connection settings every store connection gets unless the caller's connection string
/// sets them: TCP keepalives and `tcp_user_timeout`, so that a dead peer or a dropped network
/// path ends the connection instead of leaving a call waiting for an answer that cannot come.
/// (They apply to TCP connections; libpq ignores them on a unix socket.)
[[nodiscard]] auto default_connection_parameters() -> std::span<const std::pair<const char*, const char*>>;

class Connection;

/// How the store opens its connections.
struct ConnectSettings {
    std::string conninfo; ///< the caller's connection string: its settings win over ours
    std::string target;   ///< `conninfo` without its password, for messages
    std::chrono::seconds connect_timeout{5}; ///< unless `conninfo` sets one
    /// The longest one round trip waits for the server (0: no limit but the caller's deadline).
    std::chrono::milliseconds response_timeout{0};
    /// Set on the connection when given; otherwise the server's (or the role's) setting holds.
    std::optional<std::chrono::milliseconds> statement_timeout{};
    bool prepare_statements = true;
};

/// Opens a connection: the defaults above, then the caller's settings; READ COMMITTED pinned
/// (the store's commits rely on it: a server default of REPEATABLE READ would fail every commit
/// that waited for another's lock), and the statement timeout if any. With a deadline in force on
/// this thread (`current_deadline()`), connecting waits no longer than it.
[[nodiscard]] auto open_connection(const ConnectSettings& settings) -> Result<std::unique_ptr<Connection>>;

/// The statements the store runs for every command, prepared once per connection: the server
/// parses them once, not on every call. Reading a command's streams is not among them: its
/// generic plan, made without the array of ids, walks the log in position order, and at 50
/// streams cost twice the time of the plan made for each call (docs/benchmarks/hot-path.md).
enum class Prepared : unsigned char { read_stream, read_streams, append, receipt, head, read_all, read_tail };
inline constexpr std::size_t prepared_count = 7;

/// One connection, used by one thread at a time.
///
/// Every round trip waits for the server no longer than the earlier of the thread's deadline
/// (`current_deadline()`) and the response timeout. A statement not yet sent when the deadline has
/// passed is not sent (`timeout`). One the server does not answer in time is given up: `in_doubt`
/// in `Phase::commit` (it may still land), `timeout` otherwise; the connection is then unusable
/// (`broken()`), for its answer may still come, and the pool drops it. No cancel request is sent:
/// libpq 15's `PQcancel` waits for the server, which may be the one that stopped answering.
class Connection {
public:
    /// Takes over a connection just made by libpq, or explains why it failed; `target` (the
    /// connection string without its password) names the server in messages.
    [[nodiscard]] static auto adopt(PGconn* conn, const std::string& target) -> Result<std::unique_ptr<Connection>>;

    Connection(const Connection&) = delete;
    auto operator=(const Connection&) -> Connection& = delete;
    ~Connection() { PQfinish(conn_); } // non-blocking: never waits for a server that stopped answering

    /// Runs `sql` with `params`, results in binary. On failure, the error is classified (see
    /// `Phase`) and `broken()` tells whether the connection is still usable.
    [[nodiscard]] auto query(const char* sql, Params& params, Phase phase, std::string_view doing) -> Result<ResultSet>;
    /// As `query`, through a statement this connection prepares at its first use (unless
    /// `prepare(false)`). `sql` and the parameter types must be the same at every call for one
    /// `which`; parameters of other types are sent unprepared.
    [[nodiscard]] auto query(Prepared which, const std::string& sql, Params& params, Phase phase,
                             std::string_view doing) -> Result<ResultSet>;
    /// What `stream` hands each row to: a result of one row (row 0).
    using RowSink = eventcore::detail::FunctionRef<Result<void>(const ResultSet&)>;
    /// As `query`, but the rows go to `sink` one at a time as the server sends them (libpq's
    /// single-row mode), so memory holds one row whatever the size of the result. If `sink`
    /// fails, its error is returned and the connection is given up (the rest of the result is
    /// not read).
    [[nodiscard]] auto stream(const char* sql, Params& params, Phase phase, std::string_view doing, RowSink sink)
        -> Result<void>;
    [[nodiscard]] auto stream(Prepared which, const std::string& sql, Params& params, Phase phase, std::string_view doing,
                              RowSink sink) -> Result<void>;
    /// Runs a caller's statement (read models): results in text, and a statement that returns no
    /// rows is fine too. An empty `doing` names the statement in an error.
    [[nodiscard]] auto execute(std::string_view sql, Params& params, std::string_view doing) -> Result<ResultSet>;
    /// Runs SQL without parameters or results (DDL, transaction control).
    [[nodiscard]] auto run(const std::string& sql, std::string_view doing) -> Result<void>;

    /// Whether `query(Prepared, ...)` prepares its statements (on by default).
    void prepare(bool on) noexcept { prepare_ = on; }
    /// The longest a round trip waits for the server, deadline or not (0: no limit of its own).
    void response_timeout(std::chrono::milliseconds limit) noexcept { response_timeout_ = limit; }

    /// Gives the connection up: `broken()` from now on, so the pool closes it (and the server
    /// ends its session, with any session lock it holds).
    void abandon() noexcept { abandoned_ = true; }
    /// Whether the connection can no longer be used: lost, or given up on while waiting.
    [[nodiscard]] auto broken() const -> bool { return abandoned_ || lost(); }
    /// Whether the connection itself is gone (the server closed it, or the network did), as
    /// opposed to given up on by this side while its answer may still come.
    [[nodiscard]] auto lost() const -> bool { return PQstatus(conn_) != CONNECTION_OK; }

    /// Whether the open transaction has failed (a statement errored): COMMIT would roll it back.
    [[nodiscard]] auto transaction_failed() const -> bool { return PQtransactionStatus(conn_) == PQTRANS_INERROR; }

    /// Whether the connection is outside any transaction block, as a connection given back to
    /// the pool must be.
    [[nodiscard]] auto idle() const -> bool { return PQtransactionStatus(conn_) == PQTRANS_IDLE; }

    /// The value of connection setting `keyword` in effect (`keepalives_idle`, ...); empty if unset.
    [[nodiscard]] auto setting(std::string_view keyword) const -> std::string;

    /// For a connection that sat idle: reads, without blocking, whatever the server sent
    /// meanwhile, and tells whether the connection is still open (a restarted server closes
    /// its connections, and an idle client only notices when it reads).
    [[nodiscard]] auto still_open() -> bool {
        return PQstatus(conn_) == CONNECTION_OK && PQconsumeInput(conn_) == 1 && PQstatus(conn_) == CONNECTION_OK;
    }

    /// Waits up to `timeout` for a notification on a channel this connection listens to, or for
    /// `wake_fd` (if not -1; a non-blocking pipe, drained here) to become readable; whether
    /// either came.
    [[nodiscard]] auto wait_for_notification(std::chrono::milliseconds timeout, int wake_fd = -1) -> Result<bool>;

private:
    Connection(PGconn* conn, std::string target) : conn_(conn), target_(std::move(target)) {}
    auto failure(PGresult* result, Phase phase, std::string_view doing) const -> Error;

    /// When the round trip starting now must end, and which limit that is.
    struct Bound {
        std::optional<std::chrono::steady_clock::time_point> at;
        bool by_deadline = false;
    };
    [[nodiscard]] auto bound() const -> Bound;
    /// Polls the socket for `events` until `bound`: 1 ready, 0 the bound passed, -1 failed (errno).
    [[nodiscard]] auto await_socket(short events, const Bound& bound) -> int;
    /// The error for a socket that cannot be polled (after `await_socket` failed); the connection
    /// is unusable afterwards.
    auto unpollable(Phase phase, std::string_view doing) -> Error;
    /// The error for a round trip given up at its bound; the connection is unusable afterwards.
    auto gave_up(Phase phase, std::string_view doing, const Bound& bound) -> Error;
    /// One round trip: `send` queues the request (a `PQsend*` call), then the answer is awaited
    /// within `bound()`. Returns the first error result or else the last result; fails (classified)
    /// when the request could not be sent, the connection was lost, or the bound passed.
    /// An empty `doing` names `statement` instead.
    /// With `sink`, in single-row mode: each row goes to `sink` as it comes, and the result
    /// returned is the last one (no rows).
    [[nodiscard]] auto exchange(eventcore::detail::FunctionRef<int()> send, Phase phase, std::string_view doing,
                  std::string_view statement = {}, const RowSink* sink = nullptr) -> Result<OwnedResult>;
    [[nodiscard]] auto prepared_query(Prepared which, const std::string& sql, Params& params, Phase phase,
                                      std::string_view doing, const RowSink* sink) -> Result<OwnedResult>;
    static auto described(std::string_view doing, std::string_view statement) -> std::string;

    friend auto open_connection(const ConnectSettings& settings) -> Result<std::unique_ptr<Connection>>;

    PGconn* conn_;
    std::string target_;
    std::chrono::milliseconds response_timeout_{0};
    bool abandoned_ = false;
    /// The parameter types each statement was prepared with; empty: not prepared yet.
    std::array<std::optional<std::vector<unsigned>>, prepared_count> prepared_{};
    bool prepare_ = true;
};

} // namespace eventcore::postgres::detail
