// Reads: streams, the log in pages (whole, or row by row when large), and the head.

#include "database_impl.hpp"

#include <eventcore/detail/stream_index.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eventcore::postgres {

namespace {

/// The event type names a filter asks for that a store can hold: one that is not valid text
/// matches nothing, and would make the server refuse the whole query.
auto storable_types(const std::vector<std::string>& types) -> std::vector<std::string_view> {
    std::vector<std::string_view> out;
    for (const auto& t : types) {
        if (!eventcore::detail::text_problem(t)) out.push_back(t);
    }
    return out;
}

} // namespace

[[nodiscard]] auto Database::read_streams(std::span<const StreamId> ids, StoredEventVisitor visit)
    -> Result<std::vector<StreamVersion>> {
    std::vector<StreamVersion> versions(ids.size());
    if (ids.empty()) return versions;
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    // A loop rather than views::transform, which Clang 14 cannot use with libstdc++ 12.
    Params::ArrayBuilder names(Oid::text);
    for (const auto& id : ids) names.add_bytes(id.view());
    p.array(Oid::text_array, std::move(names));
    // One statement: one snapshot of every stream, row by row, so memory holds one event
    // however long the streams are.
    const eventcore::detail::StreamIndex index(ids);
    StoredEvent event;
    auto r = (*c)->stream(impl_->read_streams_sql.c_str(), p, Phase::read, "reading streams",
                          [&](const ResultSet& row) -> Result<void> {
                              if (auto ok = read_event(row, 0, 0, event); !ok) return ok;
                              if (const auto i = index.find(event.stream); i != eventcore::detail::StreamIndex::npos)
                                  versions[i] = event.version;
                              return visit(event);
                          });
    if (!r) return fail(std::move(r).error());
    for (std::size_t i = 0; i < ids.size(); ++i) versions[i] = versions[index.find(ids[i])]; // repeated ids
    return versions;
}

[[nodiscard]] auto Database::read_stream(const StreamId& id, StreamVersion from, StoredEventVisitor visit) -> Result<StreamVersion> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.text(id.view());
    p.int8(static_cast<std::int64_t>(std::min<std::uint64_t>(from.value(), std::numeric_limits<std::int64_t>::max())));
    // Row by row, as `read_streams`.
    StreamVersion version{};
    StoredEvent event;
    auto r = (*c)->stream(Prepared::read_stream, impl_->read_stream_sql, p, Phase::read, "reading a stream",
                          [&](const ResultSet& row) -> Result<void> {
                              version = StreamVersion{static_cast<std::uint64_t>(row.int8(0, 0))};
                              if (row.is_null(0, 1)) return {};
                              if (auto ok = read_event(row, 0, 1, event); !ok) return ok;
                              return visit(event);
                          });
    if (!r) return fail(std::move(r).error());
    return version;
}

namespace {

/// Pages larger than this are read row by row (libpq's single-row mode), which bounds the memory
/// they take; smaller ones whole, which is faster per row.
constexpr std::size_t streamed_above = 10'000;

/// A page of the whole log, unfiltered.
[[nodiscard]] auto read_page(Database::Impl& impl, Connection& c, const LogQuery& query, StoredEventVisitor visit)
    -> Result<LogPage> {
    LogPage page{.count = 0, .last = query.after, .head = {}};
    Params p;
    p.int8(static_cast<std::int64_t>(std::min<std::uint64_t>(query.after.value(), std::numeric_limits<std::int64_t>::max())));
    p.int8(static_cast<std::int64_t>(std::min<std::size_t>(query.limit, std::numeric_limits<std::int64_t>::max())));
    StoredEvent event;
    GlobalPosition commit_last{};
    const auto take = [&](const ResultSet& r, int row) -> Result<void> {
        page.head = GlobalPosition{static_cast<std::uint64_t>(r.int8(row, 0))};
        if (auto ok = read_event(r, row, 1, event); !ok) return ok;
        commit_last = GlobalPosition{static_cast<std::uint64_t>(r.int8(row, 12))};
        page.last = event.position;
        ++page.count;
        return visit(event);
    };
    if (query.limit > streamed_above) {
        // A large page comes row by row: memory holds one event whatever the page's size.
        auto r = c.stream(Prepared::read_all, impl.read_page_sql, p, Phase::read, "reading the log",
                          [&](const ResultSet& row) { return take(row, 0); });
        if (!r) return fail(std::move(r).error());
    } else {
        auto r = c.query(Prepared::read_all, impl.read_page_sql, p, Phase::read, "reading the log");
        if (!r) return fail(std::move(r).error());
        for (int row = 0; row < r->rows(); ++row) {
            if (auto ok = take(*r, row); !ok) return fail(std::move(ok).error());
        }
    }
    if (page.count == 0) {
        // Read in a later snapshot, so it only says whether there is more: `last` stays.
        Params none;
        auto h = c.query(Prepared::head, impl.head_sql, none, Phase::read, "reading the head position");
        if (!h) return fail(std::move(h).error());
        page.head = GlobalPosition{static_cast<std::uint64_t>(h->int8(0, 0))};
        return page;
    }
    if (page.count < query.limit) {
        page.last = std::max(page.head, query.after); // read to the head
        return page;
    }
    if (commit_last > page.last) {
        // Cut inside its last commit: the rest of it, which is settled as its first event is (one
        // transaction), and visible to any later snapshot.
        Params q;
        q.int8(static_cast<std::int64_t>(page.last.value()));
        q.int8(static_cast<std::int64_t>(commit_last.value()));
        auto tail = c.query(Prepared::read_tail, impl.read_tail_sql, q, Phase::read, "reading the log");
        if (!tail) return fail(std::move(tail).error());
        for (int row = 0; row < tail->rows(); ++row) {
            if (auto ok = read_event(*tail, row, 0, event); !ok) return fail(std::move(ok).error());
            if (auto ok = visit(event); !ok) return fail(std::move(ok).error());
            ++page.count;
        }
    }
    page.last = commit_last;
    return page;
}

} // namespace

[[nodiscard]] auto Database::read_all(const LogQuery& query, StoredEventVisitor visit) -> Result<LogPage> {
    LogPage page{.count = 0, .last = query.after, .head = {}};
    if (query.limit == 0) {
        auto h = head();
        if (!h) return fail(std::move(h).error());
        page.head = *h;
        return page;
    }
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    if (query.stream_prefix.empty() && query.event_types.empty() && !query.stream_pattern)
        return read_page(*impl_, **c, query, visit);
    Params p;
    p.int8(static_cast<std::int64_t>(std::min<std::uint64_t>(query.after.value(), std::numeric_limits<std::int64_t>::max())));
    bind_prefix_head(p, query.stream_prefix);
    if (query.event_types.empty()) {
        p.null(Oid::text_array);
    } else {
        p.array(Oid::text_array, text_array(storable_types(query.event_types))); // none left: matches nothing
    }
    p.int8(static_cast<std::int64_t>(std::min<std::size_t>(query.limit, std::numeric_limits<std::int64_t>::max())));
    if (query.stream_pattern) {
        p.text(query.stream_pattern->to_regex());
    } else {
        p.null(Oid::text);
    }
    bind_prefix_bytes(p, query.stream_prefix);
    // Not prepared: a plan made without the filters' values could read the whole log for a
    // narrow prefix.
    StoredEvent event;
    GlobalPosition commit_last{};
    const auto take = [&](const ResultSet& r, int row) -> Result<void> {
        page.head = GlobalPosition{static_cast<std::uint64_t>(r.int8(row, 0))};
        if (r.is_null(row, 1)) return {};
        if (auto ok = read_event(r, row, 1, event); !ok) return ok;
        commit_last = GlobalPosition{static_cast<std::uint64_t>(r.int8(row, 12))};
        ++page.count;
        return visit(event);
    };
    if (query.limit > streamed_above) {
        auto r = (*c)->stream(impl_->read_all_sql.c_str(), p, Phase::read, "reading the log",
                              [&](const ResultSet& row) { return take(row, 0); });
        if (!r) return fail(std::move(r).error());
    } else {
        auto r = (*c)->query(impl_->read_all_sql.c_str(), p, Phase::read, "reading the log");
        if (!r) return fail(std::move(r).error());
        for (int row = 0; row < r->rows(); ++row) {
            if (auto ok = take(*r, row); !ok) return fail(std::move(ok).error());
        }
    }
    // A full page was cut at the end of its last commit; a short one read to the head.
    page.last = page.count >= query.limit ? commit_last : std::max(page.head, query.after);
    return page;
}

[[nodiscard]] auto Database::head() -> Result<GlobalPosition> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params none;
    auto r = (*c)->query(Prepared::head, impl_->head_sql, none, Phase::read, "reading the head position");
    if (!r) return fail(std::move(r).error());
    return GlobalPosition{static_cast<std::uint64_t>(r->int8(0, 0))};
}

} // namespace eventcore::postgres
