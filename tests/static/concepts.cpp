// The concepts accept what they should and refuse what they should; checked at compile time.
#include <eventcore/eventcore.hpp>

#include <cstdint>
#include <string>
#include <variant>

namespace {

using eventcore::Command;
using eventcore::Context;
using eventcore::EventStore;
using eventcore::RecordedEvent;
using eventcore::StreamId;

struct Deposited {
    std::int64_t amount;
};

struct Good {
    StreamId account;
    std::int64_t amount;
    using Event = Deposited;
    using State = std::int64_t;
    static constexpr auto streams = eventcore::streams(&Good::account);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<Good>&) const {}
};
static_assert(Command<Good>);

// handle may return a CommandResult instead of void.
struct GoodWithResult {
    StreamId account;
    using Event = Deposited;
    using State = int;
    static constexpr auto streams = eventcore::streams(&GoodWithResult::account);
    void apply(State&, const RecordedEvent<Event>&) const {}
    auto handle(const State&, Context<GoodWithResult>&) const -> eventcore::CommandResult { return {}; }
};
static_assert(Command<GoodWithResult>);

// A StreamId field that is not read may be opted out of the check.
struct WithIgnoredField {
    StreamId account;
    StreamId mentioned;
    using Event = Deposited;
    using State = int;
    static constexpr auto streams = eventcore::streams(&WithIgnoredField::account);
    static constexpr auto ignored_stream_fields = eventcore::streams(&WithIgnoredField::mentioned);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<WithIgnoredField>&) const {}
};
static_assert(Command<WithIgnoredField>);

struct UndeclaredField {
    StreamId account;
    StreamId forgotten;
    using Event = Deposited;
    using State = int;
    static constexpr auto streams = eventcore::streams(&UndeclaredField::account);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<UndeclaredField>&) const {}
};
static_assert(!Command<UndeclaredField>);

struct BothDeclaredAndIgnored {
    StreamId account;
    using Event = Deposited;
    using State = int;
    static constexpr auto streams = eventcore::streams(&BothDeclaredAndIgnored::account);
    static constexpr auto ignored_stream_fields = eventcore::streams(&BothDeclaredAndIgnored::account);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<BothDeclaredAndIgnored>&) const {}
};
static_assert(!Command<BothDeclaredAndIgnored>);

struct NoEvent {
    StreamId account;
    using State = int;
    static constexpr auto streams = eventcore::streams(&NoEvent::account);
};
static_assert(!Command<NoEvent>);

struct StateNotDefaultConstructible {
    struct State {
        explicit State(int) {}
    };
    StreamId account;
    using Event = Deposited;
    static constexpr auto streams = eventcore::streams(&StateNotDefaultConstructible::account);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<StateNotDefaultConstructible>&) const {}
};
static_assert(!Command<StateNotDefaultConstructible>);

struct HandleReturnsInt {
    StreamId account;
    using Event = Deposited;
    using State = int;
    static constexpr auto streams = eventcore::streams(&HandleReturnsInt::account);
    void apply(State&, const RecordedEvent<Event>&) const {}
    auto handle(const State&, Context<HandleReturnsInt>&) const -> int { return 0; }
};
static_assert(!Command<HandleReturnsInt>);

// Streams that point into another command are not this command's streams.
struct Borrower {
    StreamId account;
    using Event = Deposited;
    using State = int;
    static constexpr auto streams = eventcore::streams(&Good::account);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<Borrower>&) const {}
};
static_assert(!Command<Borrower>);

// A data member called `name` is a field, not the command's name.
struct CreateUser {
    StreamId user;
    std::string name;
    using Event = Deposited;
    using State = int;
    static constexpr auto streams = eventcore::streams(&CreateUser::user);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<CreateUser>&) const {}
};
static_assert(Command<CreateUser>);
static_assert(eventcore::detail::command_name<CreateUser>().ends_with("CreateUser"));

// A const StreamId field can be declared.
struct ConstField {
    const StreamId account;
    using Event = Deposited;
    using State = int;
    static constexpr auto streams = eventcore::streams(&ConstField::account);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<ConstField>&) const {}
};
static_assert(Command<ConstField>);

// Boost.PFR cannot look into a command with a C array; it opts out of the field check.
struct WithArray {
    StreamId account;
    int weights[3];
    using Event = Deposited;
    using State = int;
    static constexpr bool check_stream_fields = false;
    static constexpr auto streams = eventcore::streams(&WithArray::account);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void handle(const State&, Context<WithArray>&) const {}
};
static_assert(Command<WithArray>);

// A `resolve` that is not the hook would be ignored: refused instead.
struct WrongResolve {
    StreamId account;
    using Event = Deposited;
    using State = int;
    static constexpr auto streams = eventcore::streams(&WrongResolve::account);
    void apply(State&, const RecordedEvent<Event>&) const {}
    void resolve(const State&, eventcore::StreamResolver&) {} // not const
    void handle(const State&, Context<WrongResolve>&) const {}
};
static_assert(!Command<WrongResolve>);

// Stream sets are constant expressions.
static_assert(Good::streams.size() == 1);
static_assert(Good::streams.contains(&Good::account));
static_assert(!WithIgnoredField::streams.contains(&WithIgnoredField::mentioned));

// Stores.
using BankEvent = std::variant<Deposited>;
static_assert(EventStore<eventcore::InMemoryEventStore<BankEvent>>);
static_assert(EventStore<eventcore::InMemoryEventStore<Deposited>>);
static_assert(!EventStore<int>);
struct NotAStore {
    using event_type = Deposited;
};
static_assert(!EventStore<NotAStore>);

// Stream id rules at compile time.
static_assert(!eventcore::check_stream_id("account-1"));
static_assert(!eventcore::check_stream_id("konto-\xc3\xa4"));
static_assert(eventcore::check_stream_id("").rule == eventcore::StreamIdRule::empty);
static_assert(eventcore::check_stream_id(" a").rule == eventcore::StreamIdRule::surrounding_whitespace);
static_assert(eventcore::check_stream_id("a?").rule == eventcore::StreamIdRule::reserved_character);
static_assert(eventcore::check_stream_id("a\x01").rule == eventcore::StreamIdRule::control_character);
static_assert(eventcore::check_stream_id("\xc0\x80").rule == eventcore::StreamIdRule::invalid_utf8);

// Expected versions.
using eventcore::ExpectedVersion;
using eventcore::StreamVersion;
static_assert(ExpectedVersion::any().matches(StreamVersion{5}));
static_assert(ExpectedVersion::no_stream().matches(StreamVersion{0}));
static_assert(!ExpectedVersion::no_stream().matches(StreamVersion{1}));
static_assert(ExpectedVersion::stream_exists().matches(StreamVersion{1}));
static_assert(!ExpectedVersion::exact(StreamVersion{2}).matches(StreamVersion{3}));

// Versions and positions do not mix.
static_assert(!std::is_convertible_v<eventcore::StreamVersion, eventcore::GlobalPosition>);
static_assert(!std::is_convertible_v<std::uint64_t, eventcore::StreamVersion>);

} // namespace
