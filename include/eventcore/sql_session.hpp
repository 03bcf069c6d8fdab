#pragma once
/// \file
/// `SqlSession`: SQL inside a durable store's transaction, for read models that must move
/// together with their checkpoint (exactly-once projections).

#include <eventcore/detail/function_ref.hpp>
#include <eventcore/error.hpp>
#include <eventcore/version.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace eventcore {

/// A value bound to a statement parameter: NULL, an integer, a floating-point number or text.
using SqlValue = std::variant<std::nullptr_t, std::int64_t, double, std::string_view>;

/// One row of a query's result.
class SqlRow {
public:
    SqlRow() = default;
    SqlRow(const SqlRow&) = delete;
    auto operator=(const SqlRow&) -> SqlRow& = delete;

    [[nodiscard]] virtual auto columns() const -> int = 0;
    [[nodiscard]] virtual auto is_null(int column) const -> bool = 0;
    [[nodiscard]] virtual auto integer(int column) const -> std::int64_t = 0;
    [[nodiscard]] virtual auto real(int column) const -> double = 0;
    /// Valid while the row is.
    [[nodiscard]] virtual auto text(int column) const -> std::string_view = 0;

protected:
    ~SqlRow() = default;
};

/// A transaction of an SQLite or PostgreSQL store, handed to exactly-once projectors: what they
/// write here commits or rolls back together with the projection's checkpoint. Values are always
/// bound, never spliced into the text, and the same statement text runs on both stores:
///
/// 1. parameters are `$1`, `$2`, ...: value n goes to `$n` wherever it stands, and a statement
///    must use exactly `$1` to `$<number of values>` (else `validation`); SQLite refuses its own
///    spellings (`?N`, `?`, `:name`, `@name`, `$name`), which would not run on PostgreSQL;
/// 2. text and `nullptr` take the type of the place they go (on PostgreSQL they are sent
///    untyped: a `uuid`, `jsonb` or `timestamptz` column takes text, a nullable integer NULL);
/// 3. read-model tables keep out of the store's own names (SQLite: `events`, `commands`,
///    `command_streams`, `checkpoints`, `eventcore_*`; PostgreSQL: the store's schema), which a
///    session refuses to create, change or write (`validation`); reading them is fine.
///
/// \code
/// void apply(const eventcore::RecordedEvent<BankEvent>& e, eventcore::SqlSession& sql) {
///     sql.execute("INSERT INTO balances (account, balance) VALUES ($1, $2) "
///                 "ON CONFLICT (account) DO UPDATE SET balance = balances.balance + excluded.balance",
///                 {e.stream.view(), delta(e.payload)}).value();
/// }
/// \endcode
class SqlSession {
public:
    SqlSession() = default;
    SqlSession(const SqlSession&) = delete;
    auto operator=(const SqlSession&) -> SqlSession& = delete;

    /// Runs a statement; the number of rows it changed.
    [[nodiscard]] virtual auto execute(std::string_view sql, std::span<const SqlValue> params) -> Result<std::int64_t> = 0;
    [[nodiscard]] auto execute(std::string_view sql, std::initializer_list<SqlValue> params = {}) -> Result<std::int64_t> {
        return execute(sql, std::span<const SqlValue>(params.begin(), params.size()));
    }

    /// Runs a query and hands each row to `row`.
    [[nodiscard]] virtual auto query(std::string_view sql, std::span<const SqlValue> params,
                       detail::FunctionRef<void(const SqlRow&)> row) -> Result<void> = 0;
    [[nodiscard]] auto query(std::string_view sql, std::initializer_list<SqlValue> params,
               detail::FunctionRef<void(const SqlRow&)> row) -> Result<void> {
        return query(sql, std::span<const SqlValue>(params.begin(), params.size()), row);
    }

    /// Saves a checkpoint as part of this transaction.
    [[nodiscard]] virtual auto save_checkpoint(std::string_view name, GlobalPosition position) -> Result<void> = 0;

    /// Moves a checkpoint from `from` (a missing checkpoint counts as position 0) to `to` as part
    /// of this transaction, only if it is still at `from`; otherwise a `projection` error, and the
    /// caller rolls back. A runner that lost its projection lock (a dropped connection) finds
    /// out here, before its writes land beside another runner's.
    [[nodiscard]] virtual auto advance_checkpoint(std::string_view name, GlobalPosition from, GlobalPosition to) -> Result<void> = 0;

    /// Runs `body` so that, if it fails, what it did is undone and the transaction goes on (a
    /// savepoint): how a projection skips or retries one event inside a batch.
    [[nodiscard]] virtual auto isolated(detail::FunctionRef<Result<void>()> body) -> Result<void> = 0;

protected:
    ~SqlSession() = default;
};

} // namespace eventcore
