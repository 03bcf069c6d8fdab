// An apply that takes the payload rather than the recorded event.
// expect: eventcore: the command's apply takes the recorded event, not its payload
#define NOTE_WRONG_MEMBERS \
    void apply(State&, const Event&) const {} \
    void handle(const State&, eventcore::Context<Note>&) const {}
#include "note_command.hpp"
