// An apply that is not const.
// expect: eventcore: the command's apply must be a const member function
#define NOTE_WRONG_MEMBERS \
    void apply(State&, const eventcore::RecordedEvent<Event>&) {} \
    void handle(const State&, eventcore::Context<Note>&) const {}
#include "note_command.hpp"
