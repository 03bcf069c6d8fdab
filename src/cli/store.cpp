#include "store.hpp"

#include <eventcore/postgres/database.hpp>
#include <eventcore/sqlite/database.hpp>

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace eventcore::cli {

auto StoreSpec::describe() const -> std::string {
    if (kind == Kind::sqlite) return fmt::format("sqlite:{}", location);
    return fmt::format("postgres:{} (schema {})", postgres::redact(location), schema);
}

[[nodiscard]] auto parse_store(std::string_view text) -> Result<StoreSpec> {
    StoreSpec spec;
    if (text.starts_with("sqlite:")) {
        spec.kind = StoreSpec::Kind::sqlite;
        spec.location = text.substr(7);
        if (spec.location.empty()) return fail(ErrorKind::validation, "--store sqlite: needs a file path, as in sqlite:events.db");
        // The library's name for a private in-memory database: whatever a command wrote there
        // would be gone when it ends.
        if (spec.location == ":memory:")
            return fail(ErrorKind::validation, "--store sqlite::memory: names a database in memory, which ends with "
                                               "the command: name a file (sqlite:./:memory: for a file of that name)");
        return spec;
    }
    for (std::string_view scheme : {"postgres:", "postgresql:"}) {
        if (text.starts_with(scheme)) {
            spec.kind = StoreSpec::Kind::postgres;
            spec.location = text.substr(scheme.size());
            // `postgres://host/db` is a libpq URI as it stands.
            if (spec.location.starts_with("//")) spec.location = text;
            if (spec.location.empty())
                return fail(ErrorKind::validation, "--store postgres: needs a connection string, as in "
                                                   "postgres:'host=db dbname=events' or postgresql://db/events");
            if (auto valid = postgres::validate_conninfo(spec.location); !valid) {
                return fail(ErrorKind::validation, "--store: {}", valid.error().message());
            }
            return spec;
        }
    }
    // Show at most the scheme: whatever follows may hold a password.
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || colon > 20)
        return fail(ErrorKind::validation, "--store must be sqlite:PATH or postgres:CONNINFO (as in sqlite:events.db "
                                           "or postgres:'host=db dbname=events')");
    return fail(ErrorKind::validation, "--store must be sqlite:PATH or postgres:CONNINFO, not a {} store",
                detail::quote_for_message(text.substr(0, colon)));
}

namespace {

template <class Db>
class StoreOf final : public Store {
public:
    StoreOf(std::shared_ptr<Db> db, StoreSpec::Kind kind, int version) : db_(std::move(db)), kind_(kind), version_(version) {}

    [[nodiscard]] auto kind() const -> StoreSpec::Kind override { return kind_; }
    [[nodiscard]] auto build_schema_version() const -> int override { return version_; }
    [[nodiscard]] auto schema_version() -> Result<int> override { return db_->stored_schema_version(); }
    [[nodiscard]] auto head() -> Result<GlobalPosition> override { return db_->head(); }
    [[nodiscard]] auto list_streams(const StreamListQuery& query) -> Result<std::vector<StreamSummary>> override {
        return db_->list_streams(query);
    }
    [[nodiscard]] auto statistics() -> Result<StoreStatistics> override { return db_->statistics(); }
    [[nodiscard]] auto read_stream(const StreamId& id, StreamVersion from, StoredEventVisitor visit) -> Result<StreamVersion> override {
        return db_->read_stream(id, from, visit);
    }
    [[nodiscard]] auto read_all(const LogQuery& query, StoredEventVisitor visit) -> Result<LogPage> override {
        return db_->read_all(query, visit);
    }
    [[nodiscard]] auto read_log(GlobalPosition after, std::size_t limit, LogRowVisitor visit) -> Result<GlobalPosition> override {
        return db_->read_log(after, limit, visit);
    }
    [[nodiscard]] auto import_events(std::span<const ArchivedEvent> events) -> Result<void> override {
        return db_->import_events(events);
    }
    [[nodiscard]] auto wait_for_events(GlobalPosition after, std::chrono::milliseconds timeout) -> Result<GlobalPosition> override {
        return db_->wait_for_events(after, timeout);
    }
    [[nodiscard]] auto checkpoints() -> Result<std::vector<Checkpoint>> override { return db_->checkpoints(); }
    [[nodiscard]] auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> override {
        return db_->save_checkpoint(name, position);
    }
    [[nodiscard]] auto delete_checkpoint(std::string_view name) -> Result<bool> override { return db_->delete_checkpoint(name); }
    [[nodiscard]] auto lock_projection(std::string_view name, std::chrono::milliseconds wait) -> Result<ProjectionLock> override {
        return db_->lock_projection(name, wait);
    }
    [[nodiscard]] auto snapshot(SnapshotBody body) -> Result<void> override { return db_->snapshot(body); }

private:
    std::shared_ptr<Db> db_;
    StoreSpec::Kind kind_;
    int version_;
};

auto postgres_options(const StoreSpec& spec) -> postgres::Options {
    postgres::Options options;
    options.schema = spec.schema;
    options.pool_size = 2; // a reader, and a waiter for `tail --follow`
    return options;
}

/// Reading must find an up-to-date store: say what to do when it does not.
void require_readable(const StoreSpec& spec, int found, int build) {
    if (found == 0)
        throw Failure{exit_store, fmt::format("{} holds no eventcore store (create one with `eventcore migrate` or "
                                              "`eventcore import`)",
                                              spec.describe())};
    if (found < build)
        throw Failure{exit_store, fmt::format("{} has eventcore schema version {}, older than this tool's ({}); run "
                                              "`eventcore migrate` first",
                                              spec.describe(), found, build)};
}

/// Whether nothing is at `path`: a path that cannot be looked at (a folder without search
/// permission on the way) is for the library to explain.
auto missing(const std::string& path) -> bool {
    struct stat st{};
    return ::stat(path.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
}

} // namespace

auto peek_schema_version(const StoreSpec& spec) -> int {
    if (spec.kind == StoreSpec::Kind::sqlite) {
        if (missing(spec.location)) return 0;
        return need(sqlite::Database::schema_version_at(spec.location));
    }
    return need(postgres::Database::schema_version_at(spec.location, postgres_options(spec)));
}

auto open_store(const StoreSpec& spec, Access access) -> std::unique_ptr<Store> {
    if (spec.kind == StoreSpec::Kind::sqlite) {
        if (access == Access::read && missing(spec.location))
            throw Failure{exit_store, fmt::format("SQLite database '{}' does not exist", spec.location)};
        sqlite::Options options;
        options.max_connections = 2;
        // A file we may not write is still readable.
        options.read_only = access == Access::read && ::access(spec.location.c_str(), W_OK) != 0;
        if (access == Access::read) require_readable(spec, peek_schema_version(spec), sqlite::schema_version);
        auto db = need(sqlite::Database::open(spec.location, options));
        return std::make_unique<StoreOf<sqlite::Database>>(std::move(db), spec.kind, sqlite::schema_version);
    }
    if (auto valid = postgres::validate_schema_name(spec.schema); !valid)
        throw Failure{exit_usage, valid.error().message()};
    if (access == Access::read) require_readable(spec, peek_schema_version(spec), postgres::schema_version);
    auto db = need(postgres::Database::open(spec.location, postgres_options(spec)));
    return std::make_unique<StoreOf<postgres::Database>>(std::move(db), spec.kind, postgres::schema_version);
}

} // namespace eventcore::cli
