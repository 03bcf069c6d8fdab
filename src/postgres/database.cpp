#include <eventcore/postgres/database.hpp>

#include <eventcore/detail/custom_metadata.hpp>
#include <eventcore/detail/stream_index.hpp>

#include "common/connection_pool.hpp"
#include "common/sql_parameters.hpp"
#include "connection.hpp"
#include "schema.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <thread>
#include <variant>
#include <ranges>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace eventcore::postgres {

using detail::Connection;
using detail::Oid;
using detail::Params;
using detail::Phase;
using detail::Prepared;
using detail::ResultSet;

[[nodiscard]] auto validate_schema_name(std::string_view name) -> Result<void> {
    const auto bad = [&](std::string_view why) {
        return fail(ErrorKind::validation, "invalid PostgreSQL schema name {}: {}",
                    eventcore::detail::quote_for_message(name), why);
    };
    if (name.empty()) return bad("it is empty");
    if (name.size() > 63) return bad("it is longer than 63 bytes");
    if (name[0] >= '0' && name[0] <= '9') return bad("it starts with a digit");
    for (const char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return bad("only lower-case letters, digits and underscores are allowed");
    }
    if (name.starts_with("pg_")) return bad("names starting with pg_ are reserved by PostgreSQL");
    return {};
}

auto redact(std::string_view conninfo) -> std::string {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(std::string(conninfo).c_str(), &error);
    if (options == nullptr) {
        PQfreemem(error);
        return "an unparseable connection string";
    }
    std::string out;
    for (const auto* o = options; o->keyword != nullptr; ++o) {
        const std::string_view key = o->keyword;
        if (o->val == nullptr || *o->val == '\0') continue;
        if (key != "host" && key != "hostaddr" && key != "port" && key != "dbname" && key != "user") continue;
        if (!out.empty()) out += ' ';
        out += fmt::format("{}={}", key, o->val);
    }
    PQconninfoFree(options);
    return out.empty() ? "default connection settings" : out;
}

[[nodiscard]] auto validate_conninfo(std::string_view conninfo) -> Result<void> {
    // A string with neither `=` nor a URI scheme is a database name, as for libpq.
    if (conninfo.find('=') == std::string_view::npos && !conninfo.starts_with("postgresql://") &&
        !conninfo.starts_with("postgres://"))
        return {};
    // libpq's own parse errors quote the text around the fault, which may be a password.
    char* message = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(std::string(conninfo).c_str(), &message);
    if (parsed == nullptr) {
        PQfreemem(message);
        return fail(ErrorKind::validation,
                    "the PostgreSQL connection string is malformed: it is neither `key=value ...` nor a "
                    "postgresql:// URI libpq can parse (not repeated here, as it may hold a password)");
    }
    PQconninfoFree(parsed);
    return {};
}

namespace {

auto sql(std::string_view text, std::string_view schema) -> std::string {
    std::string out;
    const std::string quoted = fmt::format("\"{}\"", schema);
    for (std::size_t i = 0; i < text.size();) {
        if (text.substr(i, 3) == "{s}") {
            out += quoted;
            i += 3;
        } else if (text.substr(i, 9) == "{channel}") {
            out += schema;
            i += 9;
        } else {
            out += text[i++];
        }
    }
    return out;
}

/// What a reader of the log may read: events older than the oldest transaction still running in
/// its statement's snapshot. Positions and transaction ids grow together (`take_positions`), so
/// this is a prefix of the log that no running commit can still extend (ADR 8).
constexpr std::string_view settled = "e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())";

/// The head: the last position of that prefix.
constexpr std::string_view settled_head =
    "coalesce((SELECT e.position FROM {s}.events e WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot()) "
    "ORDER BY e.position DESC LIMIT 1), 0)";

constexpr std::string_view event_columns =
    "e.stream_id, e.version, e.position, e.event_type, e.payload, e.event_id, e.recorded_at, e.correlation_id, "
    "e.causation_id, e.command, e.custom, e.commit_last";

/// Reads the event columns starting at `col` into `out`.
[[nodiscard]] auto read_event(const ResultSet& r, int row, int col, StoredEvent& out) -> Result<void> {
    out.stream = r.bytes(row, col);
    out.version = StreamVersion{static_cast<std::uint64_t>(r.int8(row, col + 1))};
    out.position = GlobalPosition{static_cast<std::uint64_t>(r.int8(row, col + 2))};
    out.type = r.bytes(row, col + 3);
    out.payload = r.bytes(row, col + 4);
    out.metadata.event_id = r.uuid(row, col + 5);
    out.metadata.recorded_at = r.timestamp(row, col + 6);
    out.metadata.correlation_id = r.uuid(row, col + 7);
    out.metadata.causation_id = r.uuid(row, col + 8);
    out.metadata.command.assign(r.bytes(row, col + 9));
    out.metadata.custom.clear();
    if (!r.is_null(row, col + 10)) {
        if (auto custom = eventcore::detail::decode_custom(r.jsonb(row, col + 10), out.metadata.custom); !custom) {
            return fail(Error(ErrorKind::deserialization, fmt::format("stream '{}' version {}: {}", out.stream,
                                                                      out.version, custom.error().message()))
                            .at(StreamId::parse(out.stream).value_or(StreamId{}), out.version));
        }
    }
    return {};
}

/// The part of a stream-prefix filter that compares bytes: parameter `$n` holds the whole prefix
/// as bytea when it is not valid UTF-8 (a prefix may end inside a character), and is NULL
/// otherwise; the text parameter beside it holds its valid start (`valid_text_head`), since text
/// parameters must be valid.
auto byte_prefix_filter(std::string_view column, int n) -> std::string {
    return fmt::format("(${0}::bytea IS NULL OR substring(convert_to({1}, 'UTF8') from 1 for length(${0}::bytea)) = "
                       "${0}::bytea)",
                       n, column);
}

/// Binds a stream prefix as the text parameter of its valid start, and the bytea parameter of
/// `byte_prefix_filter` after the others (see there).
void bind_prefix_head(Params& p, std::string_view prefix) { p.text(eventcore::detail::valid_text_head(prefix)); }
void bind_prefix_bytes(Params& p, std::string_view prefix) {
    if (eventcore::detail::valid_text_head(prefix).size() == prefix.size()) {
        p.null(Oid::bytea);
    } else {
        p.bytea(prefix);
    }
}

/// The event type names a filter asks for that a store can hold: one that is not valid text
/// matches nothing, and would make the server refuse the whole query.
auto storable_types(const std::vector<std::string>& types) -> std::vector<std::string_view> {
    std::vector<std::string_view> out;
    for (const auto& t : types) {
        if (!eventcore::detail::text_problem(t)) out.push_back(t);
    }
    return out;
}

[[nodiscard]] auto stored_stream_id(std::string_view text) -> Result<StreamId> {
    auto id = StreamId::parse(text);
    if (!id)
        return fail(Error(ErrorKind::storage, fmt::format("the database holds an invalid stream id: {}", id.error().message()))
                        .with_code("EVENTCORE_STORED_ID_INVALID"));
    return id;
}

/// A receipt from the rows of `append_events` or `receipt` (kinds 0, 1 and 3).
[[nodiscard]] auto receipt_from(const ResultSet& r, std::optional<Uuid> command_id) -> Result<CommitReceipt> {
    CommitReceipt receipt;
    receipt.command_id = command_id;
    std::vector<std::pair<std::int64_t, StreamState>> streams;
    for (int row = 0; row < r.rows(); ++row) {
        switch (r.int2(row, 0)) {
        case 0: {
            auto stream = stored_stream_id(r.bytes(row, 1));
            if (!stream) return fail(std::move(stream).error());
            receipt.events.push_back({std::move(*stream), StreamVersion{static_cast<std::uint64_t>(r.int8(row, 2))},
                                      GlobalPosition{static_cast<std::uint64_t>(r.int8(row, 3))}, r.uuid(row, 4)});
            receipt.committed_at = r.timestamp(row, 5);
            break;
        }
        case 1: {
            auto stream = stored_stream_id(r.bytes(row, 1));
            if (!stream) return fail(std::move(stream).error());
            streams.push_back({r.int8(row, 3),
                               {std::move(*stream), StreamVersion{static_cast<std::uint64_t>(r.int8(row, 2))}}});
            receipt.committed_at = r.timestamp(row, 5);
            break;
        }
        case 3:
            receipt.duplicate = true;
            receipt.committed_at = r.timestamp(row, 5);
            break;
        default: break;
        }
    }
    std::ranges::sort(receipt.events, {}, &WrittenEvent::position);
    std::ranges::sort(streams, {}, &std::pair<std::int64_t, StreamState>::first);
    for (auto& s : streams) receipt.streams.push_back(std::move(s.second));
    return receipt;
}

auto expected_of(std::int16_t kind, std::int64_t version) -> ExpectedVersion {
    switch (kind) {
    case 1: return ExpectedVersion::no_stream();
    case 2: return ExpectedVersion::stream_exists();
    case 3: return ExpectedVersion::exact(StreamVersion{static_cast<std::uint64_t>(version)});
    default: return ExpectedVersion::any();
    }
}

auto kind_of(ExpectedVersion e) -> std::int16_t {
    switch (e.kind()) {
    case ExpectedVersion::Kind::any: return 0;
    case ExpectedVersion::Kind::no_stream: return 1;
    case ExpectedVersion::Kind::stream_exists: return 2;
    case ExpectedVersion::Kind::exact: return 3;
    }
    return 0;
}

auto text_array(auto&& strings) -> Params::ArrayBuilder {
    Params::ArrayBuilder a(Oid::text);
    for (std::string_view s : strings) a.add_bytes(s);
    return a;
}

/// The schema version recorded in `schema` (0 if none). Reads the catalog with an ordinary
/// query, whose snapshot is the statement's: after waiting for the migration lock, it sees what
/// the process that held it committed (`to_regclass` looks through a cache that may not yet).
[[nodiscard]] auto schema_version_in(Connection& c, const std::string& schema) -> Result<int> {
    Params name;
    name.text(schema);
    auto exists = c.query("SELECT count(*)::int4 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND "
                          "tablename = 'schema_version'",
                          name, Phase::read, "reading the schema version");
    if (!exists) return fail(std::move(exists).error());
    if (exists->int4(0, 0) == 0) return 0;
    Params none;
    auto v = c.query(sql("SELECT coalesce(max(version), 0)::int4 FROM {s}.schema_version", schema).c_str(), none,
                     Phase::read, "reading the schema version");
    if (!v) return fail(std::move(v).error());
    return v->int4(0, 0);
}

} // namespace

/// The store's schema is the store's: a caller's transaction (a read model's) may read its
/// tables, but not create anything in it, nor change, lock or drop anything of it. Rather than
/// parse the caller's SQL, look at what its statements did: the locks this transaction holds.
/// Writing or altering a table takes a lock stronger than ACCESS SHARE on it; creating a table,
/// view, index or sequence in a schema takes a lock on the schema itself. (Functions and types
/// created there take neither, and go unnoticed.)
struct SchemaGuard {
    /// Each returns the first thing the transaction did to the schema, as text, or no row; the
    /// second leaves out the checkpoints table, which the store itself may have written.
    std::string any;
    std::string besides_checkpoints;

    /// Built from the schema's relations as they are now: a relation dropped later in a
    /// transaction is no longer in the catalog that transaction sees, but its lock names it.
    [[nodiscard]] static auto make(Connection& c, const std::string& schema) -> Result<SchemaGuard> {
        Params p;
        p.text(schema);
        auto r = c.execute("SELECT n.oid::text, coalesce(string_agg(c.oid::text, ',') FILTER (WHERE c.oid IS NOT NULL), "
                           "'0'), coalesce(string_agg(c.oid::text, ',') FILTER (WHERE c.relname = 'checkpoints' OR "
                           "c.oid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class t ON "
                           "t.oid = i.indrelid WHERE t.relname = 'checkpoints' AND t.relnamespace = n.oid)), '0') "
                           "FROM pg_catalog.pg_namespace n LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid "
                           "WHERE n.nspname = $1 GROUP BY n.oid",
                           p, "reading the store's relations");
        if (!r) return fail(std::move(r).error());
        if (r->rows() != 1) return fail(ErrorKind::storage, "the store's schema \"{}\" is gone", schema);
        const auto text = [&](bool checkpoints_too) {
            return fmt::format(
                "SELECT CASE WHEN l.locktype = 'object' THEN 'create an object' ELSE "
                "format('take %s on %s', l.mode, coalesce(quote_ident(c.relname), 'a relation it dropped')) END "
                "FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_class c ON c.oid = l.relation "
                "WHERE l.pid = pg_catalog.pg_backend_pid() AND l.granted AND ((l.locktype = 'relation' AND "
                "l.mode <> 'AccessShareLock' AND (c.relnamespace = {0} OR l.relation IN ({1})){2}) OR "
                "(l.locktype = 'object' AND l.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND "
                "l.objid = {0})) LIMIT 1",
                r->bytes(0, 0), r->bytes(0, 1),
                checkpoints_too ? std::string() : fmt::format(" AND l.relation NOT IN ({})", r->bytes(0, 2)));
        };
        return SchemaGuard{text(true), text(false)};
    }
};

struct Database::Impl {
    std::string conninfo;
    std::string target; // conninfo without the password
    Options options;
    std::string schema;

    // The statements, with the schema name in place.
    std::string read_streams_sql;
    std::string read_stream_sql;
    std::string read_all_sql;       // a page, filtered
    std::string read_page_sql;      // a page of the whole log: a plain keyset read, prepared
    std::string read_tail_sql;      // the rest of a page's last commit
    std::string append_sql;
    std::string receipt_sql;
    std::string head_sql;

    // The connection that LISTENs for commits. One waiting reader at a time owns it and waits on
    // its socket; the others wait on `notified` for the owner to count a notification, and one
    // of them takes over when the owner leaves.
    std::mutex listen_mutex;
    std::condition_variable notified;
    bool listener_owned = false;
    std::uint64_t notifications = 0;
    std::unique_ptr<Connection> listener; // touched by the owner only

    // Wakes live readers, in this process and every other, after commits: a NOTIFY of its own,
    // outside every commit, sent by one thread per store and coalesced (the commits made while
    // one is on its way are announced by the next). Readers also look again every
    // `poll_interval`, so a lost notification (a writer killed after its commit) delays them by
    // that much at most.
    std::mutex notify_mutex;
    std::condition_variable notify_wanted;
    bool notify_pending = false;
    bool notifier_stopping = false;
    std::thread notifier; // started by the first commit
    // Wakes this process's reader on the listening socket at once (a non-blocking pipe).
    std::array<int, 2> wake_pipe{-1, -1};

    std::optional<eventcore::detail::ConnectionPool<Connection>> pool; // set by open

    Impl() {
        if (::pipe2(wake_pipe.data(), O_NONBLOCK | O_CLOEXEC) != 0) wake_pipe = {-1, -1}; // then: the server's NOTIFY
    }
    Impl(const Impl&) = delete;
    auto operator=(const Impl&) -> Impl& = delete;
    ~Impl() {
        {
            const std::lock_guard lock(notify_mutex);
            notifier_stopping = true;
        }
        notify_wanted.notify_one();
        if (notifier.joinable()) notifier.join();
        for (const int fd : wake_pipe) {
            if (fd >= 0) ::close(fd);
        }
    }

    /// Events were committed: wake the waiting readers of this process now, and those of
    /// every process through the server.
    void committed() {
        {
            const std::lock_guard lock(listen_mutex);
            ++notifications;
        }
        notified.notify_all();
        if (wake_pipe[1] >= 0) (void)!::write(wake_pipe[1], "c", 1); // full: a wake-up is pending anyway
        {
            const std::lock_guard lock(notify_mutex);
            notify_pending = true;
            if (!notifier.joinable()) notifier = std::thread([this] { notify_loop(); });
        }
        notify_wanted.notify_one();
    }

    void notify_loop() {
        std::unique_ptr<Connection> connection;
        const std::string notify = sql("NOTIFY {s}", schema);
        std::unique_lock lock(notify_mutex);
        for (;;) {
            notify_wanted.wait(lock, [&] { return notify_pending || notifier_stopping; });
            if (notifier_stopping) return;
            notify_pending = false;
            lock.unlock();
            if (connection && connection->broken()) connection.reset();
            if (!connection) {
                // Nothing waits on the flush of a notification.
                if (auto c = connect(); c && (*c)->run("SET synchronous_commit = off", "configuring the notifier"))
                    connection = std::move(*c);
            }
            // A failure costs the readers one poll interval; the next commit tries again.
            if (connection && !connection->run(notify, "waking live readers")) connection.reset();
            lock.lock();
        }
    }

    /// What a caller's transaction must not do to the store's schema (see `SchemaGuard`); made
    /// at the first transaction.
    std::mutex guard_mutex;
    std::optional<SchemaGuard> guard;

    [[nodiscard]] auto connect() -> Result<std::unique_ptr<Connection>> {
        return detail::open_connection({.conninfo = conninfo,
                                        .target = target,
                                        .connect_timeout = options.connect_timeout,
                                        .response_timeout = options.response_timeout,
                                        .statement_timeout = options.statement_timeout,
                                        .prepare_statements = options.prepare_statements});
    }

    auto acquire() { return pool->acquire(); }
};

[[nodiscard]] auto Database::open(std::string conninfo, Options options) -> Result<std::shared_ptr<Database>> {
    if (auto valid = validate_schema_name(options.schema); !valid) return fail(std::move(valid).error());
    if (options.pool_size < 1) return fail(ErrorKind::validation, "postgres::Options::pool_size must be at least 1");
    for (const auto& [name, negative] :
         {std::pair{"acquire_timeout", options.acquire_timeout.count() < 0},
          std::pair{"connect_timeout", options.connect_timeout.count() < 0},
          std::pair{"response_timeout", options.response_timeout.count() < 0},
          std::pair{"statement_timeout", options.statement_timeout && options.statement_timeout->count() < 0}}) {
        if (negative) return fail(ErrorKind::validation, "postgres::Options::{} must not be negative", name);
    }

    if (auto valid = validate_conninfo(conninfo); !valid) return fail(std::move(valid).error());
    auto impl = std::make_unique<Impl>();
    impl->target = redact(conninfo);
    impl->conninfo = std::move(conninfo);
    impl->options = options;
    impl->schema = options.schema;
    impl->pool.emplace(
        options.pool_size, options.acquire_timeout,
        eventcore::detail::ConnectionPool<Connection>::Hooks{
            .connect = [&impl = *impl] { return impl.connect(); },
            // A server restart closes idle connections; a client only notices when it reads.
            .still_open = [](Connection& c) { return c.still_open(); },
            .broken = [](const Connection& c) { return c.broken(); },
            // A call cut off at its deadline says nothing of the other connections.
            .lost = [](const Connection& c) { return c.lost(); },
            // Still inside a transaction (a path that failed to end it): closing rolls it back.
            .idle = [](const Connection& c) { return c.idle(); },
            .timed_out =
                [options] {
                    return Error(ErrorKind::timeout,
                                 fmt::format("no PostgreSQL connection became free within {} ms (postgres::Options: "
                                             "pool_size {}, acquire_timeout)",
                                             options.acquire_timeout.count(), options.pool_size));
                },
        });
    const auto& s = impl->schema;
    impl->read_streams_sql = sql(fmt::format("SELECT {} FROM {{s}}.events e WHERE e.stream_id = ANY($1) "
                                             "ORDER BY e.position",
                                             event_columns),
                                 s);
    impl->read_stream_sql =
        sql(fmt::format("SELECT h.version, {} FROM (SELECT coalesce((SELECT st.version FROM {{s}}.streams st "
                        "WHERE st.stream_id = $1), 0) AS version) h LEFT JOIN {{s}}.events e ON e.stream_id = $1 "
                        "AND e.version >= $2 ORDER BY e.version",
                        event_columns),
            s);
    // One statement, one snapshot: the page, the rest of its last commit, and the head.
    impl->read_all_sql = sql(
        fmt::format("WITH page AS (SELECT {0} FROM {{s}}.events e WHERE e.position > $1 AND {2} "
                    "AND ($2 = '' OR starts_with(e.stream_id, $2)) AND ($3::text[] IS NULL OR e.event_type = ANY($3)) "
                    "AND ($5::text IS NULL OR e.stream_id ~ $5) AND {1} "
                    "ORDER BY e.position LIMIT $4), "
                    "tail AS (SELECT {0} FROM {{s}}.events e, (SELECT p.position, p.commit_last FROM page p "
                    "ORDER BY p.position DESC LIMIT 1) l WHERE e.position > l.position AND e.position <= l.commit_last "
                    "AND ($2 = '' OR starts_with(e.stream_id, $2)) AND ($3::text[] IS NULL OR e.event_type = ANY($3)) "
                    "AND ($5::text IS NULL OR e.stream_id ~ $5) AND {1}) "
                    "SELECT {3}, x.* FROM (SELECT 1) h LEFT JOIN "
                    "(SELECT * FROM page UNION ALL SELECT * FROM tail) x ON true ORDER BY x.position",
                    event_columns, byte_prefix_filter("e.stream_id", 6), settled, settled_head),
        s);
    // The settled head is an InitPlan, evaluated once; the page comes in index order.
    impl->read_page_sql = sql(fmt::format("SELECT {2} AS head, {0} FROM {{s}}.events e WHERE e.position > $1 AND {1} "
                                          "ORDER BY e.position LIMIT $2",
                                          event_columns, settled, settled_head),
                              s);
    impl->read_tail_sql = sql(fmt::format("SELECT {0} FROM {{s}}.events e WHERE e.position > $1 AND e.position <= $2 "
                                          "ORDER BY e.position",
                                          event_columns),
                              s);
    impl->append_sql = sql("SELECT * FROM {s}.append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)", s);
    impl->receipt_sql = sql("SELECT * FROM {s}.receipt($1)", s);
    impl->head_sql = sql(fmt::format("SELECT {}", settled_head), s);

    auto db = std::shared_ptr<Database>(new Database(std::move(impl)));
    auto found = db->stored_schema_version();
    if (!found) return fail(std::move(found).error());
    if (*found > schema_version) {
        return fail(Error(ErrorKind::storage,
                          fmt::format("PostgreSQL schema \"{}\" ({}) has eventcore schema version {}, newer than "
                                      "this build supports ({}); use a newer eventcore",
                                      s, db->target(), *found, schema_version))
                        .with_code("EVENTCORE_SCHEMA_TOO_NEW"));
    }
    if (*found < schema_version) {
        auto c = db->impl_->acquire();
        if (!c) return fail(std::move(c).error());
        // Under an advisory lock, so processes starting together migrate once; the version is
        // read again inside it.
        if (auto r = (*c)->run("BEGIN", "starting the migration"); !r) return fail(std::move(r).error());
        Params lock;
        lock.text(fmt::format("eventcore.{}", s));
        if (auto r = (*c)->query("SELECT 1 FROM pg_advisory_xact_lock(hashtextextended($1, 0))", lock, Phase::read,
                                 "taking the migration lock");
            !r) {
            (void)(*c)->run("ROLLBACK", "rolling back");
            return fail(std::move(r).error());
        }
        auto current = schema_version_in(**c, s);
        if (!current) {
            (void)(*c)->run("ROLLBACK", "rolling back");
            return fail(std::move(current).error());
        }
        for (int v = *current; v < schema_version; ++v) {
            auto r = (*c)->run(sql(detail::migrations[v], s), fmt::format("migrating to schema version {}", v + 1));
            if (r) {
                r = (*c)->run(sql(fmt::format("INSERT INTO {{s}}.schema_version (version) VALUES ({})", v + 1), s),
                              "recording the schema version");
            }
            if (!r) {
                (void)(*c)->run("ROLLBACK", "rolling back");
                return fail(std::move(r).error());
            }
        }
        if (auto r = (*c)->run("COMMIT", "committing the migration"); !r) {
            auto error = std::move(r).error();
            if (!(*c)->broken()) return fail(std::move(error));
            // Sent, and no answer: it may have been applied. Opening again finds out.
            return fail(Error(ErrorKind::in_doubt, error.message() + "; the migration may or may not have been "
                                                                     "committed: open the store again")
                            .with_code(error.code()));
        }
    }
    return db;
}

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;

[[nodiscard]] auto Database::options() const noexcept -> const Options& { return impl_->options; }
[[nodiscard]] auto Database::target() const noexcept -> const std::string& { return impl_->target; }

[[nodiscard]] auto Database::stored_schema_version() -> Result<int> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    return schema_version_in(**c, impl_->schema);
}

[[nodiscard]] auto Database::read_streams(std::span<const StreamId> ids, StoredEventVisitor visit)
    -> Result<std::vector<StreamVersion>> {
    std::vector<StreamVersion> versions(ids.size());
    if (ids.empty()) return versions;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    // A loop rather than views::transform, which Clang 14 cannot use with libstdc++ 12.
    Params::ArrayBuilder names(Oid::text);
    for (const auto& id : ids) names.add_bytes(id.view());
    p.array(Oid::text_array, std::move(names));
    // One statement: one snapshot of every stream, row by row, so memory holds one event
    // however long the streams are.
    const eventcore::detail::StreamIndex index(ids);
    StoredEvent event;
    auto r = (*c)->stream(impl_->read_streams_sql.c_str(), p, Phase::read, "reading streams",
                          [&](const ResultSet& row) -> Result<void> {
                              if (auto ok = read_event(row, 0, 0, event); !ok) return ok;
                              if (const auto i = index.find(event.stream); i != eventcore::detail::StreamIndex::npos)
                                  versions[i] = event.version;
                              return visit(event);
                          });
    if (!r) return fail(std::move(r).error());
    for (std::size_t i = 0; i < ids.size(); ++i) versions[i] = versions[index.find(ids[i])]; // repeated ids
    return versions;
}

[[nodiscard]] auto Database::read_stream(const StreamId& id, StreamVersion from, StoredEventVisitor visit) -> Result<StreamVersion> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.text(id.view());
    p.int8(static_cast<std::int64_t>(std::min<std::uint64_t>(from.value(), std::numeric_limits<std::int64_t>::max())));
    // Row by row, as `read_streams`.
    StreamVersion version{};
    StoredEvent event;
    auto r = (*c)->stream(Prepared::read_stream, impl_->read_stream_sql, p, Phase::read, "reading a stream",
                          [&](const ResultSet& row) -> Result<void> {
                              version = StreamVersion{static_cast<std::uint64_t>(row.int8(0, 0))};
                              if (row.is_null(0, 1)) return {};
                              if (auto ok = read_event(row, 0, 1, event); !ok) return ok;
                              return visit(event);
                          });
    if (!r) return fail(std::move(r).error());
    return version;
}

namespace {

/// Pages larger than this are read row by row (libpq's single-row mode), which bounds the memory
/// they take; smaller ones whole, which is faster per row.
constexpr std::size_t streamed_above = 10'000;

/// A page of the whole log, unfiltered.
[[nodiscard]] auto read_page(Database::Impl& impl, Connection& c, const LogQuery& query, StoredEventVisitor visit)
    -> Result<LogPage> {
    LogPage page{.count = 0, .last = query.after, .head = {}};
    Params p;
    p.int8(static_cast<std::int64_t>(std::min<std::uint64_t>(query.after.value(), std::numeric_limits<std::int64_t>::max())));
    p.int8(static_cast<std::int64_t>(std::min<std::size_t>(query.limit, std::numeric_limits<std::int64_t>::max())));
    StoredEvent event;
    GlobalPosition commit_last{};
    const auto take = [&](const ResultSet& r, int row) -> Result<void> {
        page.head = GlobalPosition{static_cast<std::uint64_t>(r.int8(row, 0))};
        if (auto ok = read_event(r, row, 1, event); !ok) return ok;
        commit_last = GlobalPosition{static_cast<std::uint64_t>(r.int8(row, 12))};
        page.last = event.position;
        ++page.count;
        return visit(event);
    };
    if (query.limit > streamed_above) {
        // A large page comes row by row: memory holds one event whatever the page's size.
        auto r = c.stream(Prepared::read_all, impl.read_page_sql, p, Phase::read, "reading the log",
                          [&](const ResultSet& row) { return take(row, 0); });
        if (!r) return fail(std::move(r).error());
    } else {
        auto r = c.query(Prepared::read_all, impl.read_page_sql, p, Phase::read, "reading the log");
        if (!r) return fail(std::move(r).error());
        for (int row = 0; row < r->rows(); ++row) {
            if (auto ok = take(*r, row); !ok) return fail(std::move(ok).error());
        }
    }
    if (page.count == 0) {
        // Read in a later snapshot, so it only says whether there is more: `last` stays.
        Params none;
        auto h = c.query(Prepared::head, impl.head_sql, none, Phase::read, "reading the head position");
        if (!h) return fail(std::move(h).error());
        page.head = GlobalPosition{static_cast<std::uint64_t>(h->int8(0, 0))};
        return page;
    }
    if (page.count < query.limit) {
        page.last = std::max(page.head, query.after); // read to the head
        return page;
    }
    if (commit_last > page.last) {
        // Cut inside its last commit: the rest of it, which is settled as its first event is (one
        // transaction), and visible to any later snapshot.
        Params q;
        q.int8(static_cast<std::int64_t>(page.last.value()));
        q.int8(static_cast<std::int64_t>(commit_last.value()));
        auto tail = c.query(Prepared::read_tail, impl.read_tail_sql, q, Phase::read, "reading the log");
        if (!tail) return fail(std::move(tail).error());
        for (int row = 0; row < tail->rows(); ++row) {
            if (auto ok = read_event(*tail, row, 0, event); !ok) return fail(std::move(ok).error());
            if (auto ok = visit(event); !ok) return fail(std::move(ok).error());
            ++page.count;
        }
    }
    page.last = commit_last;
    return page;
}

} // namespace

[[nodiscard]] auto Database::read_all(const LogQuery& query, StoredEventVisitor visit) -> Result<LogPage> {
    LogPage page{.count = 0, .last = query.after, .head = {}};
    if (query.limit == 0) {
        auto h = head();
        if (!h) return fail(std::move(h).error());
        page.head = *h;
        return page;
    }
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    if (query.stream_prefix.empty() && query.event_types.empty() && !query.stream_pattern)
        return read_page(*impl_, **c, query, visit);
    Params p;
    p.int8(static_cast<std::int64_t>(std::min<std::uint64_t>(query.after.value(), std::numeric_limits<std::int64_t>::max())));
    bind_prefix_head(p, query.stream_prefix);
    if (query.event_types.empty()) {
        p.null(Oid::text_array);
    } else {
        p.array(Oid::text_array, text_array(storable_types(query.event_types))); // none left: matches nothing
    }
    p.int8(static_cast<std::int64_t>(std::min<std::size_t>(query.limit, std::numeric_limits<std::int64_t>::max())));
    if (query.stream_pattern) {
        p.text(query.stream_pattern->to_regex());
    } else {
        p.null(Oid::text);
    }
    bind_prefix_bytes(p, query.stream_prefix);
    // Not prepared: a plan made without the filters' values could read the whole log for a
    // narrow prefix.
    StoredEvent event;
    GlobalPosition commit_last{};
    const auto take = [&](const ResultSet& r, int row) -> Result<void> {
        page.head = GlobalPosition{static_cast<std::uint64_t>(r.int8(row, 0))};
        if (r.is_null(row, 1)) return {};
        if (auto ok = read_event(r, row, 1, event); !ok) return ok;
        commit_last = GlobalPosition{static_cast<std::uint64_t>(r.int8(row, 12))};
        ++page.count;
        return visit(event);
    };
    if (query.limit > streamed_above) {
        auto r = (*c)->stream(impl_->read_all_sql.c_str(), p, Phase::read, "reading the log",
                              [&](const ResultSet& row) { return take(row, 0); });
        if (!r) return fail(std::move(r).error());
    } else {
        auto r = (*c)->query(impl_->read_all_sql.c_str(), p, Phase::read, "reading the log");
        if (!r) return fail(std::move(r).error());
        for (int row = 0; row < r->rows(); ++row) {
            if (auto ok = take(*r, row); !ok) return fail(std::move(ok).error());
        }
    }
    // A full page was cut at the end of its last commit; a short one read to the head.
    page.last = page.count >= query.limit ? commit_last : std::max(page.head, query.after);
    return page;
}

[[nodiscard]] auto Database::append(std::span<const StreamExpectation> expectations, std::span<const EncodedWrite> events,
                      std::optional<Uuid> command_id) -> Result<CommitReceipt> {
    std::vector<std::int32_t> owner(events.size());
    std::vector<bool> written(expectations.size());
    for (std::size_t e = 0; e < events.size(); ++e) {
        std::size_t i = e > 0 && expectations[static_cast<std::size_t>(owner[e - 1]) - 1].stream == *events[e].stream
                            ? static_cast<std::size_t>(owner[e - 1]) - 1
                            : 0;
        while (i < expectations.size() && expectations[i].stream != *events[e].stream) ++i;
        if (i == expectations.size())
            return fail(ErrorKind::validation, "commit writes to stream '{}' without an expectation for it",
                        *events[e].stream);
        owner[e] = static_cast<std::int32_t>(i + 1);
        written[i] = true;
    }

    Params p;
    {
        Params::ArrayBuilder streams(Oid::text), kinds(Oid::int2), expected(Oid::int8), writes(Oid::boolean);
        for (std::size_t i = 0; i < expectations.size(); ++i) {
            streams.add_bytes(expectations[i].stream.view());
            kinds.add_int2(kind_of(expectations[i].expected));
            expected.add_int8(static_cast<std::int64_t>(expectations[i].expected.version().value()));
            writes.add_bool(written[i]);
        }
        p.array(Oid::text_array, std::move(streams));
        p.array(Oid::int2_array, std::move(kinds));
        p.array(Oid::int8_array, std::move(expected));
        p.array(Oid::boolean_array, std::move(writes));
    }
    {
        Params::ArrayBuilder stream_index(Oid::int4), types(Oid::text), payloads(Oid::bytea), ids(Oid::uuid),
            correlation(Oid::uuid), causation(Oid::uuid), commands(Oid::text), custom(Oid::text);
        for (std::size_t e = 0; e < events.size(); ++e) {
            const EventMetadata& m = *events[e].metadata;
            stream_index.add_int4(owner[e]);
            types.add_bytes(events[e].event.type);
            payloads.add_bytes(events[e].event.payload);
            ids.add_uuid(m.event_id);
            correlation.add_uuid(m.correlation_id);
            causation.add_uuid(m.causation_id);
            commands.add_bytes(m.command);
            if (m.custom.empty()) {
                custom.add_null();
            } else {
                custom.add_bytes(eventcore::detail::encode_custom(m.custom));
            }
        }
        p.array(Oid::int4_array, std::move(stream_index));
        p.array(Oid::text_array, std::move(types));
        p.array(Oid::bytea_array, std::move(payloads));
        p.array(Oid::uuid_array, std::move(ids));
        p.array(Oid::uuid_array, std::move(correlation));
        p.array(Oid::uuid_array, std::move(causation));
        p.array(Oid::text_array, std::move(commands));
        p.array(Oid::text_array, std::move(custom));
    }
    p.optional_uuid(command_id);

    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    // One statement in autocommit: the function and the commit, in one round trip.
    auto r = (*c)->query(Prepared::append, impl_->append_sql, p, Phase::commit, "committing");
    if (!r) {
        // The commit function may have failed holding the positions lock (append_events).
        (*c)->abandon();
        return fail(std::move(r).error());
    }

    std::vector<VersionConflict> conflicts;
    for (int row = 0; row < r->rows(); ++row) {
        if (r->int2(row, 0) != 2) continue;
        auto stream = stored_stream_id(r->bytes(row, 1));
        if (!stream) return fail(std::move(stream).error());
        conflicts.push_back({std::move(*stream), expected_of(r->int2(row, 6), r->int8(row, 7)),
                             StreamVersion{static_cast<std::uint64_t>(r->int8(row, 2))}});
    }
    if (!conflicts.empty()) {
        // Report them in the order of the request, as the other stores do.
        std::ranges::sort(conflicts, {}, [&](const VersionConflict& v) {
            return std::ranges::find(expectations, v.stream, &StreamExpectation::stream) - expectations.begin();
        });
        return fail(Error::conflict(std::move(conflicts)));
    }
    auto receipt = receipt_from(*r, command_id);
    if (receipt && !receipt->duplicate && !receipt->events.empty()) impl_->committed();
    return receipt;
}

[[nodiscard]] auto Database::find_commit(const Uuid& command_id) -> Result<std::optional<CommitReceipt>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.uuid(command_id);
    auto r = (*c)->query(Prepared::receipt, impl_->receipt_sql, p, Phase::read, "looking up a command id");
    if (!r) return fail(std::move(r).error());
    if (r->rows() == 0) return std::optional<CommitReceipt>{};
    auto receipt = receipt_from(*r, command_id);
    if (!receipt) return fail(std::move(receipt).error());
    receipt->duplicate = false;
    return std::optional<CommitReceipt>{std::move(*receipt)};
}

[[nodiscard]] auto Database::head() -> Result<GlobalPosition> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params none;
    auto r = (*c)->query(Prepared::head, impl_->head_sql, none, Phase::read, "reading the head position");
    if (!r) return fail(std::move(r).error());
    return GlobalPosition{static_cast<std::uint64_t>(r->int8(0, 0))};
}

namespace {

/// How long a waiting reader goes without looking at the head, notified or not: what a lost
/// notification, or a commit held back behind a long transaction of another program, costs it.
constexpr std::chrono::milliseconds poll_interval{100};

/// The listener's ownership, given up (and the other waiters told) when the owner leaves.
class ListenerOwnership {
public:
    explicit ListenerOwnership(Database::Impl& impl) noexcept : impl_(impl) {}
    ListenerOwnership(const ListenerOwnership&) = delete;
    auto operator=(const ListenerOwnership&) -> ListenerOwnership& = delete;
    ~ListenerOwnership() {
        {
            const std::lock_guard lock(impl_.listen_mutex);
            impl_.listener_owned = false;
        }
        impl_.notified.notify_all();
    }

private:
    Database::Impl& impl_;
};

} // namespace

[[nodiscard]] auto Database::wait_for_events(GlobalPosition after, std::chrono::milliseconds timeout) -> Result<GlobalPosition> {
    auto& impl = *impl_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto time_left = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    };
    std::unique_lock lock(impl.listen_mutex);
    while (impl.listener_owned) {
        // Someone listens already: the count is taken before the look, so a commit after the
        // look moves it.
        const auto seen = impl.notifications;
        lock.unlock();
        auto h = head();
        if (!h || *h > after) return h;
        lock.lock();
        const auto until = std::min(deadline, std::chrono::steady_clock::now() + poll_interval);
        const bool moved = impl.notified.wait_until(lock, until, [&] {
            return impl.notifications != seen || !impl.listener_owned;
        });
        if (!moved && until == deadline) {
            lock.unlock();
            return head();
        }
    }
    // Nobody listens: this reader does, until it returns, however it leaves (an exception too:
    // the others would otherwise wait for an owner that is gone, each until its own timeout).
    impl.listener_owned = true;
    lock.unlock();
    const ListenerOwnership owned(impl);
    if (!impl.listener || impl.listener->broken()) {
        impl.listener.reset();
        auto c = impl.connect();
        if (!c) return fail(std::move(c).error());
        if (auto r = (*c)->run(sql("LISTEN {s}", impl.schema), "listening for commits"); !r)
            return fail(std::move(r).error());
        impl.listener = std::move(*c);
    }
    for (;;) {
        // Listening already, so a commit after this look cannot go unnoticed. A notification
        // may be older than the look (or for a commit before `after`): look again after each.
        auto h = head();
        const auto left = time_left();
        if (!h || *h > after || left.count() <= 0) return h;
        auto woken = impl.listener->wait_for_notification(std::min(left, poll_interval), impl.wake_pipe[0]);
        if (!woken) {
            impl.listener.reset();
            return fail(std::move(woken).error());
        }
        if (*woken) {
            const std::lock_guard relock(impl.listen_mutex);
            ++impl.notifications;
            impl.notified.notify_all();
        }
    }
}

[[nodiscard]] auto Database::save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> {
    if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.text(name);
    p.int8(static_cast<std::int64_t>(position.value()));
    auto r = (*c)->query(sql("INSERT INTO {s}.checkpoints (name, position) VALUES ($1, $2) ON CONFLICT (name) "
                             "DO UPDATE SET position = excluded.position, updated_at = now() RETURNING 1",
                             impl_->schema)
                             .c_str(),
                         p, Phase::read, "saving a checkpoint");
    if (!r) return fail(std::move(r).error());
    return {};
}

[[nodiscard]] auto Database::advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void> {
    if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.text(name);
    p.int8(static_cast<std::int64_t>(from.value()));
    p.int8(static_cast<std::int64_t>(to.value()));
    // One statement: the compare and the set are one.
    auto r = (*c)->query(
        (from == GlobalPosition{}
             ? sql("INSERT INTO {s}.checkpoints AS k (name, position) VALUES ($1, $3) ON CONFLICT (name) DO UPDATE "
                   "SET position = excluded.position, updated_at = now() WHERE k.position = $2 RETURNING 1",
                   impl_->schema)
             : sql("UPDATE {s}.checkpoints SET position = $3, updated_at = now() WHERE name = $1 AND position = $2 "
                   "RETURNING 1",
                   impl_->schema))
            .c_str(),
        p, Phase::read, "moving a checkpoint");
    if (!r) return fail(std::move(r).error());
    if (r->rows() != 1) return fail(eventcore::detail::checkpoint_moved(name, from));
    return {};
}

[[nodiscard]] auto Database::load_checkpoint(std::string_view name) -> Result<std::optional<GlobalPosition>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.text(name);
    auto r = (*c)->query(sql("SELECT position FROM {s}.checkpoints WHERE name = $1", impl_->schema).c_str(), p,
                         Phase::read, "loading a checkpoint");
    if (!r) return fail(std::move(r).error());
    if (r->rows() == 0) return std::optional<GlobalPosition>{};
    return std::optional<GlobalPosition>{GlobalPosition{static_cast<std::uint64_t>(r->int8(0, 0))}};
}

[[nodiscard]] auto Database::checkpoints() -> Result<std::vector<Checkpoint>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params none;
    auto r = (*c)->query(
        sql("SELECT name, position, updated_at FROM {s}.checkpoints ORDER BY name COLLATE \"C\"", impl_->schema).c_str(),
        none, Phase::read, "listing checkpoints");
    if (!r) return fail(std::move(r).error());
    std::vector<Checkpoint> all;
    for (int row = 0; row < r->rows(); ++row)
        all.push_back({std::string(r->bytes(row, 0)), GlobalPosition{static_cast<std::uint64_t>(r->int8(row, 1))},
                       r->timestamp(row, 2)});
    return all;
}

[[nodiscard]] auto Database::delete_checkpoint(std::string_view name) -> Result<bool> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.text(name);
    auto r = (*c)->query(sql("DELETE FROM {s}.checkpoints WHERE name = $1 RETURNING 1", impl_->schema).c_str(), p,
                         Phase::read, "deleting a checkpoint");
    if (!r) return fail(std::move(r).error());
    return r->rows() > 0;
}

namespace {

class Row final : public SqlRow {
public:
    Row(const ResultSet& r, int row) : r_(r), row_(row) {}
    [[nodiscard]] auto columns() const -> int override { return r_.columns(); }
    [[nodiscard]] auto is_null(int column) const -> bool override { return r_.is_null(row_, column); }
    [[nodiscard]] auto integer(int column) const -> std::int64_t override {
        return std::strtoll(std::string(r_.bytes(row_, column)).c_str(), nullptr, 10);
    }
    [[nodiscard]] auto real(int column) const -> double override {
        return std::strtod(std::string(r_.bytes(row_, column)).c_str(), nullptr);
    }
    [[nodiscard]] auto text(int column) const -> std::string_view override { return r_.bytes(row_, column); }

private:
    const ResultSet& r_;
    int row_;
};

/// The key of the transaction-level lock every batch that moves a projection's checkpoint holds
/// until it commits.
auto batch_lock_key(std::string_view schema, std::string_view name) -> std::string {
    return fmt::format("eventcore.projection-batch.{}.{}", schema, name);
}

/// A caller's statements inside one transaction.
class Session final : public SqlSession {
public:
    Session(Connection& c, const std::string& schema, const SchemaGuard& guard)
        : c_(c), schema_(schema), guard_(guard) {}

    [[nodiscard]] auto execute(std::string_view text, std::span<const SqlValue> params) -> Result<std::int64_t> override {
        auto r = run(text, params);
        if (!r) return fail(std::move(r).error());
        return r->changed();
    }

    [[nodiscard]] auto query(std::string_view text, std::span<const SqlValue> params,
               eventcore::detail::FunctionRef<void(const SqlRow&)> row) -> Result<void> override {
        auto r = run(text, params);
        if (!r) return fail(std::move(r).error());
        for (int i = 0; i < r->rows(); ++i) row(Row(*r, i));
        return {};
    }

    [[nodiscard]] auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> override {
        if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
        if (auto clean = check(); !clean) return clean;
        Params p;
        p.text(name);
        p.int8(static_cast<std::int64_t>(position.value()));
        auto r = c_.execute(sql("INSERT INTO {s}.checkpoints (name, position) VALUES ($1, $2) ON CONFLICT (name) "
                                "DO UPDATE SET position = excluded.position, updated_at = now()",
                                schema_),
                            p, "saving a checkpoint");
        if (!r) return fail(std::move(r).error());
        wrote_checkpoints_ = true;
        return {};
    }

    [[nodiscard]] auto advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void> override {
        if (auto valid = eventcore::detail::validate_checkpoint_name(name); !valid) return valid;
        // Held to the end of this transaction, so a runner taking over after a crash can wait
        // for a batch that was already committing (see `Database::lock_projection`). The look at
        // what the batch's statements did to the store's schema comes in the same round trip.
        Params key;
        key.text(batch_lock_key(schema_, name));
        const bool look = unchecked_;
        auto locked = c_.execute(
            look ? fmt::format("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text, ({})", guard())
                 : std::string("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text"),
            key, "locking a projection's checkpoint");
        if (!locked) return fail(std::move(locked).error());
        if (look) {
            unchecked_ = false;
            if (!locked->is_null(0, 1)) return fail(trespass(locked->bytes(0, 1)));
        }
        Params p;
        p.text(name);
        p.int8(static_cast<std::int64_t>(from.value()));
        p.int8(static_cast<std::int64_t>(to.value()));
        auto r = from == GlobalPosition{}
                     ? c_.execute(sql("INSERT INTO {s}.checkpoints (name, position) VALUES ($1, $3) ON CONFLICT (name) "
                                      "DO UPDATE SET position = excluded.position, updated_at = now() "
                                      "WHERE {s}.checkpoints.position = $2",
                                      schema_),
                                  p, "moving a checkpoint")
                     : c_.execute(sql("UPDATE {s}.checkpoints SET position = $3, updated_at = now() "
                                      "WHERE name = $1 AND position = $2",
                                      schema_),
                                  p, "moving a checkpoint");
        if (!r) return fail(std::move(r).error());
        wrote_checkpoints_ = true;
        if (r->changed() != 1) return fail(eventcore::detail::checkpoint_moved(name, from));
        return {};
    }

    [[nodiscard]] auto isolated(eventcore::detail::FunctionRef<Result<void>()> body) -> Result<void> override {
        const auto name = fmt::format("eventcore_{}", ++depth_);
        if (auto r = c_.run(fmt::format("SAVEPOINT {}", name), "starting a savepoint"); !r) return r;
        auto outcome = body();
        if (!outcome) {
            // A failed statement leaves the transaction unusable until rolled back to here.
            if (auto r = c_.run(fmt::format("ROLLBACK TO SAVEPOINT {}", name), "rolling back a savepoint"); !r)
                return r;
        }
        --depth_;
        if (auto r = c_.run(fmt::format("RELEASE SAVEPOINT {}", name), "releasing a savepoint"); !r) return r;
        return outcome;
    }

    /// Whether the caller's statements did something to the store's schema (see `SchemaGuard`);
    /// looks only if statements ran since the last look.
    [[nodiscard]] auto check() -> Result<void> {
        if (!unchecked_) return {};
        Params none;
        auto r = c_.execute(guard(), none, "checking what the transaction did to the store's schema");
        if (!r) return fail(std::move(r).error());
        unchecked_ = false;
        if (r->rows() > 0) return fail(trespass(r->bytes(0, 0)));
        return {};
    }

private:
    [[nodiscard]] auto guard() const -> const std::string& {
        return wrote_checkpoints_ ? guard_.besides_checkpoints : guard_.any;
    }

    [[nodiscard]] auto trespass(std::string_view what) const -> Error {
        return Error(ErrorKind::validation,
                     fmt::format("a statement of the transaction would {} in the store's schema \"{}\", which is "
                                 "reserved for the store's own tables: read models go in another schema (the "
                                 "connection's search_path, public by default) and may only read the store's tables; "
                                 "the transaction was rolled back",
                                 what, schema_))
            .with_code("EVENTCORE_RESERVED_SCHEMA");
    }

    [[nodiscard]] auto run(std::string_view text, std::span<const SqlValue> params) -> Result<ResultSet> {
        // `$N` binds the value of its number: the text must use exactly $1 to $<values>, as
        // SQLite's session insists too, so that one projector runs unchanged on both.
        const auto scan = eventcore::detail::scan_postgres_parameters(text);
        if (scan.too_large) return fail(ErrorKind::validation, "`{}` uses a parameter number above 65535", text);
        if (auto numbered = eventcore::detail::check_parameter_numbers(text, scan.used, params.size()); !numbered)
            return fail(std::move(numbered).error());
        Params p;
        for (std::size_t i = 0; i < params.size(); ++i) {
            if (const auto* t = std::get_if<std::string_view>(&params[i]); t && t->find('\0') != std::string_view::npos)
                return fail(ErrorKind::validation,
                            "the text bound to ${} of `{}` holds a NUL byte, which PostgreSQL text cannot hold", i + 1,
                            text);
            // Text and NULL go untyped, so the server gives them the type their place asks for
            // (a uuid, jsonb or timestamptz column, a nullable integer), as SQLite does.
            std::visit(
                [&](const auto& x) {
                    using T = std::decay_t<decltype(x)>;
                    if constexpr (std::is_same_v<T, std::nullptr_t>) {
                        p.null(Oid::unspecified);
                    } else if constexpr (std::is_same_v<T, std::int64_t>) {
                        p.int8(x);
                    } else if constexpr (std::is_same_v<T, double>) {
                        p.float8(x);
                    } else {
                        p.untyped_text(x);
                    }
                },
                params[i]);
        }
        unchecked_ = true;
        return c_.execute(text, p, {}); // the error names the statement; no message built per call
    }

    Connection& c_;
    const std::string& schema_;
    const SchemaGuard& guard_;
    int depth_ = 0;
    bool unchecked_ = false;         // a caller's statement ran since the last look at the schema
    bool wrote_checkpoints_ = false; // the store's own writes to checkpoints in this transaction
};

} // namespace

[[nodiscard]] auto Database::transaction(eventcore::detail::FunctionRef<Result<void>(SqlSession&)> body) -> Result<void> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    const SchemaGuard* guard = nullptr;
    {
        const std::lock_guard lock(impl_->guard_mutex);
        if (!impl_->guard) {
            auto made = SchemaGuard::make(**c, impl_->schema);
            if (!made) return fail(std::move(made).error());
            impl_->guard = std::move(*made);
        }
        guard = &*impl_->guard;
    }
    if (auto r = (*c)->run("BEGIN", "starting a transaction"); !r) return r;
    Session session(**c, impl_->schema, *guard);
    auto outcome = [&]() -> Result<void> {
        try {
            auto r = body(session);
            if (r && !(*c)->transaction_failed()) return session.check();
            return r;
        } catch (...) {
            (void)(*c)->run("ROLLBACK", "rolling back");
            throw;
        }
    }();
    if (!outcome) {
        (void)(*c)->run("ROLLBACK", "rolling back");
        return outcome;
    }
    if ((*c)->transaction_failed()) {
        // A statement failed and the body went on as if it had not: COMMIT would quietly roll
        // back what the caller believes was written.
        (void)(*c)->run("ROLLBACK", "rolling back");
        return fail(ErrorKind::storage,
                    "a statement of the transaction failed, and the transaction body returned success anyway; "
                    "the transaction was rolled back (return the statement's error, or use SqlSession::isolated)");
    }
    Params none;
    auto committed = (*c)->execute("COMMIT", none, "committing");
    if (!committed) {
        auto error = std::move(committed).error();
        if ((*c)->broken()) {
            return fail(Error(ErrorKind::in_doubt, error.message() + "; the connection was lost while committing: "
                                                                       "the transaction may or may not have landed")
                            .with_code(error.code()));
        }
        return fail(std::move(error));
    }
    return {};
}

namespace {

/// Lets go of a projection lock on the session that holds it. The server would release it when
/// the session ends, but only once it has noticed the client left: a runner started at once
/// would find it still taken. Best effort: a broken session holds nothing any more.
void unlock_projection(Connection& holder, const std::string& key) noexcept {
    try {
        if (holder.broken()) return;
        Params p;
        p.text(key);
        (void)holder.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))::int4", p, Phase::read,
                           "releasing a projection lock");
    } catch (...) { // out of memory: the session's end releases the lock, a moment later
    }
}

} // namespace

[[nodiscard]] auto Database::lock_projection(std::string_view name, std::chrono::milliseconds wait) -> Result<ProjectionLock> {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    auto c = impl_->connect();
    if (!c) return fail(std::move(c).error());
    std::shared_ptr<Connection> holder(std::move(*c));
    const std::string key_text = fmt::format("eventcore.projection.{}.{}", impl_->schema, name);
    Params key;
    key.text(key_text);
    for (;;) {
        auto r = holder->query("SELECT pg_try_advisory_lock(hashtextextended($1, 0))::int4", key, Phase::read,
                               "taking a projection lock");
        if (!r) return fail(std::move(r).error());
        if (r->int4(0, 0) == 1) break;
        if (std::chrono::steady_clock::now() >= deadline)
            return fail(eventcore::detail::projection_running(name, wait));
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    // The lock of a runner that died goes with its session, which may end before the session
    // that was committing its last batch does. Wait for such a batch (it holds the batch lock
    // until its COMMIT is done), so the checkpoint this runner reads next is the final one.
    Params batch;
    batch.text(batch_lock_key(impl_->schema, name));
    for (;;) {
        auto r = holder->query("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))::int4", batch, Phase::read,
                               "waiting for a projection's last batch");
        if (!r) {
            unlock_projection(*holder, key_text);
            return fail(std::move(r).error());
        }
        if (r->int4(0, 0) == 1) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            unlock_projection(*holder, key_text);
            return fail(ErrorKind::timeout,
                        "projection '{}' is still committing a batch of a runner that stopped (waited {} ms)", name,
                        wait.count());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    // Still held: the holder session is alive and its backend holds the lock, in one round trip.
    // A session that ended (a server restart, a proxy's idle timeout, pg_terminate_backend) fails
    // the query, and its lock may be another runner's by now.
    auto check = [holder, key_text, projection = std::string(name)]() -> Result<void> {
        const auto lost = [&](std::string_view why) {
            return fail(Error(ErrorKind::projection,
                              fmt::format("projection '{}' lost its lock: {}; another runner may hold it now",
                                          projection, why))
                            .with_code("EVENTCORE_PROJECTION_LOCK_LOST"));
        };
        if (holder->broken()) return lost("the PostgreSQL session that held it has ended");
        Params p;
        p.text(key_text);
        auto r = holder->query("WITH k AS (SELECT hashtextextended($1, 0) AS key) SELECT count(*)::int4 FROM "
                               "pg_catalog.pg_locks l, k WHERE l.locktype = 'advisory' AND l.pid = "
                               "pg_catalog.pg_backend_pid() AND l.granted AND l.objsubid = 1 AND l.classid = "
                               "((k.key >> 32) & 4294967295)::oid AND l.objid = (k.key & 4294967295)::oid",
                               p, Phase::read, "checking a projection lock");
        if (!r)
            return lost(fmt::format("the PostgreSQL session that held it has ended ({})", r.error().message()));
        if (r->int4(0, 0) == 0) return lost("the PostgreSQL session that held it no longer does");
        return {};
    };
    return ProjectionLock([holder, key_text] { unlock_projection(*holder, key_text); }, std::move(check));
}


// Administration: listings, statistics, the log with commit boundaries, and imports.

namespace {

auto sql_limit(std::size_t limit) -> std::int64_t {
    return static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
}

/// `t` as a timestamptz literal in UTC, exact to the microsecond.
auto timestamptz_text(Timestamp t) -> std::string {
    const auto day = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day ymd{day};
    const std::chrono::hh_mm_ss hms{t - day};
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00", static_cast<int>(ymd.year()),
                       static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                       hms.minutes().count(), hms.seconds().count(), hms.subseconds().count());
}

/// Rolls back unless committed; for the administration functions' own transactions.
class LocalTransaction {
public:
    [[nodiscard]] static auto begin(Connection& c, const char* begin_sql) -> Result<LocalTransaction> {
        if (auto r = c.run(begin_sql, "starting a transaction"); !r) return fail(std::move(r).error());
        return LocalTransaction(c, std::string_view(begin_sql).find("READ ONLY") == std::string_view::npos);
    }
    LocalTransaction(LocalTransaction&& other) noexcept
        : c_(std::exchange(other.c_, nullptr)), writes_(other.writes_) {}
    LocalTransaction(const LocalTransaction&) = delete;
    auto operator=(const LocalTransaction&) -> LocalTransaction& = delete;
    auto operator=(LocalTransaction&&) -> LocalTransaction& = delete;
    ~LocalTransaction() {
        if (c_ != nullptr && !c_->broken()) (void)c_->run("ROLLBACK", "rolling back");
    }
    [[nodiscard]] auto commit() -> Result<void> {
        Connection* c = std::exchange(c_, nullptr);
        Params none;
        auto committed = c->execute("COMMIT", none, "committing");
        if (committed) return {};
        auto error = std::move(committed).error();
        // A read-only transaction has nothing that could land: losing it is only a failure.
        if (writes_ && c->broken()) {
            return fail(Error(ErrorKind::in_doubt, error.message() + "; the connection was lost while committing: "
                                                                       "the transaction may or may not have landed")
                            .with_code(error.code()));
        }
        if (!writes_ && error.is(ErrorKind::in_doubt))
            return fail(Error(ErrorKind::store_unavailable, error.message()).with_code(error.code()));
        return fail(std::move(error));
    }

private:
    LocalTransaction(Connection& c, bool writes) : c_(&c), writes_(writes) {}
    Connection* c_;
    bool writes_;
};

} // namespace

[[nodiscard]] auto Database::schema_version_at(const std::string& conninfo, const Options& options) -> Result<int> {
    if (auto valid = validate_schema_name(options.schema); !valid) return fail(std::move(valid).error());
    if (auto valid = validate_conninfo(conninfo); !valid) return fail(std::move(valid).error());
    Impl impl;
    impl.target = redact(conninfo);
    impl.conninfo = conninfo;
    impl.options = options;
    auto c = impl.connect();
    if (!c) return fail(std::move(c).error());
    return schema_version_in(**c, options.schema);
}

namespace {

[[nodiscard]] auto list_streams_on(Connection& c, const std::string& schema, const StreamListQuery& query)
    -> Result<std::vector<StreamSummary>> {
    Params p;
    p.text(query.after);
    bind_prefix_head(p, query.prefix);
    if (query.pattern) {
        p.text(query.pattern->to_regex());
    } else {
        p.null(Oid::text);
    }
    p.int8(sql_limit(query.limit));
    bind_prefix_bytes(p, query.prefix);
    // The version row says where each stream is (rows at version 0 are only locks of read-only
    // participants); its last event says when it was written.
    auto r = c.query(
        sql(fmt::format("SELECT st.stream_id, st.version, e.recorded_at FROM {{s}}.streams st JOIN {{s}}.events e "
                        "ON e.stream_id = st.stream_id AND e.version = st.version "
                        "WHERE st.version > 0 AND st.stream_id COLLATE \"C\" > $1 "
                        "AND ($2 = '' OR starts_with(st.stream_id, $2)) AND {} "
                        "AND ($3::text IS NULL OR st.stream_id ~ $3) ORDER BY st.stream_id COLLATE \"C\" LIMIT $4",
                        byte_prefix_filter("st.stream_id", 5)),
            schema)
            .c_str(),
        p, Phase::read, "listing streams");
    if (!r) return fail(std::move(r).error());
    std::vector<StreamSummary> streams;
    for (int row = 0; row < r->rows(); ++row) {
        auto id = stored_stream_id(r->bytes(row, 0));
        if (!id) return fail(std::move(id).error());
        streams.push_back(
            {std::move(*id), StreamVersion{static_cast<std::uint64_t>(r->int8(row, 1))}, r->timestamp(row, 2)});
    }
    return streams;
}

} // namespace

[[nodiscard]] auto Database::list_streams(const StreamListQuery& query) -> Result<std::vector<StreamSummary>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    return list_streams_on(**c, impl_->schema, query);
}

[[nodiscard]] auto Database::statistics() -> Result<StoreStatistics> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = LocalTransaction::begin(**c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!tx) return fail(std::move(tx).error());
    const auto& s = impl_->schema;
    StoreStatistics stats;
    {
        Params none;
        auto r = (*c)->query(sql(fmt::format("SELECT count(*)::int8, count(DISTINCT e.stream_id)::int8, "
                                 "{}, min(e.recorded_at), max(e.recorded_at) FROM {{s}}.events e",
                                 settled_head),
                                 s)
                                 .c_str(),
                             none, Phase::read, "counting events");
        if (!r) return fail(std::move(r).error());
        stats.events = static_cast<std::uint64_t>(r->int8(0, 0));
        stats.streams = static_cast<std::uint64_t>(r->int8(0, 1));
        stats.head = GlobalPosition{static_cast<std::uint64_t>(r->int8(0, 2))};
        if (!r->is_null(0, 3)) {
            stats.first_recorded = r->timestamp(0, 3);
            stats.last_recorded = r->timestamp(0, 4);
        }
    }
    {
        Params name;
        name.text(s);
        auto r = (*c)->query("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_catalog.pg_class c "
                             "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
                             name, Phase::read, "measuring the schema");
        if (!r) return fail(std::move(r).error());
        stats.size_bytes = static_cast<std::uint64_t>(r->int8(0, 0));
    }
    {
        Params none;
        auto r = (*c)->query(sql("SELECT e.event_type, count(*)::int8 AS n FROM {s}.events e GROUP BY e.event_type "
                                 "ORDER BY n DESC, e.event_type COLLATE \"C\"",
                                 s)
                                 .c_str(),
                             none, Phase::read, "counting event types");
        if (!r) return fail(std::move(r).error());
        for (int row = 0; row < r->rows(); ++row)
            stats.types.push_back({std::string(r->bytes(row, 0)), static_cast<std::uint64_t>(r->int8(row, 1))});
    }
    {
        Params none;
        auto r = (*c)->query(sql("SELECT to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, "
                                 "count(*)::int8, count(DISTINCT e.commit_last)::int8 FROM {s}.events e "
                                 "GROUP BY day ORDER BY day",
                                 s)
                                 .c_str(),
                             none, Phase::read, "counting events by day");
        if (!r) return fail(std::move(r).error());
        for (int row = 0; row < r->rows(); ++row)
            stats.days.push_back({std::string(r->bytes(row, 0)), static_cast<std::uint64_t>(r->int8(row, 1)),
                                  static_cast<std::uint64_t>(r->int8(row, 2))});
    }
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return stats;
}

namespace {

/// `settled_only`: what a reader of the log may read; otherwise all that the transaction's
/// snapshot sees, which is what `verify` compares with the streams and the command records.
[[nodiscard]] auto read_log_on(Connection& c, const std::string& schema, GlobalPosition after, std::size_t limit,
                               LogRowVisitor visit, bool settled_only = true) -> Result<GlobalPosition> {
    if (limit == 0) return after;
    Params p;
    p.int8(static_cast<std::int64_t>(std::min<std::uint64_t>(after.value(), std::numeric_limits<std::int64_t>::max())));
    p.int8(sql_limit(limit));
    // One statement, one snapshot: the page and the rest of its last commit, settled only, so
    // no later commit can show up before an earlier one.
    auto r = c.query(
        sql(fmt::format("WITH page AS (SELECT {0} FROM {{s}}.events e WHERE e.position > $1 AND {1} "
                        "ORDER BY e.position LIMIT $2) "
                        "SELECT * FROM page UNION ALL SELECT {0} FROM {{s}}.events e, (SELECT max(p.position) AS "
                        "position, max(p.commit_last) AS commit_last FROM page p) l "
                        "WHERE e.position > l.position AND e.position <= l.commit_last ORDER BY 3",
                        event_columns, settled_only ? settled : std::string_view("true")),
            schema)
            .c_str(),
        p, Phase::read, "reading the log");
    if (!r) return fail(std::move(r).error());
    StoredEvent event;
    GlobalPosition last = after;
    for (int row = 0; row < r->rows(); ++row) {
        if (auto ok = read_event(*r, row, 0, event); !ok) return fail(std::move(ok).error());
        if (auto ok = visit(event, GlobalPosition{static_cast<std::uint64_t>(r->int8(row, 11))}); !ok)
            return fail(std::move(ok).error());
        last = event.position;
    }
    return last;
}

} // namespace

[[nodiscard]] auto Database::read_log(GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition> {
    if (limit == 0) return after;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    return read_log_on(**c, impl_->schema, after, limit, visit);
}

[[nodiscard]] auto Database::import_events(std::span<const ArchivedEvent> events) -> Result<void> {
    if (events.empty()) return {};
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    const auto& s = impl_->schema;
    auto tx = LocalTransaction::begin(**c, "BEGIN");
    if (!tx) return fail(std::move(tx).error());
    // The streams first, locked as every commit locks them (append_events), so that an import
    // and live commits cannot deadlock; then their versions and the positions handed out are
    // read and checked; only then are the positions taken, with the transaction id, as a
    // commit takes them. A refused import writes nothing and takes no position.
    std::unordered_map<std::string_view, StreamVersion> current;
    {
        Params p;
        std::vector<std::string_view> ids;
        for (const auto& e : events) {
            if (current.try_emplace(e.stream.view(), StreamVersion{}).second) ids.push_back(e.stream.view());
        }
        p.array(Oid::text_array, text_array(ids));
        Params::ArrayBuilder all_written(Oid::boolean);
        for (std::size_t i = 0; i < ids.size(); ++i) all_written.add_bool(true);
        p.array(Oid::boolean_array, std::move(all_written));
        auto r = (*c)->query(sql("SELECT {s}.lock_streams($1, $2)", s).c_str(), p, Phase::read,
                             "locking the imported streams");
        if (!r) return fail(std::move(r).error());
        Params q;
        q.array(Oid::text_array, text_array(ids));
        auto versions = (*c)->query(
            sql("SELECT st.stream_id, st.version FROM {s}.streams st WHERE st.stream_id = ANY($1)", s).c_str(), q,
            Phase::read, "reading the imported streams' versions");
        if (!versions) return fail(std::move(versions).error());
        for (int row = 0; row < versions->rows(); ++row) {
            if (auto at = current.find(versions->bytes(row, 0)); at != current.end())
                at->second = StreamVersion{static_cast<std::uint64_t>(versions->int8(row, 1))};
        }
    }
    GlobalPosition handed;
    {
        Params none;
        auto r = (*c)->query(
            sql("SELECT CASE WHEN q.is_called THEN q.last_value ELSE q.last_value - 1 END FROM {s}.positions q", s)
                .c_str(),
            none, Phase::read, "reading the positions handed out");
        if (!r) return fail(std::move(r).error());
        handed = GlobalPosition{static_cast<std::uint64_t>(r->int8(0, 0))};
    }
    auto checked = eventcore::detail::check_import(
        events, handed, [&](const StreamId& id) -> Result<StreamVersion> { return current.at(id.view()); });
    if (!checked) return checked;
    {
        Params p;
        p.int8(static_cast<std::int64_t>(events.back().position.value() - events.front().position.value() + 1));
        p.int8(static_cast<std::int64_t>(events.front().position.value()));
        auto r = (*c)->query(sql("SELECT {s}.take_positions($1, $2)", s).c_str(), p, Phase::read,
                             "taking the imported positions");
        if (!r) return fail(std::move(r).error());
        if (r->is_null(0, 0))
            return fail(ErrorKind::validation,
                        "imported event at position {} where the log needs a position after those that commits "
                        "took meanwhile; nothing was imported",
                        events.front().position);
    }

    Params p;
    {
        Params::ArrayBuilder positions(Oid::int8), streams(Oid::text), versions(Oid::int8), types(Oid::text),
            payloads(Oid::bytea), ids(Oid::uuid), times(Oid::text), correlation(Oid::uuid), causation(Oid::uuid),
            commands(Oid::text), custom(Oid::text), commit_last(Oid::int8);
        for (const auto& e : events) {
            positions.add_int8(static_cast<std::int64_t>(e.position.value()));
            streams.add_bytes(e.stream.view());
            versions.add_int8(static_cast<std::int64_t>(e.version.value()));
            types.add_bytes(e.type);
            payloads.add_bytes(e.payload);
            ids.add_uuid(e.metadata.event_id);
            times.add_bytes(timestamptz_text(e.metadata.recorded_at));
            correlation.add_uuid(e.metadata.correlation_id);
            causation.add_uuid(e.metadata.causation_id);
            commands.add_bytes(e.metadata.command);
            if (e.metadata.custom.empty()) {
                custom.add_null();
            } else {
                custom.add_bytes(eventcore::detail::encode_custom(e.metadata.custom));
            }
            commit_last.add_int8(static_cast<std::int64_t>(e.commit_last.value()));
        }
        p.array(Oid::int8_array, std::move(positions));
        p.array(Oid::text_array, std::move(streams));
        p.array(Oid::int8_array, std::move(versions));
        p.array(Oid::text_array, std::move(types));
        p.array(Oid::bytea_array, std::move(payloads));
        p.array(Oid::uuid_array, std::move(ids));
        p.array(Oid::text_array, std::move(times));
        p.array(Oid::uuid_array, std::move(correlation));
        p.array(Oid::uuid_array, std::move(causation));
        p.array(Oid::text_array, std::move(commands));
        p.array(Oid::text_array, std::move(custom));
        p.array(Oid::int8_array, std::move(commit_last));
    }
    auto inserted = (*c)->query(
        sql("WITH x AS (SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[], $5::bytea[], $6::uuid[], "
            "$7::text[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::int8[]) "
            "AS x(pos, sid, ver, ty, pl, eid, rec, corr, caus, cmd, cus, last)), "
            "ins AS (INSERT INTO {s}.events (position, stream_id, version, event_type, payload, event_id, recorded_at, "
            "correlation_id, causation_id, command, custom, commit_last) "
            "SELECT x.pos, x.sid, x.ver, x.ty, x.pl, x.eid, "
            "x.rec::timestamptz, x.corr, x.caus, x.cmd, x.cus::jsonb, x.last "
            "FROM x ORDER BY x.pos RETURNING 1), "
            "st AS (INSERT INTO {s}.streams AS st (stream_id, version) "
            "SELECT x.sid, max(x.ver) FROM x GROUP BY x.sid "
            "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version RETURNING 1) "
            "SELECT (SELECT count(*) FROM ins)::int8, (SELECT count(*) FROM st)::int8",
            s)
            .c_str(),
        p, Phase::read, "importing events");
    if (!inserted) return fail(std::move(inserted).error());
    if (auto r = tx->commit(); !r) return r;
    impl_->committed();
    return {};
}

// A whole-store snapshot for `eventcore verify`.

namespace {

/// A record's streams as `append_events` writes them: a JSON array of [stream id, version].
auto parse_record_streams(std::string_view json, CommandRecord& record) -> bool {
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(json, ec);
    if (ec || !parsed.is_array()) return false;
    for (const auto& item : parsed.get_array()) {
        const auto* pair = item.if_array();
        if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_string()) return false;
        const auto& v = (*pair)[1];
        std::uint64_t version = 0;
        if (v.is_int64() && v.get_int64() >= 0) {
            version = static_cast<std::uint64_t>(v.get_int64());
        } else if (v.is_uint64()) {
            version = v.get_uint64();
        } else {
            return false;
        }
        record.streams.emplace_back(std::string((*pair)[0].get_string()), StreamVersion{version});
    }
    return true;
}

class Snapshot final : public StoreSnapshot {
public:
    Snapshot(Connection& c, const std::string& schema) : c_(c), schema_(schema) {}

    [[nodiscard]] auto schema_version() -> Result<int> override { return schema_version_in(c_, schema_); }
    [[nodiscard]] auto head() -> Result<GlobalPosition> override {
        Params none;
        // All this snapshot sees, as `read_log` reads it here.
        auto r = c_.query(sql("SELECT coalesce(max(e.position), 0) FROM {s}.events e", schema_).c_str(), none,
                          Phase::read, "reading the head");
        if (!r) return fail(std::move(r).error());
        return GlobalPosition{static_cast<std::uint64_t>(r->int8(0, 0))};
    }
    [[nodiscard]] auto read_log(GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition> override {
        return read_log_on(c_, schema_, after, limit, visit, false);
    }
    [[nodiscard]] auto list_streams(const StreamListQuery& query) -> Result<std::vector<StreamSummary>> override {
        return list_streams_on(c_, schema_, query);
    }
    [[nodiscard]] auto checkpoints() -> Result<std::vector<Checkpoint>> override {
        Params none;
        auto r = c_.query(
            sql("SELECT name, position, updated_at FROM {s}.checkpoints ORDER BY name COLLATE \"C\"", schema_).c_str(),
            none, Phase::read, "listing checkpoints");
        if (!r) return fail(std::move(r).error());
        std::vector<Checkpoint> all;
        for (int row = 0; row < r->rows(); ++row)
            all.push_back({std::string(r->bytes(row, 0)), GlobalPosition{static_cast<std::uint64_t>(r->int8(row, 1))},
                           r->timestamp(row, 2)});
        return all;
    }
    [[nodiscard]] auto commands(CommandRecordVisitor visit) -> Result<void> override {
        Params none;
        auto r = c_.query(sql("SELECT c.command_id, c.first_position, c.event_count::int8, c.committed_at, c.streams "
                              "FROM {s}.commands c ORDER BY c.command_id",
                              schema_)
                              .c_str(),
                          none, Phase::read, "reading the command records");
        if (!r) return fail(std::move(r).error());
        for (int row = 0; row < r->rows(); ++row) {
            CommandRecord record;
            record.command_id = r->uuid(row, 0);
            // A command id is claimed and its record completed in one transaction: a snapshot
            // never sees a claim without its commit.
            if (r->is_null(row, 1) || r->is_null(row, 2) || r->is_null(row, 3) || r->is_null(row, 4)) {
                record.damage = "it is unfinished (no position, event count, commit time or streams)";
            } else {
                const auto first = r->int8(row, 1);
                const auto count = r->int8(row, 2);
                if (first < 1 || count < 0) {
                    record.damage = fmt::format("it records position {} and {} events", first, count);
                } else {
                    record.first_position = GlobalPosition{static_cast<std::uint64_t>(first)};
                    record.event_count = static_cast<std::uint64_t>(count);
                }
                record.committed_at = r->timestamp(row, 3);
                if (!parse_record_streams(r->jsonb(row, 4), record) && record.damage.empty())
                    record.damage = fmt::format("its streams are not a JSON array of [stream, version]: {}",
                                                eventcore::detail::quote_for_message(r->jsonb(row, 4)));
            }
            if (auto ok = visit(record); !ok) return ok;
        }
        return {};
    }
    [[nodiscard]] auto integrity_check(std::size_t) -> Result<std::optional<std::vector<std::string>>> override {
        return std::optional<std::vector<std::string>>{};
    }

private:
    Connection& c_;
    const std::string& schema_;
};

} // namespace

[[nodiscard]] auto Database::snapshot(SnapshotBody body) -> Result<void> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    // One snapshot for every statement of the transaction.
    auto tx = LocalTransaction::begin(**c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!tx) return fail(std::move(tx).error());
    Snapshot snapshot(**c, impl_->schema);
    if (auto r = body(snapshot); !r) return r;
    return tx->commit();
}

} // namespace eventcore::postgres
