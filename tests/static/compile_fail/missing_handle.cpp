// A command without a handle.
// expect: eventcore: a command needs `void handle(const State&, eventcore::Context<Command>&) const`
#define NOTE_WRONG_MEMBERS void apply(State&, const eventcore::RecordedEvent<Event>&) const {}
#include "note_command.hpp"
