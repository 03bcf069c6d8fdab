// Reads: streams, one stream from a version, pages of the log, and the head.

#include "database_impl.hpp"

#include <eventcore/detail/stream_index.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace eventcore::sqlite {

using detail::read_head;
using detail::read_row;
using detail::read_stream_version;
using detail::sqlite_glob;
using detail::step_error;

namespace {

/// A JSON array of strings, for `json_each`. Stream ids and type names hold no control
/// characters (stream ids are validated; type names are C++ identifiers or chosen literals),
/// but escape them anyway so nothing can break out of a string.
auto json_string_array(auto&& strings) -> std::string {
    std::string out = "[";
    for (std::string_view s : strings) {
        if (out.size() > 1) out += ',';
        out += '"';
        for (const char c : s) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (static_cast<unsigned char>(c) < 0x20) {
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
            } else {
                out += c;
            }
        }
        out += '"';
    }
    out += ']';
    return out;
}

} // namespace

[[nodiscard]] auto Database::read_streams(std::span<const StreamId> ids, StoredEventVisitor visit)
    -> Result<std::vector<StreamVersion>> {
    std::vector<StreamVersion> versions(ids.size());
    if (ids.empty()) return versions;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());

    // One statement reads every stream: SQLite runs it in one read transaction, a snapshot.
    const bool single = ids.size() == 1;
    const std::string* listed = single ? nullptr : detail::read_streams_text(ids.size());
    auto stmt = listed != nullptr ? (*c)->use(std::string_view(*listed))
                                  : (*c)->use(single ? Sql::read_one_stream : Sql::read_streams);
    if (!stmt) return fail(std::move(stmt).error());
    std::string id_list;
    if (single) {
        stmt->bind(1, ids[0].view());
    } else if (listed != nullptr) {
        for (std::size_t i = 0; i < ids.size(); ++i) stmt->bind(static_cast<int>(i) + 1, ids[i].view());
    } else {
        // A plain vector rather than a transform view: Clang 14's concepts reject libstdc++ 12's views.
        std::vector<std::string_view> names;
        names.reserve(ids.size());
        for (const auto& id : ids) names.push_back(id.view());
        id_list = json_string_array(names);
        stmt->bind(1, std::string_view(id_list));
    }

    const eventcore::detail::StreamIndex index(ids);
    StoredEvent event;
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW) {
        if (auto r = read_row(*stmt, event); !r) return fail(std::move(r).error());
        if (const auto i = single ? 0 : index.find(event.stream); i != eventcore::detail::StreamIndex::npos)
            versions[i] = event.version;
        if (auto r = visit(event); !r) return fail(std::move(r).error());
    }
    if (rc != SQLITE_DONE) return step_error(**c, rc, "reading streams");
    for (std::size_t i = 0; i < ids.size(); ++i) versions[i] = versions[index.find(ids[i])]; // repeated ids
    return versions;
}

[[nodiscard]] auto Database::read_stream(const StreamId& id, StreamVersion from, StoredEventVisitor visit) -> Result<StreamVersion> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());

    auto stored = read_stream_version(**c, id);
    if (!stored) return fail(std::move(stored).error());
    const StreamVersion version = *stored;
    if (from <= version) {
        auto stmt = (*c)->use(Sql::read_stream_from);
        if (!stmt) return fail(std::move(stmt).error());
        stmt->bind(1, id.view());
        stmt->bind(2, from.value());
        StoredEvent event;
        int rc = 0;
        while ((rc = stmt->step()) == SQLITE_ROW) {
            if (auto r = read_row(*stmt, event); !r) return fail(std::move(r).error());
            if (event.version > version) break; // appended after the version was read: not in this snapshot
            if (auto r = visit(event); !r) return fail(std::move(r).error());
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) return step_error(**c, rc, "reading a stream");
    }
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return version;
}

[[nodiscard]] auto Database::read_all(const LogQuery& query, StoredEventVisitor visit) -> Result<LogPage> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    auto tx = Transaction::begin(**c, Transaction::Mode::deferred);
    if (!tx) return fail(std::move(tx).error());

    LogPage page{.count = 0, .last = query.after, .head = {}};
    {
        auto head = read_head(**c);
        if (!head) return fail(std::move(head).error());
        page.head = *head;
    }
    if (query.limit == 0 || query.after >= page.head) {
        page.last = std::max(query.after, query.limit == 0 ? query.after : page.head);
        if (auto r = tx->commit(); !r) return fail(std::move(r).error());
        return page;
    }

    auto stmt = (*c)->use(Sql::read_all);
    if (!stmt) return fail(std::move(stmt).error());
    stmt->bind(1, query.after.value());
    stmt->bind_blob_or_null(2, query.stream_prefix);
    stmt->bind_copy_or_null(3, query.event_types.empty() ? std::nullopt
                                                          : std::optional(json_string_array(query.event_types)));
    stmt->bind_copy_or_null(4, sqlite_glob(query.stream_pattern));

    StoredEvent event;
    GlobalPosition commit_last{};
    page.last = page.head;
    int rc = 0;
    while ((rc = stmt->step()) == SQLITE_ROW) {
        const GlobalPosition position{stmt->uint64(2)};
        // Stop only between commits, so a page never splits one.
        if (page.count >= query.limit && position > commit_last) {
            page.last = GlobalPosition{position.value() - 1};
            break;
        }
        if (auto r = read_row(*stmt, event); !r) return fail(std::move(r).error());
        commit_last = GlobalPosition{stmt->uint64(11)};
        if (auto r = visit(event); !r) return fail(std::move(r).error());
        ++page.count;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return step_error(**c, rc, "reading the log");
    if (auto r = tx->commit(); !r) return fail(std::move(r).error());
    return page;
}

[[nodiscard]] auto Database::head() -> Result<GlobalPosition> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    return read_head(**c);
}

} // namespace eventcore::sqlite
