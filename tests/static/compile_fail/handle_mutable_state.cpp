// A handle that takes the state to change it.
// expect: eventcore: the command's handle must take the state as `const State&`
#define NOTE_WRONG_MEMBERS \
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {} \
    void handle(State&, eventcore::Context<Note>&) const {}
#include "note_command.hpp"
