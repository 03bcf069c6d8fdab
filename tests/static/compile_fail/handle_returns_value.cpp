// A handle that returns something other than void or CommandResult.
// expect: eventcore: the command's handle returns something other than void or eventcore::CommandResult
#define NOTE_WRONG_MEMBERS \
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {} \
    int handle(const State&, eventcore::Context<Note>&) const { return 0; }
#include "note_command.hpp"
