// Read-only streams: ValidateTransaction writes only the transaction stream, but the rules and
// the fraud history it decided on are part of its consistency boundary. When the rules change
// between the read and the commit, the commit is rejected and the command retried on fresh state.

#include "checks.hpp"

#include <eventcore/eventcore.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace {

using eventcore::Context;
using eventcore::ExpectedVersion;
using eventcore::RecordedEvent;
using eventcore::StreamId;

enum class Decision { approved, review, declined };

auto to_string(Decision d) -> std::string_view {
    switch (d) {
    case Decision::approved: return "approved";
    case Decision::review: return "sent to review";
    case Decision::declined: return "declined";
    }
    return "?";
}

// Transaction stream
struct TransactionSubmitted {
    std::int64_t amount;
};
struct TransactionValidated {
    int risk_score;
    int rules_version;
    Decision decision;
};
// Rules engine stream
struct RulesPublished {
    int version;
    std::int64_t review_above; // amounts above this need a human
    int decline_at_risk;       // risk scores from this one are declined
};
// Fraud history stream
struct ChargebackReported {
    std::int64_t amount;
};

using PaymentEvent = std::variant<TransactionSubmitted, TransactionValidated, RulesPublished, ChargebackReported>;
using Store = eventcore::InMemoryEventStore<PaymentEvent>;

struct ValidationState {
    bool submitted = false;
    bool validated = false;
    std::int64_t amount = 0;
    std::optional<RulesPublished> rules;
    int chargebacks = 0;
};

auto calculate_risk(int chargebacks) -> int { return 25 * chargebacks; }

struct ValidateTransaction {
    StreamId transaction;
    StreamId rules_engine;  // read only: the rules in force
    StreamId fraud_history; // read only: the customer's past

    using Event = PaymentEvent;
    using State = ValidationState;
    static constexpr auto streams = eventcore::streams(
        &ValidateTransaction::transaction, &ValidateTransaction::rules_engine, &ValidateTransaction::fraud_history);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        eventcore::match(
            e.payload,
            [&](const TransactionSubmitted& submitted) {
                s.submitted = true;
                s.amount = submitted.amount;
            },
            [&](const TransactionValidated&) { s.validated = true; },
            [&](const RulesPublished& rules) { s.rules = rules; },
            [&](const ChargebackReported&) { ++s.chargebacks; });
    }

    void handle(const State& s, Context<ValidateTransaction>& ctx) const {
        ctx.require(s.submitted, "transaction {} was never submitted", transaction);
        ctx.require(!s.validated, "transaction {} is already validated", transaction);
        ctx.require(s.rules.has_value(), "no rules published in {}", rules_engine);

        const int risk_score = calculate_risk(s.chargebacks);
        Decision decision = Decision::approved;
        if (risk_score >= s.rules->decline_at_risk) {
            decision = Decision::declined;
        } else if (s.amount > s.rules->review_above) {
            decision = Decision::review;
        }
        // Only the transaction is written; the executor still expects the two read-only streams
        // to be at the versions read, so a decision on stale rules cannot commit.
        ctx.write<&ValidateTransaction::transaction>(TransactionValidated{risk_score, s.rules->version, decision});
    }
};

static_assert(eventcore::Command<ValidateTransaction>);

/// Forwards everything to an in-memory store, except that just before the first commit it
/// publishes new rules, as a compliance team might while a validation is in flight.
class RulesChangeBeforeFirstCommit {
public:
    using event_type = PaymentEvent;

    RulesChangeBeforeFirstCommit(Store& inner, StreamId rules, RulesPublished change)
        : inner_(inner), rules_(std::move(rules)), change_(change) {}

    template <class F>
    auto read_streams(std::span<const StreamId> ids, F&& visit) const {
        return inner_.read_streams(ids, std::forward<F>(visit));
    }
    template <class F>
    auto read_stream(const StreamId& id, eventcore::StreamVersion from, F&& visit) const {
        return inner_.read_stream(id, from, std::forward<F>(visit));
    }
    template <class F>
    auto read_all(const eventcore::LogQuery& query, F&& visit) const {
        return inner_.read_all(query, std::forward<F>(visit));
    }
    auto append(eventcore::AppendRequest<PaymentEvent> request) -> eventcore::Result<eventcore::CommitReceipt> {
        if (!changed_) {
            changed_ = true;
            auto published = eventcore::append_to_stream(inner_, rules_, ExpectedVersion::any(), {change_});
            if (!published) return eventcore::fail(std::move(published).error());
        }
        auto receipt = inner_.append(std::move(request));
        if (!receipt && receipt.error().is(eventcore::ErrorKind::version_conflict)) {
            for (const auto& c : receipt.error().conflicts()) conflicts_.push_back(c);
        }
        return receipt;
    }
    auto find_commit(const eventcore::Uuid& command_id) const { return inner_.find_commit(command_id); }
    auto head() const { return inner_.head(); }

    /// The conflicts of the commits `inner` rejected.
    [[nodiscard]] auto conflicts() const -> std::span<const eventcore::VersionConflict> { return conflicts_; }

private:
    Store& inner_;
    StreamId rules_;
    RulesPublished change_;
    bool changed_ = false;
    std::vector<eventcore::VersionConflict> conflicts_;
};

static_assert(eventcore::EventStore<RulesChangeBeforeFirstCommit>);

using examples::check;
using examples::must;

void seed(Store& store, const StreamId& stream, std::vector<PaymentEvent> events) {
    examples::seed(store, stream, std::move(events), ExpectedVersion::any());
}

auto validation_of(const Store& store, const StreamId& transaction) -> TransactionValidated {
    const auto events = must(eventcore::load_stream(store, transaction), fmt::format("reading {}", transaction));
    check(!events.empty() && std::holds_alternative<TransactionValidated>(events.back().payload),
          fmt::format("{} ends with its validation", transaction));
    return std::get<TransactionValidated>(events.back().payload);
}

void run() {
    Store store;
    const auto rules = StreamId::from_static("rules-card-payments");
    const auto history = StreamId::from_static("fraud-history-customer-7");
    const auto txn_1 = StreamId::from_static("transaction-1");
    const auto txn_2 = StreamId::from_static("transaction-2");

    seed(store, rules, {RulesPublished{.version = 1, .review_above = 1000, .decline_at_risk = 75}});
    seed(store, history, {ChargebackReported{120}});
    seed(store, txn_1, {TransactionSubmitted{400}});
    seed(store, txn_2, {TransactionSubmitted{400}});

    {
        eventcore::CommandExecutor executor{store};
        const auto result = must(executor.execute(ValidateTransaction{txn_1, rules, history}), "validating txn 1");
        const auto v = validation_of(store, txn_1);
        fmt::print("{} (400): {} under rules v{}, risk {}, in {} attempt\n", txn_1, to_string(v.decision),
                   v.rules_version, v.risk_score, result.attempts);
        check(result.attempts == 1, "no conflict, one attempt");
        check(v.decision == Decision::approved && v.rules_version == 1, "approved under rules v1");
        check(result.events.size() == 1 && result.events.front().stream == txn_1, "only the transaction is written");
        check(result.streams.size() == 3, "the commit still checked all three streams");
    }

    // Rules v2 send everything above 250 to review; they land after the read, before the commit.
    RulesChangeBeforeFirstCommit racing(store, rules, {.version = 2, .review_above = 250, .decline_at_risk = 75});
    eventcore::CommandExecutor executor{racing};
    const auto result = must(executor.execute(ValidateTransaction{txn_2, rules, history}), "validating txn 2");
    const auto v = validation_of(store, txn_2);

    check(racing.conflicts().size() == 1, "the first commit was rejected, on one stream");
    const auto& conflict = racing.conflicts().front();
    fmt::print("{} (400): first commit rejected, {} expected {}, was at v{}\n", txn_2, conflict.stream,
               conflict.expected, conflict.actual);
    check(conflict.stream == rules, "the conflict is on the read-only rules stream");
    fmt::print("{} (400): {} under rules v{}, risk {}, in {} attempts\n", txn_2, to_string(v.decision),
               v.rules_version, v.risk_score, result.attempts);
    check(result.attempts == 2, "the command was retried once");
    check(v.rules_version == 2, "the retry decided with rules v2");
    check(v.decision == Decision::review, "400 > 250: sent to review, as rules v2 say");
    const auto txn_2_events = must(eventcore::load_stream(store, txn_2), "reading transaction-2");
    check(txn_2_events.size() == 2, "exactly one validation was written: the stale decision never landed");
}

} // namespace

int main() {
    try {
        run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "validate_transaction: {}\n", e.what());
        return 1;
    }
    return 0;
}
