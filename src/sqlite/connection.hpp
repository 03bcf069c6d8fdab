#pragma once
// RAII over the SQLite C API: connections, cached statements, transactions, and the mapping
// of SQLite result codes to eventcore errors. Private to the sqlite component.

#include <eventcore/error.hpp>
#include <eventcore/uuid.hpp>

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace eventcore::sqlite::detail {

/// An error from SQLite: kind by result code, message with SQLite's own words and the context.
[[nodiscard]] auto error_from(sqlite3* db, int code, std::string_view doing) -> Error;

/// The statements the store uses; each connection prepares each at most once.
enum class Sql : unsigned char {
    begin_deferred,
    begin_immediate,
    commit,
    rollback,
    read_streams,
    read_one_stream,
    read_stream_from,
    stream_version,
    read_all,
    head,
    find_command,
    command_events,
    command_streams,
    insert_event,
    insert_command,
    insert_command_stream,
    advance_checkpoint_from_zero,
    advance_checkpoint,
    data_version,
    save_checkpoint,
    load_checkpoint,
    list_checkpoints,
    delete_checkpoint,
    count // not a statement
};

/// A prepared statement, reset when the user is done with it (see `Connection::use`).
/// Reads of up to this many streams bind each id (`read_streams_text`); more go through a JSON array.
inline constexpr std::size_t max_listed_streams = 64;
/// The events of streams ?1, ..., ?count in position order, or null
/// past `max_listed_streams`.
[[nodiscard]] auto read_streams_text(std::size_t count) -> const std::string*;

class Statement {
public:
    explicit Statement(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
    Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
    Statement(const Statement&) = delete;
    auto operator=(const Statement&) -> Statement& = delete;
    auto operator=(Statement&&) -> Statement& = delete;
    ~Statement() {
        if (stmt_ != nullptr) reset();
    }

    /// Ready to run again, with new bindings.
    void reset() noexcept {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }

    void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
    void bind(int i, std::uint64_t v) { sqlite3_bind_int64(stmt_, i, static_cast<std::int64_t>(v)); }
    void bind(int i, std::string_view text) {
        sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    }
    void bind_blob(int i, std::string_view bytes) {
        sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
    }
    void bind(int i, const Uuid& u) { sqlite3_bind_blob(stmt_, i, u.bytes().data(), 16, SQLITE_STATIC); }
    void bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
    [[nodiscard]] auto real(int col) const -> double { return sqlite3_column_double(stmt_, col); }
    [[nodiscard]] auto columns() const -> int { return sqlite3_column_count(stmt_); }
    /// The statement's parameters: how many (the largest index), and the name of each (`$1`,
    /// `?2`, `:name`; null for a bare `?` or an index no parameter takes).
    [[nodiscard]] auto parameter_count() const -> int { return sqlite3_bind_parameter_count(stmt_); }
    [[nodiscard]] auto parameter_name(int i) const -> const char* { return sqlite3_bind_parameter_name(stmt_, i); }
    void bind_null(int i) { sqlite3_bind_null(stmt_, i); }
    /// Binds `bytes` as a BLOB, or NULL when there are none (a prefix that filters nothing).
    void bind_blob_or_null(int i, std::string_view bytes) {
        if (bytes.empty()) {
            sqlite3_bind_null(stmt_, i);
        } else {
            bind_blob(i, bytes);
        }
    }
    /// Binds a copy of `text` (for text made just for this statement), or NULL without one.
    void bind_copy_or_null(int i, const std::optional<std::string>& text) {
        if (text) {
            sqlite3_bind_text(stmt_, i, text->data(), static_cast<int>(text->size()), SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_null(stmt_, i);
        }
    }

    /// SQLITE_ROW, SQLITE_DONE, or an error code.
    [[nodiscard]] auto step() -> int { return sqlite3_step(stmt_); }

    [[nodiscard]] auto is_null(int col) const -> bool { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
    [[nodiscard]] auto int64(int col) const -> std::int64_t { return sqlite3_column_int64(stmt_, col); }
    [[nodiscard]] auto uint64(int col) const -> std::uint64_t {
        return static_cast<std::uint64_t>(sqlite3_column_int64(stmt_, col));
    }
    [[nodiscard]] auto text(int col) const -> std::string_view {
        const auto* p = sqlite3_column_text(stmt_, col);
        return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
    }
    [[nodiscard]] auto blob(int col) const -> std::string_view {
        const auto* p = sqlite3_column_blob(stmt_, col);
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col));
        return n == 0 ? std::string_view{} : std::string_view{static_cast<const char*>(p), n};
    }
    /// A 16-byte UUID column; a value of any other size reads as nil (the caller checks).
    [[nodiscard]] auto uuid(int col) const -> Uuid {
        const auto bytes = blob(col);
        Uuid::Bytes b{};
        if (bytes.size() != b.size()) return Uuid{};
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(bytes[i]);
        return Uuid(b);
    }

private:
    sqlite3_stmt* stmt_;
};

/// One connection and its prepared statements. Used by one thread at a time.
class Connection {
public:
    Connection(const Connection&) = delete;
    auto operator=(const Connection&) -> Connection& = delete;
    ~Connection();

    /// Opens `path` with `flags`, without touching its contents.
    [[nodiscard]] static auto open(const std::string& path, int flags) -> Result<std::unique_ptr<Connection>>;

    [[nodiscard]] auto handle() const noexcept -> sqlite3* { return db_; }

    /// Runs SQL without results (PRAGMAs, DDL).
    [[nodiscard]] auto exec(const char* sql, std::string_view doing) -> Result<void>;

    /// The prepared statement for `sql`, reset when the returned object goes away.
    [[nodiscard]] auto use(Sql sql) -> Result<Statement>;
    /// The same for a caller's SQL text (read models), prepared once per connection.
    [[nodiscard]] auto use(std::string_view sql) -> Result<Statement>;

    [[nodiscard]] auto error(int code, std::string_view doing) const -> Error { return error_from(db_, code, doing); }

private:
    explicit Connection(sqlite3* db) noexcept : db_(db) {}
    sqlite3* db_;
    std::array<sqlite3_stmt*, static_cast<std::size_t>(Sql::count)> statements_{};
    std::unordered_map<std::string, sqlite3_stmt*> user_statements_;
};

/// A transaction that rolls back unless committed; never throws from its destructor.
class Transaction {
public:
    enum class Mode : unsigned char { deferred, immediate };

    [[nodiscard]] static auto begin(Connection& c, Mode mode) -> Result<Transaction>;
    Transaction(Transaction&& other) noexcept
        : connection_(std::exchange(other.connection_, nullptr)), mode_(other.mode_) {}
    Transaction(const Transaction&) = delete;
    auto operator=(const Transaction&) -> Transaction& = delete;
    auto operator=(Transaction&&) -> Transaction& = delete;
    ~Transaction();

    [[nodiscard]] auto commit() -> Result<void>;

private:
    Transaction(Connection& c, Mode mode) noexcept : connection_(&c), mode_(mode) {}
    Connection* connection_;
    Mode mode_;
};

} // namespace eventcore::sqlite::detail
