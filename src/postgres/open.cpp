// Opening a store: connection settings, the schema version, migrations, and the guard of the
// store's schema.

#include "database_impl.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace eventcore::postgres {

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

namespace detail {

[[nodiscard]] auto schema_version_in(Connection& c, const std::string& schema) -> Result<int> {
    Params name;
    name.text(schema);
    auto exists = c.query(queries::schema_version_table.data(), name, Phase::read, "reading the schema version");
    if (!exists) return fail(std::move(exists).error());
    if (exists->int4(0, 0) == 0) return 0;
    Params none;
    auto v = c.query(in_schema(queries::stored_schema_version, schema).c_str(), none, Phase::read,
                     "reading the schema version");
    if (!v) return fail(std::move(v).error());
    return v->int4(0, 0);
}

} // namespace detail

[[nodiscard]] auto SchemaGuard::make(Connection& c, const std::string& schema) -> Result<SchemaGuard> {
    Params p;
    p.text(schema);
    auto r = c.execute(queries::schema_relations, p, "reading the store's relations");
    if (!r) return fail(std::move(r).error());
    if (r->rows() != 1) return fail(ErrorKind::storage, "the store's schema \"{}\" is gone", schema);
    const auto text = [&](bool checkpoints_too) {
        return fmt::format(queries::guard, r->bytes(0, 0), r->bytes(0, 1),
                           checkpoints_too ? std::string() : fmt::format(queries::guard_besides, r->bytes(0, 2)));
    };
    return SchemaGuard{text(true), text(false)};
}

[[nodiscard]] auto Database::Impl::connect() -> Result<std::unique_ptr<Connection>> {
    return detail::open_connection({.conninfo = conninfo,
                                    .target = target,
                                    .connect_timeout = options.connect_timeout,
                                    .response_timeout = options.response_timeout,
                                    .statement_timeout = options.statement_timeout,
                                    .prepare_statements = options.prepare_statements});
}

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
    impl->read_streams_sql = in_schema(fmt::format(queries::read_streams, queries::event_columns), s);
    impl->read_stream_sql = in_schema(fmt::format(queries::read_stream, queries::event_columns), s);
    impl->read_all_sql = in_schema(fmt::format(queries::read_all, queries::event_columns,
                                               byte_prefix_filter("e.stream_id", 6), queries::settled,
                                               queries::settled_head),
                                   s);
    impl->read_page_sql = in_schema(
        fmt::format(queries::read_page, queries::event_columns, queries::settled, queries::settled_head), s);
    impl->read_tail_sql = in_schema(fmt::format(queries::read_tail, queries::event_columns), s);
    impl->append_sql = in_schema(queries::append, s);
    impl->receipt_sql = in_schema(queries::receipt, s);
    impl->head_sql = in_schema(fmt::format(queries::head, queries::settled_head), s);

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
        if (auto r = (*c)->run(queries::begin.data(), "starting the migration"); !r) return fail(std::move(r).error());
        Params lock;
        lock.text(fmt::format("eventcore.{}", s));
        if (auto r = (*c)->query(queries::migration_lock.data(), lock, Phase::read, "taking the migration lock"); !r) {
            (void)(*c)->run(queries::rollback.data(), "rolling back");
            return fail(std::move(r).error());
        }
        auto current = schema_version_in(**c, s);
        if (!current) {
            (void)(*c)->run(queries::rollback.data(), "rolling back");
            return fail(std::move(current).error());
        }
        for (int v = *current; v < schema_version; ++v) {
            auto r = (*c)->run(in_schema(detail::migrations[v], s),
                               fmt::format("migrating to schema version {}", v + 1));
            if (r) {
                r = (*c)->run(in_schema(fmt::format(queries::record_schema_version, v + 1), s),
                              "recording the schema version");
            }
            if (!r) {
                (void)(*c)->run(queries::rollback.data(), "rolling back");
                return fail(std::move(r).error());
            }
        }
        if (auto r = (*c)->run(queries::commit.data(), "committing the migration"); !r) {
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

} // namespace eventcore::postgres
