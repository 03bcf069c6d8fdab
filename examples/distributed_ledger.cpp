// Distributed ledger: RecordTransaction writes the journal entry, the debit and the credit to
// three streams in one commit, so double-entry bookkeeping holds over the whole log at every
// point in time. An unbalanced entry, or one touching a closed account, is rejected whole.

#include "checks.hpp"

#include <eventcore/eventcore.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
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

struct LedgerEntry {
    std::string id;
    std::string memo;
    std::int64_t debit_amount = 0;
    std::int64_t credit_amount = 0;
};

// Ledger stream
struct EntryRecorded {
    LedgerEntry entry;
};
// Account streams
struct AccountOpened {
    std::string name;
};
struct AccountClosed {};
struct Debited {
    std::int64_t amount;
    std::string reference;
};
struct Credited {
    std::int64_t amount;
    std::string reference;
};

using LedgerEvent = std::variant<EntryRecorded, AccountOpened, AccountClosed, Debited, Credited>;
using Store = eventcore::InMemoryEventStore<LedgerEvent>;

struct AccountView {
    bool is_active = false;

    void apply(const LedgerEvent& event) {
        if (std::holds_alternative<AccountOpened>(event)) is_active = true;
        if (std::holds_alternative<AccountClosed>(event)) is_active = false;
    }
};

struct LedgerState {
    AccountView account_a;
    AccountView account_b;
    std::vector<std::string> recorded_ids;
};

/// Debits `account_a` and credits `account_b`, recording the entry in the ledger.
struct RecordTransaction {
    StreamId ledger;
    StreamId account_a;
    StreamId account_b;
    LedgerEntry entry;

    using Event = LedgerEvent;
    using State = LedgerState;
    static constexpr auto streams = eventcore::streams(&RecordTransaction::ledger, &RecordTransaction::account_a,
                                                       &RecordTransaction::account_b);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        if (e.stream == ledger) {
            if (const auto* r = std::get_if<EntryRecorded>(&e.payload)) s.recorded_ids.push_back(r->entry.id);
        }
        if (e.stream == account_a) s.account_a.apply(e.payload);
        if (e.stream == account_b) s.account_b.apply(e.payload);
    }

    void handle(const State& s, Context<RecordTransaction>& ctx) const {
        ctx.require(entry.debit_amount == entry.credit_amount, "entry {}: debits ({}) must equal credits ({})",
                    entry.id, entry.debit_amount, entry.credit_amount);
        ctx.require(entry.debit_amount > 0, "entry {}: the amount must be positive", entry.id);
        ctx.require(account_a != account_b, "entry {}: debit and credit accounts must differ", entry.id);
        ctx.require(s.account_a.is_active && s.account_b.is_active, "entry {}: both accounts must be active",
                    entry.id);
        ctx.require(std::ranges::find(s.recorded_ids, entry.id) == s.recorded_ids.end(),
                    "entry {} is already recorded", entry.id);

        ctx.write<&RecordTransaction::ledger>(EntryRecorded{entry});
        ctx.write<&RecordTransaction::account_a>(Debited{entry.debit_amount, entry.id});
        ctx.write<&RecordTransaction::account_b>(Credited{entry.credit_amount, entry.id});
    }
};

static_assert(eventcore::Command<RecordTransaction>);

using examples::check;
using examples::must;

struct Totals {
    std::int64_t debits = 0;
    std::int64_t credits = 0;
    std::int64_t journal = 0;                  // the sum of recorded entries
    std::map<StreamId, std::int64_t> balances; // debits minus credits, by account
    int unbalanced_commits = 0;                // commit boundaries where the log did not balance
};

// Audits the global log from the first event, checking the books after every commit, not only
// at the end: a reader of the log at any point must never see half an entry.
auto audit(const Store& store) -> Totals {
    Totals totals;
    const auto log = must(eventcore::load_log(store), "reading the global log");
    for (std::size_t i = 0; i < log.size(); ++i) {
        const auto& e = log[i];
        if (const auto* d = std::get_if<Debited>(&e.payload)) {
            totals.debits += d->amount;
            totals.balances[e.stream] += d->amount;
        } else if (const auto* c = std::get_if<Credited>(&e.payload)) {
            totals.credits += c->amount;
            totals.balances[e.stream] -= c->amount;
        } else if (const auto* r = std::get_if<EntryRecorded>(&e.payload)) {
            totals.journal += r->entry.debit_amount;
        }
        // The events of one command execution share a causation id and are adjacent in the log.
        const bool ends_commit = i + 1 == log.size() || log[i + 1].metadata.causation_id != e.metadata.causation_id;
        if (ends_commit && totals.debits != totals.credits) ++totals.unbalanced_commits;
    }
    return totals;
}

void run() {
    Store store;
    eventcore::CommandExecutor executor{store};

    const auto ledger = StreamId::from_static("ledger-2024");
    const auto cash = StreamId::from_static("account-cash");
    const auto revenue = StreamId::from_static("account-revenue");
    const auto receivables = StreamId::from_static("account-receivables");
    const auto rent = StreamId::from_static("account-rent");
    const auto suspense = StreamId::from_static("account-suspense");

    for (const auto& account : {cash, revenue, receivables, rent, suspense}) {
        must(eventcore::append_to_stream(store, account, ExpectedVersion::no_stream(), {AccountOpened{account.str()}}),
             "opening an account");
    }
    must(eventcore::append_to_stream(store, suspense, ExpectedVersion::exact(eventcore::StreamVersion{1}),
                                     {AccountClosed{}}),
         "closing the suspense account");

    const std::array<RecordTransaction, 4> entries{{
        {ledger, receivables, revenue, {"JE-1", "invoice 17", 1200, 1200}},
        {ledger, cash, receivables, {"JE-2", "invoice 17 paid", 800, 800}},
        {ledger, rent, cash, {"JE-3", "office rent", 500, 500}},
        {ledger, cash, revenue, {"JE-4", "cash sale", 150, 150}},
    }};
    for (const auto& t : entries) {
        must(executor.execute(t), fmt::format("recording {}", t.entry.id));
        fmt::print("{} {:<16} debit {:<20} credit {:<20} {:>5}\n", t.entry.id, t.entry.memo, t.account_a,
                   t.account_b, t.entry.debit_amount);
    }

    const auto head = must(store.head(), "reading the head");
    const auto unbalanced =
        executor.execute(RecordTransaction{ledger, cash, revenue, {"JE-5", "typo", 1000, 100}});
    check(!unbalanced, "an unbalanced entry is rejected");
    fmt::print("JE-5: rejected ({})\n", unbalanced.error());
    const auto closed = executor.execute(RecordTransaction{ledger, suspense, cash, {"JE-6", "parked", 50, 50}});
    check(!closed, "an entry on a closed account is rejected");
    fmt::print("JE-6: rejected ({})\n", closed.error());
    const auto again = executor.execute(entries[0]);
    check(!again, "recording an entry twice is rejected");
    fmt::print("JE-1 again: rejected ({})\n", again.error());
    check(must(store.head(), "reading the head") == head, "the rejected entries wrote nothing");

    const auto totals = audit(store);
    fmt::print("audit of the global log: debits {}, credits {}, journal {}\n", totals.debits, totals.credits,
               totals.journal);
    for (const auto& [account, balance] : totals.balances) fmt::print("  {:<20} {:>6}\n", account, balance);
    check(totals.debits == totals.credits, "the sum of debits equals the sum of credits");
    check(totals.unbalanced_commits == 0, "the books balance after every commit in the log");
    check(totals.journal == totals.debits, "the journal agrees with the accounts");
    check(totals.debits == 1200 + 800 + 500 + 150, "exactly the four accepted entries were posted");
    check(totals.balances.at(cash) == 800 - 500 + 150, "cash: +800 -500 +150");
    check(totals.balances.at(revenue) == -1350, "revenue: credited 1200 + 150");
}

} // namespace

int main() {
    try {
        run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "distributed_ledger: {}\n", e.what());
        return 1;
    }
    return 0;
}
