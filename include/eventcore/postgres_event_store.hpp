#pragma once
/// \file
/// `PostgresEventStore<E>`: events in PostgreSQL, shared by many processes on many machines.
/// Link `eventcore::postgres`.

#include <eventcore/detail/encoded_store.hpp>
#include <eventcore/json_codec.hpp>
#include <eventcore/postgres/database.hpp>

#include <memory>
#include <string>
#include <utility>

namespace eventcore {

/// The store to scale on: one PostgreSQL database shared by any number of application
/// processes. Each commit is one call of a server-side function, in one round trip: it locks
/// every stream of the commit in a fixed order (so commits cannot deadlock), checks every
/// expected version (read-only participants too), takes its positions together with its
/// transaction id, and writes the events; no lock shared by every writer is held through the
/// commit's flush, so commits from many clients share WAL flushes. Readers of the log read only
/// what is older than the oldest running transaction, so they never skip a commit (ADR 8).
/// Reads of a command's streams are one statement: one snapshot.
///
/// A thin typed shell over `postgres::Database`: it encodes events with `C` on the way in and
/// decodes them on the way out. Copies share the connection pool.
///
/// \code
/// auto store = eventcore::PostgresEventStore<BankEvent>::open("host=db.internal dbname=bank user=app").value();
/// eventcore::CommandExecutor executor{store};
/// \endcode
template <class E, Codec<E> C = JsonCodec<E>>
class PostgresEventStore : public detail::EncodedStore<postgres::Database, E, C> {
public:
    /// Connects with `conninfo` (a libpq connection string or URI) and brings the schema up to
    /// date; see `postgres::Database::open` for what is refused.
    [[nodiscard]] static auto open(std::string conninfo, postgres::Options options = {}, C codec = {})
        -> Result<PostgresEventStore> {
        auto db = postgres::Database::open(std::move(conninfo), std::move(options));
        if (!db) return fail(std::move(db).error());
        return PostgresEventStore(std::move(*db), std::move(codec));
    }

    /// A typed view over an open database (several event types may share one schema).
    explicit PostgresEventStore(std::shared_ptr<postgres::Database> db, C codec = {})
        : detail::EncodedStore<postgres::Database, E, C>(std::move(db), std::move(codec)) {}

    [[nodiscard]] auto database() const noexcept -> const std::shared_ptr<postgres::Database>& { return this->core(); }
};

} // namespace eventcore
