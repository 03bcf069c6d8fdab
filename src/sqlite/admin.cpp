// Administration: listings, statistics, the log with commit boundaries, and imports.

#include "database_impl.hpp"
#include "queries.hpp"

#include <eventcore/detail/custom_metadata.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eventcore::sqlite {

namespace queries = detail::queries;
using detail::micros;
using detail::read_head;
using detail::read_row;
using detail::read_stream_version;
using detail::sqlite_glob;
using detail::step_error;
using detail::stored_stream_id;
using detail::stored_version;
using detail::timestamp;

namespace {

auto sql_limit(std::size_t limit) -> std::int64_t {
    return limit >= static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max()) ? -1
                                                                                      : static_cast<std::int64_t>(limit);
}

[[nodiscard]] auto list_streams_on(Connection& c, const StreamListQuery& query) -> Result<std::vector<StreamSummary>> {
    auto stmt = c.use(queries::list_streams);
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, std::string_view(query.after));
    stmt->bind_blob_or_null(2, query.prefix); // bytes, as in `read_all`
    stmt->bind_copy_or_null(3, sqlite_glob(query.pattern));
    stmt->bind(4, sql_limit(query.limit));
    std::vector<StreamSummary> streams;
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW) {
        auto id = stored_stream_id(stmt->text(0));
        if (!id) return fail(std::move(id).error());
        streams.push_back({std::move(*id), StreamVersion{stmt->uint64(1)}, timestamp(stmt->int64(2))});
    }
    if (rc != SQLITE_DONE) return step_error(c, rc, "listing streams");
    return streams;
}

} // namespace

[[nodiscard]] auto Database::list_streams(const StreamListQuery& query) -> Result<std::vector<StreamSummary>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    return list_streams_on(**c, query);
}

[[nodiscard]] auto Database::statistics() -> Result<StoreStatistics> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());
    StoreStatistics stats;
    {
        auto stmt = (*c)->use(queries::count_events);
        if (!stmt) return fail(std::move(stmt).error());
        if (const int rc = stmt->step(); rc != SQLITE_ROW) return step_error(**c, rc, "counting events");
        stats.events = stmt->uint64(0);
        stats.streams = stmt->uint64(1);
        stats.head = GlobalPosition{stmt->uint64(2)};
        if (!stmt->is_null(3)) {
            stats.first_recorded = timestamp(stmt->int64(3));
            stats.last_recorded = timestamp(stmt->int64(4));
        }
    }
    {
        auto stmt = (*c)->use(queries::database_size);
        if (!stmt) return fail(std::move(stmt).error());
        if (const int rc = stmt->step(); rc != SQLITE_ROW) return step_error(**c, rc, "measuring the database");
        stats.size_bytes = stmt->uint64(0);
    }
    {
        auto stmt = (*c)->use(queries::count_event_types);
        if (!stmt) return fail(std::move(stmt).error());
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) stats.types.push_back({std::string(stmt->text(0)), stmt->uint64(1)});
        if (rc != SQLITE_DONE) return step_error(**c, rc, "counting event types");
    }
    {
        auto stmt = (*c)->use(queries::count_events_by_day);
        if (!stmt) return fail(std::move(stmt).error());
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW)
            stats.days.push_back({std::string(stmt->text(0)), stmt->uint64(1), stmt->uint64(2)});
        if (rc != SQLITE_DONE) return step_error(**c, rc, "counting events by day");
    }
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return stats;
}

namespace {

/// A page of the log, in the connection's current transaction.
[[nodiscard]] auto read_log_on(Connection& c, GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition> {
    auto stmt = c.use(queries::read_log); // the columns of `read_row`, in its order
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, after.value());
    StoredEvent event;
    GlobalPosition last = after;
    GlobalPosition commit_last{};
    std::size_t count = 0;
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW) {
        const GlobalPosition position{stmt->uint64(2)};
        if (count >= limit && position > commit_last) break; // only between commits
        if (auto r = read_row(*stmt, event); !r) return fail(std::move(r).error());
        commit_last = GlobalPosition{stmt->uint64(11)};
        if (auto r = visit(event, commit_last); !r) return fail(std::move(r).error());
        last = position;
        ++count;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return step_error(c, rc, "reading the log");
    return last;
}

} // namespace

[[nodiscard]] auto Database::read_log(GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());
    auto last = read_log_on(**c, after, limit, visit);
    if (!last) return last;
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return last;
}


[[nodiscard]] auto Database::import_events(std::span<const ArchivedEvent> events) -> Result<void> {
    if (events.empty()) return {};
    auto turn = impl_->take_write_turn();
    if (!turn) return fail(std::move(turn).error());
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::immediate);
    if (!tx) return fail(std::move(tx).error());
    auto stored_head = read_head(**c);
    if (!stored_head) return fail(std::move(stored_head).error());
    GlobalPosition head = *stored_head;
    auto checked = eventcore::detail::check_import(
        events, head, [&](const StreamId& id) -> Result<StreamVersion> { return read_stream_version(**c, id); });
    if (!checked) return checked;
    auto stmt = (*c)->use(Sql::insert_event);
    if (!stmt) return fail(std::move(stmt).error());
    for (const ArchivedEvent& e : events) {
        const std::string custom = eventcore::detail::encode_custom(e.metadata.custom);
        stmt->bind(1, e.stream.view()); // in the order of `event_columns`
        stmt->bind(2, e.version.value());
        stmt->bind(3, e.position.value());
        stmt->bind(4, std::string_view(e.type));
        stmt->bind_blob(5, e.payload);
        stmt->bind(6, e.metadata.event_id);
        stmt->bind(7, micros(e.metadata.recorded_at));
        stmt->bind(8, e.metadata.correlation_id);
        stmt->bind(9, e.metadata.causation_id);
        stmt->bind(10, std::string_view(e.metadata.command));
        if (custom.empty()) {
            stmt->bind_null(11);
        } else {
            stmt->bind(11, std::string_view(custom));
        }
        stmt->bind(12, e.commit_last.value());
        const int rc = stmt->step();
        if (rc != SQLITE_DONE)
            return step_error(**c, rc, fmt::format("importing the event at position {}", e.position));
        stmt->reset();
    }
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    {
        std::lock_guard lock(impl_->commits_mutex);
        ++impl_->local_commits;
    }
    impl_->committed.notify_all();
    return {};
}

// A whole-store snapshot for `eventcore verify`.

namespace {

/// Every idempotency record with its stream rows, in the connection's current transaction; and
/// stream rows whose record is gone, as damaged records.
[[nodiscard]] auto commands_on(Connection& c, CommandRecordVisitor visit) -> Result<void> {
    auto stmt = c.use(queries::command_records);
    if (!stmt) return fail(std::move(stmt).error());
    std::optional<CommandRecord> record;
    std::string key; // the command id's bytes as stored
    std::int64_t next_ordinal = 0;
    const auto finish = [&]() -> Result<void> {
        if (!record) return {};
        auto r = visit(*record);
        record.reset();
        return r;
    };
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW) {
        if (!record || stmt->blob(0) != key) {
            if (auto r = finish(); !r) return r;
            key = stmt->blob(0);
            record.emplace();
            record->command_id = stmt->uuid(0);
            next_ordinal = 0;
            if (stmt->int64(7) == 1) {
                record->first_position = GlobalPosition{stmt->uint64(1)};
                record->event_count = stmt->uint64(2);
                record->committed_at = timestamp(stmt->int64(3));
            } else {
                record->damage = "its streams are recorded, but the record itself is missing";
            }
            if (key.size() != 16) record->damage = fmt::format("its command id is {} bytes, not 16", key.size());
        }
        if (stmt->is_null(4)) continue; // a record without stream rows
        if (stmt->int64(4) != next_ordinal && record->damage.empty())
            record->damage = fmt::format("its stream entry {} is missing", next_ordinal);
        next_ordinal = stmt->int64(4) + 1;
        record->streams.emplace_back(std::string(stmt->text(5)), StreamVersion{stmt->uint64(6)});
    }
    if (rc != SQLITE_DONE) return step_error(c, rc, "reading the command records");
    return finish();
}

class Snapshot final : public StoreSnapshot {
public:
    explicit Snapshot(Connection& c) : c_(c) {}

    [[nodiscard]] auto schema_version() -> Result<int> override { return stored_version(c_); }
    [[nodiscard]] auto head() -> Result<GlobalPosition> override { return read_head(c_); }
    [[nodiscard]] auto read_log(GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition> override {
        return read_log_on(c_, after, limit, visit);
    }
    [[nodiscard]] auto list_streams(const StreamListQuery& query) -> Result<std::vector<StreamSummary>> override {
        return list_streams_on(c_, query);
    }
    [[nodiscard]] auto checkpoints() -> Result<std::vector<Checkpoint>> override {
        auto stmt = c_.use(Sql::list_checkpoints);
        if (!stmt) return fail(std::move(stmt).error());
        std::vector<Checkpoint> all;
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW)
            all.push_back({std::string(stmt->text(0)), GlobalPosition{stmt->uint64(1)}, timestamp(stmt->int64(2))});
        if (rc != SQLITE_DONE) return step_error(c_, rc, "listing checkpoints");
        return all;
    }
    [[nodiscard]] auto commands(CommandRecordVisitor visit) -> Result<void> override { return commands_on(c_, visit); }
    [[nodiscard]] auto integrity_check(std::size_t limit) -> Result<std::optional<std::vector<std::string>>> override {
        const auto text = fmt::format(queries::integrity_check, std::max<std::size_t>(limit, 1));
        sqlite3_stmt* raw = nullptr;
        std::vector<std::string> problems;
        int rc = sqlite3_prepare_v2(c_.handle(), text.c_str(), -1, &raw, nullptr);
        const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
        if (rc == SQLITE_OK) {
            while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
                const auto* row = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
                const std::string_view line = row != nullptr ? row : "";
                if (line != "ok") problems.emplace_back(line);
            }
        }
        if (rc != SQLITE_DONE) {
            // A file damaged badly enough stops the check itself: that is its finding.
            auto error = c_.error(rc, "running SQLite's integrity check");
            if (error.code() != "SQLITE_CORRUPT" && error.code() != "SQLITE_NOTADB") return fail(std::move(error));
            problems.push_back(error.message());
        }
        return std::optional<std::vector<std::string>>{std::move(problems)};
    }

private:
    Connection& c_;
};

} // namespace

[[nodiscard]] auto Database::snapshot(SnapshotBody body) -> Result<void> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());
    // A deferred transaction's snapshot starts at its first read: start it now.
    if (auto h = read_head(**c); !h) return fail(std::move(h).error());
    Snapshot snapshot(**c);
    if (auto r = body(snapshot); !r) return r;
    return tx->commit();
}

} // namespace eventcore::sqlite
