#pragma once
// Hand-written baselines: the work of a k-stream command without the library. Read the k
// streams (decoding their events), then in one transaction check that each is still at the
// version read and append one event to each. Each store's baseline is what a careful programmer
// would write against it directly; the library's overhead is what it costs beyond that.

#include <eventcore/eventcore.hpp>
#include <eventcore/json_codec.hpp>
#include <eventcore/sqlite/database.hpp>
#include <eventcore/uuid.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdint>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace bench {

struct Touched {
    std::int64_t round;
};
EVENTCORE_EVENT(Touched, round)
using TouchEvent = std::variant<Touched>;

/// The library side of every table: reads its streams (declared as one list field: all read up
/// front, in one snapshot), folds them, and writes one event to each.
struct TouchStreams {
    std::vector<eventcore::StreamId> ids;
    std::int64_t round;

    using Event = TouchEvent;
    using State = std::int64_t;
    static constexpr std::string_view name = "TouchStreams";
    static constexpr auto streams = eventcore::streams(&TouchStreams::ids);

    void apply(State& sum, const eventcore::RecordedEvent<Event>& e) const { sum += std::get<Touched>(e.payload).round; }
    void handle(const State&, eventcore::Context<TouchStreams>& ctx) const {
        for (const auto& stream : ctx.streams()) ctx.write(stream, Touched{round});
    }
};

class Baseline {
public:
    Baseline() = default;
    Baseline(const Baseline&) = delete;
    auto operator=(const Baseline&) -> Baseline& = delete;
    virtual ~Baseline() = default;
    /// Reads `streams`, then appends one event to each, checking their versions.
    virtual auto touch(int client, const std::vector<std::string>& streams, std::int64_t round) -> eventcore::Result<void> = 0;
    auto touch(const std::vector<std::string>& streams, std::int64_t round) -> eventcore::Result<void> {
        return touch(0, streams, round);
    }
};

/// Plain containers and a mutex. Each event keeps what the SQLite and PostgreSQL baselines store
/// with it (stream, version, position, an id, the time, correlation and causation ids, the
/// command's name), the payload typed as it is in the in-memory store.
class MemoryBaseline final : public Baseline {
public:
    using Baseline::touch;
    auto touch(int, const std::vector<std::string>& streams, std::int64_t round) -> eventcore::Result<void> override {
        std::vector<std::size_t> versions(streams.size());
        std::int64_t sum = 0;
        {
            std::lock_guard lock(mutex_);
            for (std::size_t i = 0; i < streams.size(); ++i) {
                const auto it = events_.find(streams[i]);
                if (it == events_.end()) continue;
                versions[i] = it->second.size();
                for (const auto* e : it->second) sum += std::get<Touched>(e->payload).round;
            }
        }
        const auto command_id = eventcore::Uuid::v7();
        std::vector<eventcore::Uuid> ids;
        ids.reserve(streams.size());
        for (std::size_t i = 0; i < streams.size(); ++i) ids.push_back(eventcore::Uuid::v7());
        std::lock_guard lock(mutex_);
        for (std::size_t i = 0; i < streams.size(); ++i) {
            if (events_[streams[i]].size() != versions[i]) return eventcore::fail(eventcore::ErrorKind::version_conflict, "conflict");
        }
        const auto now = std::chrono::system_clock::now();
        for (std::size_t i = 0; i < streams.size(); ++i) {
            auto& stream = events_[streams[i]];
            log_.push_back({streams[i], stream.size() + 1, log_.size() + 1, ids[i], now, command_id, command_id,
                            "TouchStreams", Touched{round + (sum & 0)}});
            stream.push_back(&log_.back());
        }
        return {};
    }

private:
    struct Event {
        std::string stream;
        std::size_t version;
        std::size_t position;
        eventcore::Uuid id;
        std::chrono::system_clock::time_point recorded_at;
        eventcore::Uuid correlation;
        eventcore::Uuid causation;
        std::string command;
        TouchEvent payload;
    };
    std::mutex mutex_;
    std::deque<Event> log_;
    std::unordered_map<std::string, std::vector<const Event*>> events_;
};

/// Raw SQLite statements on a table shaped like the store's.
class SqliteBaseline final : public Baseline {
public:
    using Baseline::touch;
    SqliteBaseline(const std::string& path, eventcore::sqlite::Synchronous sync) {
        sqlite3_open(path.c_str(), &db_);
        exec("PRAGMA journal_mode = WAL");
        exec(sync == eventcore::sqlite::Synchronous::full     ? "PRAGMA synchronous = FULL"
             : sync == eventcore::sqlite::Synchronous::normal ? "PRAGMA synchronous = NORMAL"
                                                               : "PRAGMA synchronous = OFF");
        exec("CREATE TABLE IF NOT EXISTS events (position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, "
             "version INTEGER NOT NULL, event_type TEXT NOT NULL, payload BLOB NOT NULL, event_id BLOB NOT NULL, "
             "recorded_at INTEGER NOT NULL, correlation_id BLOB NOT NULL, causation_id BLOB NOT NULL, "
             "command TEXT NOT NULL, custom TEXT, commit_last INTEGER NOT NULL, UNIQUE (stream_id, version))");
        version_ = prepare("SELECT coalesce(max(version), 0) FROM events WHERE stream_id = ?1");
        head_ = prepare("SELECT coalesce(max(position), 0) FROM events");
        insert_ = prepare("INSERT INTO events VALUES (?1, ?2, ?3, 'Touched', ?4, ?5, ?6, ?7, ?8, 'TouchStreams', NULL, ?9)");
        begin_ = prepare("BEGIN IMMEDIATE");
        commit_ = prepare("COMMIT");
    }
    ~SqliteBaseline() override {
        for (auto* s : {version_, head_, insert_, begin_, commit_}) sqlite3_finalize(s);
        for (auto& [k, s] : reads_) sqlite3_finalize(s);
        sqlite3_close(db_);
    }

    auto touch(int, const std::vector<std::string>& streams, std::int64_t round) -> eventcore::Result<void> override {
        // Read: one statement for all the streams, decoding every payload.
        sqlite3_stmt* read = read_statement(streams.size());
        for (std::size_t i = 0; i < streams.size(); ++i)
            sqlite3_bind_text(read, static_cast<int>(i) + 1, streams[i].data(), static_cast<int>(streams[i].size()), SQLITE_STATIC);
        std::map<std::string, std::int64_t> versions;
        std::int64_t sum = 0;
        while (sqlite3_step(read) == SQLITE_ROW) {
            versions[reinterpret_cast<const char*>(sqlite3_column_text(read, 0))] = sqlite3_column_int64(read, 1);
            const std::string_view payload(static_cast<const char*>(sqlite3_column_blob(read, 2)),
                                           static_cast<std::size_t>(sqlite3_column_bytes(read, 2)));
            sum += boost::json::parse(payload).as_object().at("round").as_int64();
        }
        sqlite3_reset(read);
        // Commit: check every version, then append.
        step(begin_);
        for (const auto& s : streams) {
            sqlite3_bind_text(version_, 1, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
            sqlite3_step(version_);
            const auto v = sqlite3_column_int64(version_, 0);
            sqlite3_reset(version_);
            if (v != versions[s]) {
                exec("ROLLBACK");
                return eventcore::fail(eventcore::ErrorKind::version_conflict, "conflict");
            }
        }
        sqlite3_step(head_);
        auto position = sqlite3_column_int64(head_, 0);
        sqlite3_reset(head_);
        const auto last = position + static_cast<std::int64_t>(streams.size());
        const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        for (const auto& s : streams) {
            // Each event serialized on its own, as events with different contents would be.
            const auto payload = fmt::format("{{\"round\":{}}}", round + (sum & 0));
            const auto id = eventcore::Uuid::v7();
            sqlite3_bind_int64(insert_, 1, ++position);
            sqlite3_bind_text(insert_, 2, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
            sqlite3_bind_int64(insert_, 3, versions[s] + 1);
            sqlite3_bind_blob(insert_, 4, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
            sqlite3_bind_blob(insert_, 5, id.bytes().data(), 16, SQLITE_STATIC);
            sqlite3_bind_int64(insert_, 6, now);
            sqlite3_bind_blob(insert_, 7, id.bytes().data(), 16, SQLITE_STATIC);
            sqlite3_bind_blob(insert_, 8, id.bytes().data(), 16, SQLITE_STATIC);
            sqlite3_bind_int64(insert_, 9, last);
            step(insert_);
        }
        step(commit_);
        return {};
    }

private:
    void exec(const char* sql) { sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }
    auto prepare(const std::string& sql) -> sqlite3_stmt* {
        sqlite3_stmt* s = nullptr;
        sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr);
        return s;
    }
    static void step(sqlite3_stmt* s) {
        sqlite3_step(s);
        sqlite3_reset(s);
    }
    auto read_statement(std::size_t k) -> sqlite3_stmt* {
        auto& s = reads_[k];
        if (s == nullptr) {
            std::string params;
            for (std::size_t i = 1; i <= k; ++i) params += fmt::format("{}?{}", i > 1 ? "," : "", i);
            s = prepare(fmt::format("SELECT stream_id, version, payload FROM events WHERE stream_id IN ({}) ORDER BY position", params));
        }
        return s;
    }

    sqlite3* db_ = nullptr;
    sqlite3_stmt* version_ = nullptr;
    sqlite3_stmt* head_ = nullptr;
    sqlite3_stmt* insert_ = nullptr;
    sqlite3_stmt* begin_ = nullptr;
    sqlite3_stmt* commit_ = nullptr;
    std::map<std::size_t, sqlite3_stmt*> reads_;
};

/// Raw libpq: one statement to read, one statement (a function of its own, doing the version
/// checks and the appends under row locks) to commit; a connection per client. Positions come
/// from a one-row counter held to the end of the commit (`Positions::counter`, the design of
/// eventcore's schema 2 and of stream-latency.md's baseline), or from a plain sequence with
/// nothing shared between writers (`Positions::sequence`: what PostgreSQL can do at best, with a
/// log a reader could skip; the ceiling of scaling.md).
class PostgresBaseline final : public Baseline {
public:
    using Baseline::touch;
    enum class Positions { counter, sequence };
    PostgresBaseline(const std::string& conninfo, std::string schema, int clients,
                     Positions positions = Positions::counter, bool create = true)
        : schema_(std::move(schema)) {
        for (int c = 0; c < clients; ++c) connections_.push_back(PQconnectdb(conninfo.c_str()));
        if (!create) return;
        const bool counter = positions == Positions::counter;
        run(fmt::format(R"sql(
CREATE SCHEMA {0};
CREATE TABLE {0}.streams (stream_id text PRIMARY KEY, version bigint NOT NULL);
CREATE TABLE {0}.events (position {1} PRIMARY KEY, stream_id text NOT NULL, version bigint NOT NULL,
    event_type text NOT NULL, payload bytea NOT NULL, event_id uuid NOT NULL, recorded_at timestamptz NOT NULL,
    correlation_id uuid NOT NULL, causation_id uuid NOT NULL, command text NOT NULL, custom jsonb,
    commit_last bigint NOT NULL, UNIQUE (stream_id, version));
CREATE TABLE {0}.log_head (only_row boolean PRIMARY KEY DEFAULT true, position bigint NOT NULL);
INSERT INTO {0}.log_head (position) VALUES (0);
CREATE FUNCTION {0}.touch(p_streams text[], p_expected bigint[], p_payload bytea) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    n integer := array_length(p_streams, 1);
    v bigint;
    i integer;
    last_pos bigint;
BEGIN
    FOR i IN SELECT s.ord FROM unnest(p_streams) WITH ORDINALITY AS s(id, ord) ORDER BY s.id COLLATE "C" LOOP
        INSERT INTO {0}.streams VALUES (p_streams[i], 0) ON CONFLICT DO NOTHING;
        SELECT version INTO v FROM {0}.streams WHERE stream_id = p_streams[i] FOR UPDATE;
        IF v <> p_expected[i] THEN RAISE EXCEPTION 'conflict on %', p_streams[i]; END IF;
    END LOOP;
    {2}
    UPDATE {0}.streams SET version = version + 1 WHERE stream_id = ANY(p_streams);
END $fn$;
)sql",
                        schema_, counter ? "bigint" : "bigserial",
                        counter ? fmt::format(R"sql(UPDATE {0}.log_head SET position = position + n RETURNING position INTO last_pos;
    INSERT INTO {0}.events SELECT last_pos - n + x.ord, x.id, p_expected[x.ord] + 1, 'Touched', p_payload,
        gen_random_uuid(), clock_timestamp(), gen_random_uuid(), gen_random_uuid(), 'TouchStreams', NULL, last_pos
      FROM unnest(p_streams) WITH ORDINALITY AS x(id, ord);)sql", schema_)
                                : fmt::format(R"sql(INSERT INTO {0}.events (stream_id, version, event_type, payload, event_id,
        recorded_at, correlation_id, causation_id, command, custom, commit_last)
    SELECT x.id, p_expected[x.ord] + 1, 'Touched', p_payload, gen_random_uuid(), clock_timestamp(),
        gen_random_uuid(), gen_random_uuid(), 'TouchStreams', NULL, 0
      FROM unnest(p_streams) WITH ORDINALITY AS x(id, ord) ORDER BY x.ord;)sql", schema_)));
    }
    ~PostgresBaseline() override {
        for (auto* c : connections_) PQfinish(c);
    }

    void drop() { run(fmt::format("SET client_min_messages = warning; DROP SCHEMA {} CASCADE", schema_)); }

    auto touch(int client, const std::vector<std::string>& streams, std::int64_t round) -> eventcore::Result<void> override {
        PGconn* c = connections_[static_cast<std::size_t>(client)];
        const auto ids = array_literal(streams);
        const char* read_params[] = {ids.c_str()};
        PGresult* r = PQexecParams(c, fmt::format("SELECT stream_id, version, payload FROM {}.events WHERE stream_id = ANY($1::text[]) ORDER BY position", schema_).c_str(),
                                   1, nullptr, read_params, nullptr, nullptr, 1);
        std::map<std::string, std::int64_t> versions;
        std::int64_t sum = 0;
        for (int row = 0; row < PQntuples(r); ++row) {
            std::int64_t v = 0;
            for (int b = 0; b < 8; ++b) v = (v << 8) | static_cast<unsigned char>(PQgetvalue(r, row, 1)[b]);
            versions[std::string(PQgetvalue(r, row, 0), static_cast<std::size_t>(PQgetlength(r, row, 0)))] = v;
            const std::string_view payload(PQgetvalue(r, row, 2), static_cast<std::size_t>(PQgetlength(r, row, 2)));
            sum += boost::json::parse(payload).as_object().at("round").as_int64();
        }
        PQclear(r);
        std::vector<std::string> expected;
        for (const auto& s : streams) expected.push_back(std::to_string(versions[s]));
        const auto expected_literal = array_literal(expected);
        const auto payload = fmt::format("{{\"round\":{}}}", round + (sum & 0));
        const char* params[] = {ids.c_str(), expected_literal.c_str(), payload.c_str()};
        const int lengths[] = {0, 0, static_cast<int>(payload.size())};
        const int formats[] = {0, 0, 1};
        r = PQexecParams(c, fmt::format("SELECT {}.touch($1::text[], $2::bigint[], $3::bytea)", schema_).c_str(), 3,
                         nullptr, params, lengths, formats, 0);
        const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        const std::string error = PQresultErrorMessage(r);
        PQclear(r);
        if (!ok) return eventcore::fail(eventcore::ErrorKind::storage, "{}", error);
        return {};
    }

private:
    static auto array_literal(const std::vector<std::string>& values) -> std::string {
        std::string out = "{";
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i > 0) out += ',';
            out += '"';
            for (const char ch : values[i]) {
                if (ch == '"' || ch == '\\') out += '\\';
                out += ch;
            }
            out += '"';
        }
        return out + "}";
    }
    void run(const std::string& sql) { PQclear(PQexec(connections_.front(), sql.c_str())); }

    std::string schema_;
    std::vector<PGconn*> connections_;
};

inline void drop_schema(const std::string& conninfo, const std::string& schema) {
    PGconn* c = PQconnectdb(conninfo.c_str());
    PQclear(PQexec(c, fmt::format("SET client_min_messages = warning; DROP SCHEMA IF EXISTS \"{}\" CASCADE", schema).c_str()));
    PQfinish(c);
}

} // namespace bench
