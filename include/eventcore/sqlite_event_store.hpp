#pragma once
/// \file
/// `SqliteEventStore<E>`: events in one SQLite file, shared by threads and processes.
/// Link `eventcore::sqlite`.

#include <eventcore/detail/encoded_store.hpp>
#include <eventcore/json_codec.hpp>
#include <eventcore/sqlite/database.hpp>

#include <memory>
#include <string>
#include <utility>

namespace eventcore {

/// The durable embedded store: one SQLite file in WAL mode, written with `BEGIN IMMEDIATE`
/// transactions (one per commit), read in snapshot transactions. Several threads (through a pool
/// of connections) and several processes (through the file) may use it at once; global positions
/// are gap-free in commit order, and a writer killed mid-commit leaves no trace of it.
///
/// A thin typed shell over `sqlite::Database`: it encodes events with `C` on the way in and
/// decodes them on the way out. Copies share the database.
///
/// \code
/// auto store = eventcore::SqliteEventStore<BankEvent>::open("bank.db").value();
/// eventcore::CommandExecutor executor{store};
/// \endcode
template <class E, Codec<E> C = JsonCodec<E>>
class SqliteEventStore : public detail::EncodedStore<sqlite::Database, E, C> {
public:
    /// Opens (creating if needed) the database at `path` (`":memory:"` for a private in-memory
    /// one) and brings its schema up to date; see `sqlite::Database::open` for what is refused.
    [[nodiscard]] static auto open(std::string path, sqlite::Options options = {}, C codec = {})
        -> Result<SqliteEventStore> {
        auto db = sqlite::Database::open(std::move(path), options);
        if (!db) return fail(std::move(db).error());
        return SqliteEventStore(std::move(*db), std::move(codec));
    }

    /// A typed view over an open database (several event types may share one file).
    explicit SqliteEventStore(std::shared_ptr<sqlite::Database> db, C codec = {})
        : detail::EncodedStore<sqlite::Database, E, C>(std::move(db), std::move(codec)) {}

    [[nodiscard]] auto database() const noexcept -> const std::shared_ptr<sqlite::Database>& { return this->core(); }
};

} // namespace eventcore
