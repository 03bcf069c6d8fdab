// A handle that is not const.
// expect: eventcore: the command's handle must be a const member function
#define NOTE_WRONG_MEMBERS \
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {} \
    void handle(const State&, eventcore::Context<Note>&) {}
#include "note_command.hpp"
