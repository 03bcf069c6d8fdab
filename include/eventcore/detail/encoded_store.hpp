#pragma once

#include <eventcore/codec.hpp>
#include <eventcore/detail/stream_index.hpp>
#include <eventcore/event_store.hpp>
#include <eventcore/projection_lock.hpp>
#include <eventcore/sql_session.hpp>
#include <eventcore/stored_event.hpp>

#include <fmt/format.h>

#include <chrono>
#include <concepts>
#include <memory>
#include <string_view>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace eventcore::detail {

/// The typed shell of a durable store: it encodes events with codec `C` on the way into a
/// compiled `Core` (which deals in type names and bytes) and decodes them on the way out. The
/// `EventStore` operations of `SqliteEventStore` and `PostgresEventStore` live here.
template <class Core, class E, Codec<E> C>
class EncodedStore {
public:
    using event_type = E;
    using codec_type = C;

    explicit EncodedStore(std::shared_ptr<Core> core, C codec = {}) : core_(std::move(core)), codec_(std::move(codec)) {}

    template <EventVisitor<E> F>
    [[nodiscard]] auto read_streams(std::span<const StreamId> ids, F&& visit) const -> Result<std::vector<StreamVersion>> {
        // The ids asked for are valid already: events of those streams take them from here
        // rather than parsing the stored id again for every event.
        const StreamIndex known(ids);
        Decoder decoder{codec_, ids, &known};
        return core_->read_streams(ids, [&](const StoredEvent& stored) { return decoder.visit(stored, visit); });
    }

    template <EventVisitor<E> F>
    [[nodiscard]] auto read_stream(const StreamId& id, StreamVersion from, F&& visit) const -> Result<StreamVersion> {
        Decoder decoder{codec_};
        return core_->read_stream(id, from, [&](const StoredEvent& stored) { return decoder.visit(stored, visit); });
    }

    template <EventVisitor<E> F>
    [[nodiscard]] auto read_all(const LogQuery& query, F&& visit) const -> Result<LogPage> {
        Decoder decoder{codec_};
        return core_->read_all(query, [&](const StoredEvent& stored) { return decoder.visit(stored, visit); });
    }

    [[nodiscard]] auto append(AppendRequest<E> request) -> Result<CommitReceipt> {
        if (auto valid = validate_request(request); !valid) return fail(std::move(valid).error());
        std::vector<EncodedWrite> writes;
        writes.reserve(request.events.size());
        for (std::size_t e = 0; e < request.events.size(); ++e) {
            auto& w = request.events[e];
            if (w.metadata.event_id.is_nil()) w.metadata.event_id = Uuid::v7();
            auto encoded = codec_.encode(w.payload);
            if (!encoded) {
                return fail(unencodable_event(w.stream, encoded.error()));
            }
            // A codec's type name goes into the store as text, under the rule the metadata met.
            if (auto valid = validate_event_type(e, w.stream, encoded->type); !valid)
                return fail(std::move(valid).error());
            writes.push_back({&w.stream, std::move(*encoded), &w.metadata});
        }
        return core_->append(request.expectations, writes, request.command_id);
    }

    [[nodiscard]] auto find_commit(const Uuid& command_id) const -> Result<std::optional<CommitReceipt>> {
        return core_->find_commit(command_id);
    }

    [[nodiscard]] auto head() const -> Result<GlobalPosition> { return core_->head(); }

    [[nodiscard]] auto wait_for_events(GlobalPosition after, std::chrono::milliseconds timeout) -> Result<GlobalPosition> {
        return core_->wait_for_events(after, timeout);
    }
    [[nodiscard]] auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> {
        return core_->save_checkpoint(name, position);
    }
    /// Moves a checkpoint only if it is still at `from` (see `LiveEventStore`).
    [[nodiscard]] auto advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void> {
        return core_->advance_checkpoint(name, from, to);
    }
    [[nodiscard]] auto load_checkpoint(std::string_view name) const -> Result<std::optional<GlobalPosition>> {
        return core_->load_checkpoint(name);
    }
    [[nodiscard]] auto checkpoints() const -> Result<std::vector<Checkpoint>> { return core_->checkpoints(); }
    [[nodiscard]] auto delete_checkpoint(std::string_view name) -> Result<bool> { return core_->delete_checkpoint(name); }

    /// Runs `body` in one transaction of the database (see the core's `transaction`).
    template <std::invocable<SqlSession&> F>
    [[nodiscard]] auto transaction(F&& body) -> Result<void> {
        return core_->transaction([&](SqlSession& session) -> Result<void> { return body(session); });
    }

    [[nodiscard]] auto lock_projection(std::string_view name, std::chrono::milliseconds wait) -> Result<ProjectionLock> {
        return core_->lock_projection(name, wait);
    }

protected:
    [[nodiscard]] auto core() const noexcept -> const std::shared_ptr<Core>& { return core_; }

private:
    /// Turns stored events into `RecordedEvent<E>`s, reusing one event's buffers for a whole read.
    struct Decoder {
        const C& codec;
        std::span<const StreamId> known_ids{}; // valid ids the events may carry (the streams read)
        const StreamIndex* known = nullptr;    // over `known_ids`
        StreamId stream{}; // the stream of the last event seen, validated once
        std::optional<RecordedEvent<E>> event{};

        template <class F>
        [[nodiscard]] auto visit(const StoredEvent& stored, F& visitor) -> Result<void> {
            if (stream.view() != stored.stream) {
                const auto at = known != nullptr ? known->find(stored.stream) : StreamIndex::npos;
                if (at != StreamIndex::npos) {
                    stream = known_ids[at]; // reuses the buffer: no allocation once it is large enough
                } else {
                    auto id = StreamId::parse(stored.stream);
                    if (!id) return fail(invalid_stored_stream(id.error()));
                    stream = std::move(*id);
                }
            }
            auto payload = codec.decode(stored.type, stored.payload);
            if (!payload) {
                return fail(undecodable_event(stream, stored.version, payload.error()));
            }
            if (!event) {
                event.emplace(RecordedEvent<E>{stream, stored.version, stored.position, stored.metadata,
                                               std::move(*payload)});
            } else {
                if (event->stream != stream) event->stream = stream;
                event->version = stored.version;
                event->position = stored.position;
                event->metadata = stored.metadata;
                event->payload = std::move(*payload);
            }
            visitor(std::as_const(*event));
            return {};
        }
    };

    std::shared_ptr<Core> core_;
    C codec_;
};

} // namespace eventcore::detail
