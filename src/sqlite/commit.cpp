// Commits: appending to streams, and the receipts of idempotent commands.

#include "database_impl.hpp"

#include <eventcore/detail/custom_metadata.hpp>

#include <fmt/format.h>

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventcore::sqlite {

using detail::micros;
using detail::read_head;
using detail::step_error;
using detail::stored_stream_id;
using detail::timestamp;

namespace {

[[nodiscard]] auto load_receipt(Connection& c, const Uuid& command_id) -> Result<std::optional<CommitReceipt>> {
    CommitReceipt receipt;
    receipt.command_id = command_id;
    std::uint64_t first = 0;
    std::uint64_t count = 0;
    {
        auto stmt = c.use(Sql::find_command);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, command_id);
        const int rc = stmt->step();
        if (rc == SQLITE_DONE) return std::optional<CommitReceipt>{};
        if (rc != SQLITE_ROW) return step_error(c, rc, "looking up a command id");
        first = stmt->uint64(0);
        count = stmt->uint64(1);
        receipt.committed_at = timestamp(stmt->int64(2));
    }
    {
        auto stmt = c.use(Sql::command_events);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, first);
        stmt->bind(2, first + count);
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) {
            auto stream = stored_stream_id(stmt->text(0));
            if (!stream) return fail(std::move(stream).error());
            receipt.events.push_back(
                {std::move(*stream), StreamVersion{stmt->uint64(1)}, GlobalPosition{stmt->uint64(2)}, stmt->uuid(3)});
        }
        if (rc != SQLITE_DONE) return step_error(c, rc, "reading a command's events");
    }
    {
        auto stmt = c.use(Sql::command_streams);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, command_id);
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) {
            auto stream = stored_stream_id(stmt->text(0));
            if (!stream) return fail(std::move(stream).error());
            receipt.streams.push_back({std::move(*stream), StreamVersion{stmt->uint64(1)}});
        }
        if (rc != SQLITE_DONE) return step_error(c, rc, "reading a command's streams");
    }
    return std::optional<CommitReceipt>{std::move(receipt)};
}

} // namespace

[[nodiscard]] auto Database::append(std::span<const StreamExpectation> expectations, std::span<const EncodedWrite> events,
                      std::optional<Uuid> command_id) -> Result<CommitReceipt> {
    // Each event's expectation, found before taking the write lock.
    std::vector<std::size_t> owner(events.size());
    for (std::size_t e = 0; e < events.size(); ++e) {
        std::size_t i = e > 0 && expectations[owner[e - 1]].stream == *events[e].stream ? owner[e - 1] : 0;
        while (i < expectations.size() && expectations[i].stream != *events[e].stream) ++i;
        if (i == expectations.size())
            return fail(ErrorKind::validation, "commit writes to stream '{}' without an expectation for it",
                        *events[e].stream);
        owner[e] = i;
    }
    std::vector<std::string> custom(events.size());
    for (std::size_t e = 0; e < events.size(); ++e) custom[e] = eventcore::detail::encode_custom(events[e].metadata->custom);

    auto turn = impl_->take_write_turn();
    if (!turn) return fail(std::move(turn).error());
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::immediate);
    if (!tx) return fail(std::move(tx).error());

    if (command_id) {
        auto found = load_receipt(**c, *command_id);
        if (!found) return fail(std::move(found).error());
        if (*found) {
            (*found)->duplicate = true;
            return std::move(**found);
        }
    }

    std::vector<StreamVersion> versions(expectations.size());
    std::vector<VersionConflict> conflicts;
    {
        auto stmt = (*c)->use(Sql::stream_version);
        if (!stmt) return fail(std::move(stmt).error());
        for (std::size_t i = 0; i < expectations.size(); ++i) {
            stmt->bind(1, expectations[i].stream.view());
            const int rc = stmt->step();
            if (rc != SQLITE_ROW) return step_error(**c, rc, "reading a stream version");
            versions[i] = StreamVersion{stmt->uint64(0)};
            stmt->reset();
            if (!expectations[i].expected.matches(versions[i]))
                conflicts.push_back({expectations[i].stream, expectations[i].expected, versions[i]});
        }
    }
    if (!conflicts.empty()) return fail(Error::conflict(std::move(conflicts)));

    CommitReceipt receipt;
    receipt.command_id = command_id;
    receipt.committed_at = now();
    receipt.events.reserve(events.size());
    auto stored_head = read_head(**c);
    if (!stored_head) return fail(std::move(stored_head).error());
    GlobalPosition head = *stored_head;
    const GlobalPosition first = head.next();
    const GlobalPosition last{head.value() + events.size()};
    {
        auto stmt = (*c)->use(Sql::insert_event);
        if (!stmt) return fail(std::move(stmt).error());
        for (std::size_t e = 0; e < events.size(); ++e) {
            const EncodedWrite& w = events[e];
            const EventMetadata& m = *w.metadata;
            versions[owner[e]] = versions[owner[e]].next();
            head = head.next();
            stmt->bind(1, w.stream->view()); // in the order of `event_columns`
            stmt->bind(2, versions[owner[e]].value());
            stmt->bind(3, head.value());
            stmt->bind(4, w.event.type);
            stmt->bind_blob(5, w.event.payload);
            stmt->bind(6, m.event_id);
            stmt->bind(7, micros(receipt.committed_at));
            stmt->bind(8, m.correlation_id);
            stmt->bind(9, m.causation_id);
            stmt->bind(10, std::string_view(m.command));
            if (custom[e].empty()) {
                stmt->bind_null(11);
            } else {
                stmt->bind(11, std::string_view(custom[e]));
            }
            stmt->bind(12, last.value());
            const int rc = stmt->step();
            if (rc != SQLITE_DONE) return step_error(**c, rc, fmt::format("appending to stream '{}'", *w.stream));
            stmt->reset();
            receipt.events.push_back({*w.stream, versions[owner[e]], head, m.event_id});
        }
    }
    receipt.streams.reserve(expectations.size());
    for (std::size_t i = 0; i < expectations.size(); ++i) receipt.streams.push_back({expectations[i].stream, versions[i]});

    if (command_id) {
        auto stmt = (*c)->use(Sql::insert_command);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, *command_id);
        stmt->bind(2, first.value());
        stmt->bind(3, std::uint64_t{events.size()});
        stmt->bind(4, micros(receipt.committed_at));
        if (const int rc = stmt->step(); rc != SQLITE_DONE) return step_error(**c, rc, "recording the command id");
        auto streams = (*c)->use(Sql::insert_command_stream);
        if (!streams) return fail(std::move(streams).error());
        for (std::size_t i = 0; i < receipt.streams.size(); ++i) {
            streams->bind(1, *command_id);
            streams->bind(2, std::uint64_t{i});
            streams->bind(3, receipt.streams[i].stream.view());
            streams->bind(4, receipt.streams[i].version.value());
            if (const int rc = streams->step(); rc != SQLITE_DONE)
                return step_error(**c, rc, "recording the command's streams");
            streams->reset();
        }
    }
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    if (!events.empty()) {
        {
            std::lock_guard lock(impl_->commits_mutex);
            ++impl_->local_commits;
        }
        impl_->committed.notify_all();
    }
    return receipt;
}

[[nodiscard]] auto Database::find_commit(const Uuid& command_id) -> Result<std::optional<CommitReceipt>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());
    auto found = load_receipt(**c, command_id);
    if (!found) return found;
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return found;
}

} // namespace eventcore::sqlite
