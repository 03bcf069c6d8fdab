#pragma once
// Private to the PostgreSQL store: `Database::Impl`, and what the parts of `Database` share
// (open.cpp, read.cpp, commit.cpp, live.cpp and admin.cpp).

#include <eventcore/postgres/database.hpp>

#include <eventcore/detail/custom_metadata.hpp>

#include "common/connection_pool.hpp"
#include "connection.hpp"
#include "queries.hpp"
#include "schema.hpp"

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace eventcore::postgres {

namespace detail {

/// Reads the event columns (`queries::event_columns`) starting at `col` into `out`.
[[nodiscard]] inline auto read_event(const ResultSet& r, int row, int col, StoredEvent& out) -> Result<void> {
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
inline auto byte_prefix_filter(std::string_view column, int n) -> std::string {
    return fmt::format(queries::byte_prefix, n, column);
}

/// Binds a stream prefix as the text parameter of its valid start, and the bytea parameter of
/// `byte_prefix_filter` after the others (see there).
inline void bind_prefix_head(Params& p, std::string_view prefix) { p.text(eventcore::detail::valid_text_head(prefix)); }
inline void bind_prefix_bytes(Params& p, std::string_view prefix) {
    if (eventcore::detail::valid_text_head(prefix).size() == prefix.size()) {
        p.null(Oid::bytea);
    } else {
        p.bytea(prefix);
    }
}

[[nodiscard]] inline auto stored_stream_id(std::string_view text) -> Result<StreamId> {
    auto id = StreamId::parse(text);
    if (!id)
        return fail(Error(ErrorKind::storage, fmt::format("the database holds an invalid stream id: {}", id.error().message()))
                        .with_code("EVENTCORE_STORED_ID_INVALID"));
    return id;
}

inline auto text_array(auto&& strings) -> Params::ArrayBuilder {
    Params::ArrayBuilder a(Oid::text);
    for (std::string_view s : strings) a.add_bytes(s);
    return a;
}

/// The schema version recorded in `schema` (0 if none). Reads the catalog with an ordinary
/// query, whose snapshot is the statement's: after waiting for the migration lock, it sees what
/// the process that held it committed (`to_regclass` looks through a cache that may not yet).
[[nodiscard]] auto schema_version_in(Connection& c, const std::string& schema) -> Result<int>;

} // namespace detail

using detail::bind_prefix_bytes;
using detail::bind_prefix_head;
using detail::byte_prefix_filter;
using detail::Connection;
using detail::in_schema;
using detail::Oid;
using detail::Params;
using detail::Phase;
using detail::Prepared;
using detail::read_event;
using detail::ResultSet;
using detail::schema_version_in;
using detail::stored_stream_id;
using detail::text_array;
namespace queries = detail::queries;

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
    [[nodiscard]] static auto make(Connection& c, const std::string& schema) -> Result<SchemaGuard>;
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
    // of them takes over when the owner leaves. So no reader of this process waits while
    // `listener_owned` is false: it is set under `listen_mutex`, and `committed` reads it
    // without.
    std::mutex listen_mutex;
    std::condition_variable notified;
    std::atomic<bool> listener_owned = false;
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

    Impl();
    Impl(const Impl&) = delete;
    auto operator=(const Impl&) -> Impl& = delete;
    ~Impl();

    /// Events were committed: wake the waiting readers of this process now, if there are any,
    /// and those of every process through the server.
    void committed();

    void notify_loop();

    /// What a caller's transaction must not do to the store's schema (see `SchemaGuard`); made
    /// at the first transaction.
    std::mutex guard_mutex;
    std::optional<SchemaGuard> guard;

    [[nodiscard]] auto connect() -> Result<std::unique_ptr<Connection>>;

    auto acquire() { return pool->acquire(); }
};

} // namespace eventcore::postgres
