#pragma once
// Read models of the bank for the projection tests: balances per account, in memory (at least
// once) or in SQL tables beside the events (exactly once).

#include "bank.hpp"

#include <eventcore/projection.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

namespace bank {

/// Balances in memory. Counts how often each position was applied, to see repeats.
struct BalanceProjector {
    std::mutex mutex;
    std::map<StreamId, std::int64_t> balances;
    std::map<std::uint64_t, int> applications;

    void apply(const RecordedEvent<BankEvent>& e) {
        std::lock_guard lock(mutex);
        balances[e.stream] += balance_delta(e.payload);
        ++applications[e.position.value()];
    }
    void reset() {
        std::lock_guard lock(mutex);
        balances.clear();
        applications.clear();
    }
    auto snapshot() -> std::map<StreamId, std::int64_t> {
        std::lock_guard lock(mutex);
        return balances;
    }
};

/// Balances in SQL, written in the checkpoint's transaction. `applied` has the position as its
/// key: applying an event twice would break it, and stop the projection.
struct SqlBalanceProjector {
    /// Prefix of the table names, e.g. a PostgreSQL schema `"s".`.
    std::string prefix;
    /// A PostgreSQL schema to create for the tables (not the store's: that one is reserved).
    std::string schema{};

    /// Parameter n: the same on every store.
    [[nodiscard]] static auto p(int n) -> std::string { return fmt::format("${}", n); }

    void create(eventcore::SqlSession& sql) const {
        if (!schema.empty()) sql.execute(fmt::format("CREATE SCHEMA IF NOT EXISTS \"{}\"", schema)).value();
        sql.execute(fmt::format("CREATE TABLE IF NOT EXISTS {}balances (account TEXT PRIMARY KEY, balance BIGINT NOT NULL)",
                                prefix))
            .value();
        sql.execute(fmt::format("CREATE TABLE IF NOT EXISTS {}applied (position BIGINT PRIMARY KEY)", prefix)).value();
    }

    auto apply(const RecordedEvent<BankEvent>& e, eventcore::SqlSession& sql) const -> eventcore::Result<void> {
        auto applied = sql.execute(fmt::format("INSERT INTO {}applied (position) VALUES ({})", prefix, p(1)),
                                   {static_cast<std::int64_t>(e.position.value())});
        if (!applied) return eventcore::fail(std::move(applied).error());
        auto moved = sql.execute(fmt::format("INSERT INTO {0}balances (account, balance) VALUES ({1}, {2}) "
                                             "ON CONFLICT (account) DO UPDATE SET balance = {0}balances.balance + "
                                             "excluded.balance",
                                             prefix, p(1), p(2)),
                                 {e.stream.view(), balance_delta(e.payload)});
        if (!moved) return eventcore::fail(std::move(moved).error());
        return {};
    }

    void reset(eventcore::SqlSession& sql) const {
        sql.execute(fmt::format("DELETE FROM {}balances", prefix)).value();
        sql.execute(fmt::format("DELETE FROM {}applied", prefix)).value();
    }

    template <class Store>
    auto balances(Store& store) const -> std::map<StreamId, std::int64_t> {
        std::map<StreamId, std::int64_t> out;
        eventcore::value_or_throw(store.transaction([&](eventcore::SqlSession& sql) {
            return sql.query(fmt::format("SELECT account, balance FROM {}balances", prefix), {},
                             [&](const eventcore::SqlRow& row) { out[id(row.text(0))] = row.integer(1); });
        }));
        return out;
    }

    template <class Store>
    auto applied(Store& store) const -> std::int64_t {
        std::int64_t n = 0;
        eventcore::value_or_throw(store.transaction([&](eventcore::SqlSession& sql) {
            return sql.query(fmt::format("SELECT count(*) FROM {}applied", prefix), {},
                             [&](const eventcore::SqlRow& row) { n = row.integer(0); });
        }));
        return n;
    }
};

/// The PostgreSQL balances of a store in schema `store_schema`: in a schema of their own beside
/// it, `<store_schema>_rm`.
inline auto postgres_balances(std::string_view store_schema) -> SqlBalanceProjector {
    return {fmt::format("\"{}_rm\".", store_schema), fmt::format("{}_rm", store_schema)};
}

/// Balances folded from the whole log: what every projection must end up equal to.
template <class Store>
auto folded_balances(const Store& store, std::string_view prefix = "account-") -> std::map<StreamId, std::int64_t> {
    std::map<StreamId, std::int64_t> out;
    (void)eventcore::visit_log(store, eventcore::LogQuery{.stream_prefix = std::string(prefix)},
                               [&](const RecordedEvent<BankEvent>& e) { out[e.stream] += balance_delta(e.payload); });
    return out;
}

} // namespace bank
