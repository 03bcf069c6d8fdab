#include "connection.hpp"
#include "queries.hpp"

#include <fmt/format.h>

namespace eventcore::sqlite::detail {

namespace {

auto sql_text(Sql sql) -> std::string {
    switch (sql) {
    case Sql::begin_deferred: return queries::begin_deferred;
    case Sql::begin_immediate: return queries::begin_immediate;
    case Sql::commit: return queries::commit;
    case Sql::rollback: return queries::rollback;
    case Sql::read_streams: return fmt::format(queries::read_streams, queries::event_columns);
    case Sql::read_one_stream: return fmt::format(queries::read_one_stream, queries::event_columns);
    case Sql::read_stream_from: return fmt::format(queries::read_stream_from, queries::event_columns);
    case Sql::stream_version: return queries::stream_version;
    case Sql::read_all: return fmt::format(queries::read_all, queries::event_columns);
    case Sql::head: return queries::head;
    case Sql::find_command: return queries::find_command;
    case Sql::command_events: return queries::command_events;
    case Sql::command_streams: return queries::command_streams;
    case Sql::insert_event: return fmt::format(queries::insert_event, queries::event_columns);
    case Sql::insert_command: return queries::insert_command;
    case Sql::insert_command_stream: return queries::insert_command_stream;
    case Sql::data_version: return queries::data_version;
    case Sql::save_checkpoint: return queries::save_checkpoint;
    case Sql::advance_checkpoint_from_zero: return queries::advance_checkpoint_from_zero;
    case Sql::advance_checkpoint: return queries::advance_checkpoint;
    case Sql::load_checkpoint: return queries::load_checkpoint;
    case Sql::list_checkpoints: return queries::list_checkpoints;
    case Sql::delete_checkpoint: return queries::delete_checkpoint;
    case Sql::count: break;
    }
    return {};
}

auto code_name(int code) -> std::string {
    switch (code & 0xFF) {
    case SQLITE_ERROR: return "SQLITE_ERROR";
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_NOTADB: return "SQLITE_NOTADB";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_NOMEM: return "SQLITE_NOMEM";
    case SQLITE_PERM: return "SQLITE_PERM";
    default: return fmt::format("SQLITE_{}", code);
    }
}

} // namespace

auto read_streams_text(std::size_t count) -> const std::string* {
    // Built once: a list of parameters is planned as k index lookups, where a JSON array
    // (read_streams) first costs SQLite a parse of the array and a virtual table per read. The
    // positions come from the (covering) stream index, and the rows are then fetched by position
    // in order: no temporary B-tree to sort whole rows, payloads included, by position.
    static const auto texts = [] {
        std::array<std::string, max_listed_streams + 1> all;
        for (std::size_t k = 1; k <= max_listed_streams; ++k) {
            std::string params;
            for (std::size_t i = 1; i <= k; ++i) params += fmt::format(queries::listed_stream, i > 1 ? "," : "", i);
            all[k] = fmt::format(queries::read_listed_streams, queries::event_columns, params);
        }
        return all;
    }();
    return count >= 1 && count <= max_listed_streams ? &texts[count] : nullptr;
}

auto error_from(sqlite3* db, int code, std::string_view doing) -> Error {
    ErrorKind kind = ErrorKind::storage;
    switch (code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: kind = ErrorKind::transient; break;
    case SQLITE_CANTOPEN: kind = ErrorKind::store_unavailable; break;
    default: break;
    }
    // sqlite3_errmsg describes the connection's last error, which may be more specific
    // ("no such table: x") than the generic text of the code.
    const char* detail = db != nullptr && sqlite3_errcode(db) == code ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    return Error(kind, fmt::format("{}: {} ({})", doing, detail, code_name(code))).with_code(code_name(code));
}

Connection::~Connection() {
    for (auto* stmt : statements_) sqlite3_finalize(stmt);
    for (auto& [text, stmt] : user_statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
}

[[nodiscard]] auto Connection::open(const std::string& path, int flags) -> Result<std::unique_ptr<Connection>> {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
    if (rc != SQLITE_OK) {
        auto error = error_from(db, rc, fmt::format("opening SQLite database '{}'", path));
        sqlite3_close_v2(db);
        return fail(std::move(error));
    }
    return std::unique_ptr<Connection>(new Connection(db));
}

[[nodiscard]] auto Connection::exec(const char* sql, std::string_view doing) -> Result<void> {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return fail(error(rc, doing));
    return {};
}

[[nodiscard]] auto Connection::use(Sql sql) -> Result<Statement> {
    auto& stmt = statements_[static_cast<std::size_t>(sql)];
    if (stmt == nullptr) {
        const auto text = sql_text(sql);
        const int rc = sqlite3_prepare_v3(db_, text.c_str(), static_cast<int>(text.size()) + 1,
                                          SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        if (rc != SQLITE_OK) {
            stmt = nullptr;
            return fail(error(rc, "preparing a statement"));
        }
    }
    return Statement(stmt);
}

[[nodiscard]] auto Connection::use(std::string_view sql) -> Result<Statement> {
    auto it = user_statements_.find(std::string(sql));
    if (it == user_statements_.end()) {
        sqlite3_stmt* stmt = nullptr;
        const char* tail = nullptr;
        const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                          &stmt, &tail);
        if (rc != SQLITE_OK) return fail(error(rc, fmt::format("preparing `{}`", sql)));
        // One statement per call: a second one after `;` would silently never run.
        const std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
        if (stmt == nullptr || rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
            sqlite3_finalize(stmt);
            return fail(ErrorKind::validation, "`{}` is {} SQL statement; run one statement per call", sql,
                        stmt == nullptr ? "not an" : "more than one");
        }
        it = user_statements_.emplace(std::string(sql), stmt).first;
    }
    return Statement(it->second);
}

[[nodiscard]] auto Transaction::begin(Connection& c, Mode mode) -> Result<Transaction> {
    auto stmt = c.use(mode == Mode::immediate ? Sql::begin_immediate : Sql::begin_deferred);
    if (!stmt) return fail(std::move(stmt).error());
    if (const int rc = stmt->step(); rc != SQLITE_DONE) {
        return fail(c.error(rc, mode == Mode::immediate ? "starting a write transaction" : "starting a read transaction"));
    }
    return Transaction(c, mode);
}

Transaction::~Transaction() {
    if (connection_ == nullptr) return;
    // Best effort: if the connection is already outside a transaction (SQLite rolled back on
    // its own after an I/O error), ROLLBACK fails harmlessly.
    if (sqlite3_get_autocommit(connection_->handle()) == 0) {
        if (auto stmt = connection_->use(Sql::rollback)) (void)stmt->step();
    }
}

[[nodiscard]] auto Transaction::commit() -> Result<void> {
    auto stmt = connection_->use(Sql::commit);
    if (!stmt) return fail(std::move(stmt).error());
    if (const int rc = stmt->step(); rc != SQLITE_DONE) {
        auto error = connection_->error(rc, "committing");
        // Busy or locked, COMMIT did nothing. Any other failure (a write or sync of the log that
        // failed, a full disk) may come after the commit record reached the log: the next
        // process to open the file can find the commit there, so it is in doubt, not failed.
        // A read transaction has nothing to commit: its failure is only a failure.
        const int primary = rc & 0xFF;
        if (mode_ == Mode::deferred || primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return fail(std::move(error));
        return fail(Error(ErrorKind::in_doubt,
                          error.message() + "; the commit may or may not be in the file (it can reappear when the "
                                            "database is next opened)")
                        .with_code(error.code()));
    }
    connection_ = nullptr;
    return {};
}

} // namespace eventcore::sqlite::detail
