#pragma once
/// \file
/// `SqliteEventStore<E>`: events in one SQLite file, shared by threads and processes.
/// Link `eventcore::sqlite`.

#include <eventcore/codec.hpp>
#include <eventcore/event_store.hpp>
#include <eventcore/json_codec.hpp>
#include <eventcore/sqlite/database.hpp>

#include <fmt/format.h>

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

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
class SqliteEventStore {
public:
    using event_type = E;
    using codec_type = C;

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
        : db_(std::move(db)), codec_(std::move(codec)) {}

    [[nodiscard]] auto database() const noexcept -> const std::shared_ptr<sqlite::Database>& { return db_; }

    template <EventVisitor<E> F>
    auto read_streams(std::span<const StreamId> ids, F&& visit) const -> Result<std::vector<StreamVersion>> {
        Decoder decoder{codec_};
        return db_->read_streams(ids, [&](const sqlite::StoredEvent& stored) { return decoder.visit(stored, visit); });
    }

    template <EventVisitor<E> F>
    auto read_stream(const StreamId& id, StreamVersion from, F&& visit) const -> Result<StreamVersion> {
        Decoder decoder{codec_};
        return db_->read_stream(id, from,
                                [&](const sqlite::StoredEvent& stored) { return decoder.visit(stored, visit); });
    }

    template <EventVisitor<E> F>
    auto read_all(const LogQuery& query, F&& visit) const -> Result<LogPage> {
        Decoder decoder{codec_};
        return db_->read_all(query, [&](const sqlite::StoredEvent& stored) { return decoder.visit(stored, visit); });
    }

    auto append(AppendRequest<E> request) -> Result<CommitReceipt> {
        if (auto valid = detail::validate_request(request); !valid) return fail(std::move(valid).error());
        std::vector<sqlite::EncodedWrite> writes;
        writes.reserve(request.events.size());
        for (auto& w : request.events) {
            if (w.metadata.event_id.is_nil()) w.metadata.event_id = Uuid::v7();
            auto encoded = codec_.encode(w.payload);
            if (!encoded) {
                return fail(Error(ErrorKind::serialization, fmt::format("an event for stream '{}' could not be "
                                                                        "encoded: {}",
                                                                        w.stream, encoded.error().message()))
                                .at(w.stream));
            }
            writes.push_back({&w.stream, std::move(*encoded), &w.metadata});
        }
        return db_->append(request.expectations, writes, request.command_id);
    }

    auto find_commit(const Uuid& command_id) const -> Result<std::optional<CommitReceipt>> {
        return db_->find_commit(command_id);
    }

    auto head() const -> Result<GlobalPosition> { return db_->head(); }

private:
    /// Turns stored events into `RecordedEvent<E>`s, reusing one event's buffers throughout a
    /// read.
    struct Decoder {
        const C& codec;
        RecordedEvent<E> event{};

        template <class F>
        auto visit(const sqlite::StoredEvent& stored, F& visitor) -> Result<void> {
            if (event.stream.view() != stored.stream) {
                auto id = StreamId::parse(stored.stream);
                if (!id)
                    return fail(ErrorKind::storage, "the database holds an invalid stream id: {}", id.error().message());
                event.stream = std::move(*id);
            }
            auto payload = codec.decode(stored.type, stored.payload);
            if (!payload) {
                return fail(Error(ErrorKind::deserialization, fmt::format("stream '{}' version {}: {}", event.stream,
                                                                          stored.version, payload.error().message()))
                                .at(event.stream, stored.version));
            }
            event.version = stored.version;
            event.position = stored.position;
            event.metadata = stored.metadata;
            event.payload = std::move(*payload);
            visitor(std::as_const(event));
            return {};
        }
    };

    std::shared_ptr<sqlite::Database> db_;
    C codec_;
};

} // namespace eventcore
