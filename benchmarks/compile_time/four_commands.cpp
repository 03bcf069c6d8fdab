// A service file as users write them: a box office with four commands, run on SQLite and on
// PostgreSQL. Compiled (not run) by compile_time.py to measure what the library costs to build.
#include <eventcore/eventcore.hpp>
#include <eventcore/postgres_event_store.hpp>
#include <eventcore/sqlite_event_store.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <variant>

namespace boxoffice {

struct ShowScheduled {
    std::string title;
    std::int64_t seats;
    std::int64_t price_cents;
};
struct SeatReserved {
    std::string booking;
    std::int64_t seat;
};
struct SeatReleased {
    std::string booking;
    std::int64_t seat;
};
struct FundsAdded {
    std::int64_t cents;
};
struct FundsCharged {
    std::string booking;
    std::int64_t cents;
};
struct FundsRefunded {
    std::string booking;
    std::int64_t cents;
};
struct BookingConfirmed {
    std::string show;
    std::int64_t seat;
    std::int64_t cents;
};
struct BookingCancelled {
    std::string reason;
};
EVENTCORE_EVENT(ShowScheduled, title, seats, price_cents)
EVENTCORE_EVENT(SeatReserved, booking, seat)
EVENTCORE_EVENT(SeatReleased, booking, seat)
EVENTCORE_EVENT(FundsAdded, cents)
EVENTCORE_EVENT(FundsCharged, booking, cents)
EVENTCORE_EVENT(FundsRefunded, booking, cents)
EVENTCORE_EVENT(BookingConfirmed, show, seat, cents)
EVENTCORE_EVENT(BookingCancelled, reason)

using Event = std::variant<ShowScheduled, SeatReserved, SeatReleased, FundsAdded, FundsCharged, FundsRefunded,
                           BookingConfirmed, BookingCancelled>;

struct Show {
    bool scheduled = false;
    std::int64_t seats = 0;
    std::int64_t price_cents = 0;
    std::map<std::int64_t, std::string> taken;
};

struct ScheduleShow {
    eventcore::StreamId show;
    std::string title;
    std::int64_t seats;
    std::int64_t price_cents;

    using Event = boxoffice::Event;
    using State = Show;
    static constexpr auto streams = eventcore::streams(&ScheduleShow::show);

    void apply(State& s, const eventcore::RecordedEvent<Event>& e) const {
        if (std::holds_alternative<ShowScheduled>(e.payload)) s.scheduled = true;
    }
    void handle(const State& s, eventcore::Context<ScheduleShow>& ctx) const {
        ctx.require(!s.scheduled, "show {} is scheduled already", show);
        ctx.require(seats > 0 && price_cents >= 0, "a show needs seats and a price, got {} and {}", seats, price_cents);
        ctx.write<&ScheduleShow::show>(ShowScheduled{title, seats, price_cents});
    }
};

struct AddFunds {
    eventcore::StreamId wallet;
    std::int64_t cents;

    using Event = boxoffice::Event;
    using State = std::int64_t;
    static constexpr auto streams = eventcore::streams(&AddFunds::wallet);

    void apply(State& balance, const eventcore::RecordedEvent<Event>& e) const {
        if (const auto* a = std::get_if<FundsAdded>(&e.payload)) balance += a->cents;
        if (const auto* c = std::get_if<FundsCharged>(&e.payload)) balance -= c->cents;
        if (const auto* r = std::get_if<FundsRefunded>(&e.payload)) balance += r->cents;
    }
    void handle(const State&, eventcore::Context<AddFunds>& ctx) const {
        ctx.require(cents > 0, "funds to add must be positive, got {}", cents);
        ctx.write<&AddFunds::wallet>(FundsAdded{cents});
    }
};

struct Booking {
    Show show;
    std::int64_t balance = 0;
    bool confirmed = false;
    bool cancelled = false;
    std::int64_t seat = 0;
    std::int64_t cents = 0;
};

struct BookSeat {
    eventcore::StreamId show;
    eventcore::StreamId wallet;
    eventcore::StreamId booking;
    std::int64_t seat;

    using Event = boxoffice::Event;
    using State = Booking;
    static constexpr auto streams = eventcore::streams(&BookSeat::show, &BookSeat::wallet, &BookSeat::booking);

    void apply(State& s, const eventcore::RecordedEvent<Event>& e) const {
        std::visit(
            [&](const auto& event) {
                using T = std::decay_t<decltype(event)>;
                if constexpr (std::is_same_v<T, ShowScheduled>) {
                    s.show.scheduled = true;
                    s.show.seats = event.seats;
                    s.show.price_cents = event.price_cents;
                } else if constexpr (std::is_same_v<T, SeatReserved>) {
                    s.show.taken[event.seat] = event.booking;
                } else if constexpr (std::is_same_v<T, SeatReleased>) {
                    s.show.taken.erase(event.seat);
                } else if constexpr (std::is_same_v<T, FundsAdded>) {
                    s.balance += event.cents;
                } else if constexpr (std::is_same_v<T, FundsCharged>) {
                    s.balance -= event.cents;
                } else if constexpr (std::is_same_v<T, FundsRefunded>) {
                    s.balance += event.cents;
                } else if constexpr (std::is_same_v<T, BookingConfirmed>) {
                    s.confirmed = true;
                }
            },
            e.payload);
    }
    void handle(const State& s, eventcore::Context<BookSeat>& ctx) const {
        ctx.require(s.show.scheduled, "show {} is not scheduled", show);
        ctx.require(!s.confirmed, "booking {} is confirmed already", booking);
        ctx.require(seat >= 1 && seat <= s.show.seats, "show {} has no seat {}", show, seat);
        ctx.require(!s.show.taken.contains(seat), "seat {} of show {} is taken", seat, show);
        ctx.require(s.balance >= s.show.price_cents, "wallet {} holds {}, the seat costs {}", wallet, s.balance,
                    s.show.price_cents);
        ctx.write<&BookSeat::show>(SeatReserved{booking.str(), seat});
        ctx.write<&BookSeat::wallet>(FundsCharged{booking.str(), s.show.price_cents});
        ctx.write<&BookSeat::booking>(BookingConfirmed{show.str(), seat, s.show.price_cents});
    }
};

struct CancelBooking {
    eventcore::StreamId booking;
    eventcore::StreamId show;
    eventcore::StreamId wallet;
    std::string reason;

    using Event = boxoffice::Event;
    using State = Booking;
    static constexpr auto streams =
        eventcore::streams(&CancelBooking::booking, &CancelBooking::show, &CancelBooking::wallet);

    void apply(State& s, const eventcore::RecordedEvent<Event>& e) const {
        if (e.stream != booking) return;
        if (const auto* c = std::get_if<BookingConfirmed>(&e.payload)) {
            s.confirmed = true;
            s.seat = c->seat;
            s.cents = c->cents;
        }
        if (std::holds_alternative<BookingCancelled>(e.payload)) s.cancelled = true;
    }
    void handle(const State& s, eventcore::Context<CancelBooking>& ctx) const {
        ctx.require(s.confirmed, "booking {} was never confirmed", booking);
        ctx.require(!s.cancelled, "booking {} is cancelled already", booking);
        ctx.write<&CancelBooking::booking>(BookingCancelled{reason});
        ctx.write<&CancelBooking::show>(SeatReleased{booking.str(), s.seat});
        ctx.write<&CancelBooking::wallet>(FundsRefunded{booking.str(), s.cents});
    }
};

template <class Store>
auto run(Store& store) -> int {
    eventcore::CommandExecutor executor{store};
    const auto show = eventcore::StreamId::from_static("show-hamlet");
    const auto wallet = eventcore::StreamId::from_static("wallet-ada");
    const auto booking = eventcore::StreamId::from_static("booking-1");
    if (!executor.execute(ScheduleShow{show, "Hamlet", 100, 4500})) return 1;
    if (!executor.execute(AddFunds{wallet, 10000})) return 2;
    const auto booked = executor.execute(BookSeat{show, wallet, booking, 12});
    if (!booked) {
        fmt::print("not booked: {}\n", booked.error());
        return 3;
    }
    if (!executor.execute(CancelBooking{booking, show, wallet, "changed plans"})) return 4;
    return 0;
}

} // namespace boxoffice

int main(int argc, char** argv) {
    if (argc > 1) {
        auto postgres = eventcore::PostgresEventStore<boxoffice::Event>::open(argv[1]);
        if (!postgres) return 5;
        return boxoffice::run(*postgres);
    }
    auto sqlite = eventcore::SqliteEventStore<boxoffice::Event>::open(":memory:");
    if (!sqlite) return 6;
    return boxoffice::run(*sqlite);
}
