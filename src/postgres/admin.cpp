// Administration: listings, statistics, the log with commit boundaries, imports, and a
// whole-store snapshot for `eventcore verify`.

#include "database_impl.hpp"

#include <eventcore/detail/custom_metadata.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace eventcore::postgres {

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
        if (c_ != nullptr && !c_->broken()) (void)c_->run(queries::rollback.data(), "rolling back");
    }
    [[nodiscard]] auto commit() -> Result<void> {
        Connection* c = std::exchange(c_, nullptr);
        Params none;
        auto committed = c->execute(queries::commit, none, "committing");
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
    auto r = c.query(in_schema(fmt::format(queries::list_streams, byte_prefix_filter("st.stream_id", 5)), schema).c_str(),
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
    auto tx = LocalTransaction::begin(**c, queries::begin_snapshot.data());
    if (!tx) return fail(std::move(tx).error());
    const auto& s = impl_->schema;
    StoreStatistics stats;
    {
        Params none;
        auto r = (*c)->query(in_schema(fmt::format(queries::count_events, queries::settled_head), s).c_str(), none,
                             Phase::read, "counting events");
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
        auto r = (*c)->query(queries::schema_size.data(), name, Phase::read, "measuring the schema");
        if (!r) return fail(std::move(r).error());
        stats.size_bytes = static_cast<std::uint64_t>(r->int8(0, 0));
    }
    {
        Params none;
        auto r = (*c)->query(in_schema(queries::count_event_types, s).c_str(), none, Phase::read,
                             "counting event types");
        if (!r) return fail(std::move(r).error());
        for (int row = 0; row < r->rows(); ++row)
            stats.types.push_back({std::string(r->bytes(row, 0)), static_cast<std::uint64_t>(r->int8(row, 1))});
    }
    {
        Params none;
        auto r = (*c)->query(in_schema(queries::count_days, s).c_str(), none, Phase::read, "counting events by day");
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
    auto r = c.query(in_schema(fmt::format(queries::read_log, queries::event_columns,
                                           settled_only ? queries::settled : queries::unsettled_too),
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
    auto tx = LocalTransaction::begin(**c, queries::begin.data());
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
        auto r = (*c)->query(in_schema(queries::lock_streams, s).c_str(), p, Phase::read,
                             "locking the imported streams");
        if (!r) return fail(std::move(r).error());
        Params q;
        q.array(Oid::text_array, text_array(ids));
        auto versions = (*c)->query(in_schema(queries::stream_versions, s).c_str(), q, Phase::read,
                                    "reading the imported streams' versions");
        if (!versions) return fail(std::move(versions).error());
        for (int row = 0; row < versions->rows(); ++row) {
            if (auto at = current.find(versions->bytes(row, 0)); at != current.end())
                at->second = StreamVersion{static_cast<std::uint64_t>(versions->int8(row, 1))};
        }
    }
    GlobalPosition handed;
    {
        Params none;
        auto r = (*c)->query(in_schema(queries::positions_handed, s).c_str(), none, Phase::read,
                             "reading the positions handed out");
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
        auto r = (*c)->query(in_schema(queries::take_positions, s).c_str(), p, Phase::read,
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
    auto inserted = (*c)->query(in_schema(queries::import_events, s).c_str(), p, Phase::read, "importing events");
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
        auto r = c_.query(in_schema(queries::snapshot_head, schema_).c_str(), none, Phase::read, "reading the head");
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
        auto r = c_.query(in_schema(queries::list_checkpoints, schema_).c_str(), none, Phase::read,
                          "listing checkpoints");
        if (!r) return fail(std::move(r).error());
        std::vector<Checkpoint> all;
        for (int row = 0; row < r->rows(); ++row)
            all.push_back({std::string(r->bytes(row, 0)), GlobalPosition{static_cast<std::uint64_t>(r->int8(row, 1))},
                           r->timestamp(row, 2)});
        return all;
    }
    [[nodiscard]] auto commands(CommandRecordVisitor visit) -> Result<void> override {
        Params none;
        auto r = c_.query(in_schema(queries::command_records, schema_).c_str(), none, Phase::read,
                          "reading the command records");
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
    auto tx = LocalTransaction::begin(**c, queries::begin_snapshot.data());
    if (!tx) return fail(std::move(tx).error());
    Snapshot snapshot(**c, impl_->schema);
    if (auto r = body(snapshot); !r) return r;
    return tx->commit();
}

} // namespace eventcore::postgres
