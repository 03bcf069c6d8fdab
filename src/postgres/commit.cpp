// The commit: `append`, and the receipts of idempotent commands.

#include "database_impl.hpp"

#include <eventcore/detail/custom_metadata.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace eventcore::postgres {

namespace {

/// A receipt from the rows of `append_events` or `receipt` (kinds 0, 1 and 3).
[[nodiscard]] auto receipt_from(const ResultSet& r, std::optional<Uuid> command_id) -> Result<CommitReceipt> {
    CommitReceipt receipt;
    receipt.command_id = command_id;
    std::vector<std::pair<std::int64_t, StreamState>> streams;
    for (int row = 0; row < r.rows(); ++row) {
        switch (r.int2(row, 0)) {
        case 0: {
            auto stream = stored_stream_id(r.bytes(row, 1));
            if (!stream) return fail(std::move(stream).error());
            receipt.events.push_back({std::move(*stream), StreamVersion{static_cast<std::uint64_t>(r.int8(row, 2))},
                                      GlobalPosition{static_cast<std::uint64_t>(r.int8(row, 3))}, r.uuid(row, 4)});
            receipt.committed_at = r.timestamp(row, 5);
            break;
        }
        case 1: {
            auto stream = stored_stream_id(r.bytes(row, 1));
            if (!stream) return fail(std::move(stream).error());
            streams.push_back({r.int8(row, 3),
                               {std::move(*stream), StreamVersion{static_cast<std::uint64_t>(r.int8(row, 2))}}});
            receipt.committed_at = r.timestamp(row, 5);
            break;
        }
        case 3:
            receipt.duplicate = true;
            receipt.committed_at = r.timestamp(row, 5);
            break;
        default: break;
        }
    }
    std::ranges::sort(receipt.events, {}, &WrittenEvent::position);
    std::ranges::sort(streams, {}, &std::pair<std::int64_t, StreamState>::first);
    for (auto& s : streams) receipt.streams.push_back(std::move(s.second));
    return receipt;
}

auto expected_of(std::int16_t kind, std::int64_t version) -> ExpectedVersion {
    switch (kind) {
    case 1: return ExpectedVersion::no_stream();
    case 2: return ExpectedVersion::stream_exists();
    case 3: return ExpectedVersion::exact(StreamVersion{static_cast<std::uint64_t>(version)});
    default: return ExpectedVersion::any();
    }
}

auto kind_of(ExpectedVersion e) -> std::int16_t {
    switch (e.kind()) {
    case ExpectedVersion::Kind::any: return 0;
    case ExpectedVersion::Kind::no_stream: return 1;
    case ExpectedVersion::Kind::stream_exists: return 2;
    case ExpectedVersion::Kind::exact: return 3;
    }
    return 0;
}

} // namespace

[[nodiscard]] auto Database::append(std::span<const StreamExpectation> expectations, std::span<const EncodedWrite> events,
                      std::optional<Uuid> command_id) -> Result<CommitReceipt> {
    std::vector<std::int32_t> owner(events.size());
    std::vector<bool> written(expectations.size());
    for (std::size_t e = 0; e < events.size(); ++e) {
        std::size_t i = e > 0 && expectations[static_cast<std::size_t>(owner[e - 1]) - 1].stream == *events[e].stream
                            ? static_cast<std::size_t>(owner[e - 1]) - 1
                            : 0;
        while (i < expectations.size() && expectations[i].stream != *events[e].stream) ++i;
        if (i == expectations.size())
            return fail(ErrorKind::validation, "commit writes to stream '{}' without an expectation for it",
                        *events[e].stream);
        owner[e] = static_cast<std::int32_t>(i + 1);
        written[i] = true;
    }

    Params p;
    {
        Params::ArrayBuilder streams(Oid::text), kinds(Oid::int2), expected(Oid::int8), writes(Oid::boolean);
        for (std::size_t i = 0; i < expectations.size(); ++i) {
            streams.add_bytes(expectations[i].stream.view());
            kinds.add_int2(kind_of(expectations[i].expected));
            expected.add_int8(static_cast<std::int64_t>(expectations[i].expected.version().value()));
            writes.add_bool(written[i]);
        }
        p.array(Oid::text_array, std::move(streams));
        p.array(Oid::int2_array, std::move(kinds));
        p.array(Oid::int8_array, std::move(expected));
        p.array(Oid::boolean_array, std::move(writes));
    }
    {
        Params::ArrayBuilder stream_index(Oid::int4), types(Oid::text), payloads(Oid::bytea), ids(Oid::uuid),
            correlation(Oid::uuid), causation(Oid::uuid), commands(Oid::text), custom(Oid::text);
        for (std::size_t e = 0; e < events.size(); ++e) {
            const EventMetadata& m = *events[e].metadata;
            stream_index.add_int4(owner[e]);
            types.add_bytes(events[e].event.type);
            payloads.add_bytes(events[e].event.payload);
            ids.add_uuid(m.event_id);
            correlation.add_uuid(m.correlation_id);
            causation.add_uuid(m.causation_id);
            commands.add_bytes(m.command);
            if (m.custom.empty()) {
                custom.add_null();
            } else {
                custom.add_bytes(eventcore::detail::encode_custom(m.custom));
            }
        }
        p.array(Oid::int4_array, std::move(stream_index));
        p.array(Oid::text_array, std::move(types));
        p.array(Oid::bytea_array, std::move(payloads));
        p.array(Oid::uuid_array, std::move(ids));
        p.array(Oid::uuid_array, std::move(correlation));
        p.array(Oid::uuid_array, std::move(causation));
        p.array(Oid::text_array, std::move(commands));
        p.array(Oid::text_array, std::move(custom));
    }
    p.optional_uuid(command_id);

    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    // One statement in autocommit: the function and the commit, in one round trip.
    auto r = (*c)->query(Prepared::append, impl_->append_sql, p, Phase::commit, "committing");
    if (!r) {
        // The commit function may have failed holding the positions lock (append_events).
        (*c)->abandon();
        return fail(std::move(r).error());
    }

    std::vector<VersionConflict> conflicts;
    for (int row = 0; row < r->rows(); ++row) {
        if (r->int2(row, 0) != 2) continue;
        auto stream = stored_stream_id(r->bytes(row, 1));
        if (!stream) return fail(std::move(stream).error());
        conflicts.push_back({std::move(*stream), expected_of(r->int2(row, 6), r->int8(row, 7)),
                             StreamVersion{static_cast<std::uint64_t>(r->int8(row, 2))}});
    }
    if (!conflicts.empty()) {
        // Report them in the order of the request, as the other stores do.
        std::ranges::sort(conflicts, {}, [&](const VersionConflict& v) {
            return std::ranges::find(expectations, v.stream, &StreamExpectation::stream) - expectations.begin();
        });
        return fail(Error::conflict(std::move(conflicts)));
    }
    auto receipt = receipt_from(*r, command_id);
    if (receipt && !receipt->duplicate && !receipt->events.empty()) impl_->committed();
    return receipt;
}

[[nodiscard]] auto Database::find_commit(const Uuid& command_id) -> Result<std::optional<CommitReceipt>> {
    auto c = impl_->acquire();
    if (!c) return fail(std::move(c).error());
    Params p;
    p.uuid(command_id);
    auto r = (*c)->query(Prepared::receipt, impl_->receipt_sql, p, Phase::read, "looking up a command id");
    if (!r) return fail(std::move(r).error());
    if (r->rows() == 0) return std::optional<CommitReceipt>{};
    auto receipt = receipt_from(*r, command_id);
    if (!receipt) return fail(std::move(receipt).error());
    receipt->duplicate = false;
    return std::optional<CommitReceipt>{std::move(*receipt)};
}

} // namespace eventcore::postgres
