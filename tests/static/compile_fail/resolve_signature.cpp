// A resolve hook with the wrong signature would never be called: refused.
// expect: eventcore: a command's resolve must be `void resolve(const State&, eventcore::StreamResolver&) const`
#define NOTE_WRONG_MEMBERS \
    void apply(State&, const eventcore::RecordedEvent<Event>&) const {} \
    void resolve(const State&, eventcore::StreamResolver&) {} \
    void handle(const State&, eventcore::Context<Note>&) const {}
#include "note_command.hpp"
