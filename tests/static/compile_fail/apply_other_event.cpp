// An apply for another event type.
// expect: eventcore: the command's apply does not take (State&, const eventcore::RecordedEvent<Event>&)
#define NOTE_WRONG_MEMBERS \
    void apply(State&, const eventcore::RecordedEvent<int>&) const {} \
    void handle(const State&, eventcore::Context<Note>&) const {}
#include "note_command.hpp"
