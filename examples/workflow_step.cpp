// Workflow orchestration: completing a step declares the workflow and the current step; the next
// step's stream depends on the step's type and its result, so it is discovered, and it is
// activated in the same commit that completes the current step. Two runs take different paths.

#include "checks.hpp"

#include <eventcore/eventcore.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace {

using eventcore::Context;
using eventcore::RecordedEvent;
using eventcore::StreamId;

enum class StepType { approval, processing };
enum class StepResult { approved, rejected, success, error };

auto to_string(StepResult result) -> std::string_view {
    switch (result) {
    case StepResult::approved: return "approved";
    case StepResult::rejected: return "rejected";
    case StepResult::success: return "success";
    case StepResult::error: return "error";
    }
    return "?";
}

/// A step of a workflow's definition and where each outcome leads (empty: the workflow ends).
struct StepDefinition {
    std::string id;
    StepType type = StepType::processing;
    std::string next;
    std::string on_rejection;
    std::string on_error;
};

// Workflow stream
struct WorkflowStarted {
    std::string workflow_id;
    std::vector<StepDefinition> steps;
};
struct StepCompleted {
    std::string step_id;
    StepResult result;
};
struct WorkflowFinished {
    std::string last_step;
};
// Step streams
struct Activated {
    std::string workflow_id;
    std::string step_id;
};
struct Completed {
    StepResult result;
};

using WorkflowEvent = std::variant<WorkflowStarted, StepCompleted, WorkflowFinished, Activated, Completed>;
using Store = eventcore::InMemoryEventStore<WorkflowEvent>;

auto step_stream(std::string_view workflow_id, std::string_view step_id) -> StreamId {
    return StreamId(fmt::format("step-{}-{}", workflow_id, step_id));
}

struct WorkflowView {
    std::string id;
    std::map<std::string, StepDefinition> steps;
    bool finished = false;
};

struct StepView {
    std::string id;
    bool active = false;
    bool completed = false;
};

struct WorkflowState {
    WorkflowView workflow;
    StepView current_step;
    StepView next_step; // once discovered
};

/// Starts a workflow and activates its first step in one commit.
struct StartWorkflow {
    StreamId workflow;
    std::string workflow_id;
    std::vector<StepDefinition> steps;

    using Event = WorkflowEvent;
    using State = WorkflowView;
    static constexpr auto streams = eventcore::streams(&StartWorkflow::workflow);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        if (const auto* started = std::get_if<WorkflowStarted>(&e.payload)) s.id = started->workflow_id;
    }
    void handle(const State& s, Context<StartWorkflow>& ctx) const {
        ctx.require(s.id.empty(), "workflow {} has already started", workflow);
        ctx.require(!steps.empty(), "workflow {} has no steps", workflow);
        const auto first = step_stream(workflow_id, steps.front().id);
        ctx.add_stream(first);
        ctx.write<&StartWorkflow::workflow>(WorkflowStarted{workflow_id, steps});
        ctx.write(first, Activated{workflow_id, steps.front().id});
    }
};

struct CompleteWorkflowStep {
    StreamId workflow;
    StreamId current_step;
    StepResult step_result;

    using Event = WorkflowEvent;
    using State = WorkflowState;
    static constexpr auto streams =
        eventcore::streams(&CompleteWorkflowStep::workflow, &CompleteWorkflowStep::current_step);

    void apply(State& s, const RecordedEvent<Event>& e) const {
        auto& step = e.stream == current_step ? s.current_step : s.next_step;
        eventcore::match(
            e.payload,
            [&](const WorkflowStarted& started) {
                s.workflow.id = started.workflow_id;
                for (const auto& definition : started.steps) s.workflow.steps[definition.id] = definition;
            },
            [&](const WorkflowFinished&) { s.workflow.finished = true; },
            [&](const Activated& activated) {
                step.id = activated.step_id;
                step.active = true;
            },
            [&](const Completed&) {
                step.active = false;
                step.completed = true;
            },
            // The workflow's record of each step's result; the step streams say the rest.
            [](const StepCompleted&) {});
    }

    /// The step this result leads to, if any, from the workflow's definition of the current step.
    [[nodiscard]] auto next_step_id(const State& s) const -> std::optional<std::string> {
        const auto it = s.workflow.steps.find(s.current_step.id);
        if (it == s.workflow.steps.end()) return std::nullopt;
        const StepDefinition& step = it->second;
        const std::string* next = nullptr;
        switch (step.type) {
        case StepType::approval:
            if (step_result == StepResult::approved) next = &step.next;
            if (step_result == StepResult::rejected) next = &step.on_rejection;
            break;
        case StepType::processing:
            if (step_result == StepResult::success) next = &step.next;
            if (step_result == StepResult::error) next = &step.on_error;
            break;
        }
        if (next == nullptr || next->empty()) return std::nullopt;
        return *next;
    }

    // The next step's stream is known only once the workflow and the current step are folded.
    void resolve(const State& s, eventcore::StreamResolver& resolver) const {
        if (const auto next = next_step_id(s)) resolver.add_stream(step_stream(s.workflow.id, *next));
    }

    void handle(const State& s, Context<CompleteWorkflowStep>& ctx) const {
        ctx.require(!s.workflow.id.empty() && !s.workflow.finished, "workflow {} is not running", workflow);
        ctx.require(s.current_step.active, "step {} is not active", current_step);
        const auto it = s.workflow.steps.find(s.current_step.id);
        ctx.require(it != s.workflow.steps.end(), "step {} is not part of workflow {}", current_step, workflow);
        const bool fits = it->second.type == StepType::approval
                              ? step_result == StepResult::approved || step_result == StepResult::rejected
                              : step_result == StepResult::success || step_result == StepResult::error;
        ctx.require(fits, "'{}' is not a result of step {}", to_string(step_result), current_step);

        ctx.write<&CompleteWorkflowStep::workflow>(StepCompleted{s.current_step.id, step_result});
        ctx.write<&CompleteWorkflowStep::current_step>(Completed{step_result});
        if (const auto next = next_step_id(s)) {
            ctx.require(!s.next_step.active && !s.next_step.completed, "step {} has already run", *next);
            ctx.write(step_stream(s.workflow.id, *next), Activated{s.workflow.id, *next});
        } else {
            ctx.write<&CompleteWorkflowStep::workflow>(WorkflowFinished{s.current_step.id});
        }
    }
};

static_assert(eventcore::Command<StartWorkflow>);
static_assert(eventcore::Command<CompleteWorkflowStep>);

using examples::check;
using examples::must;

/// An expense claim: a manager approves it, then it is paid out; errors and rejections branch.
auto expense_claim() -> std::vector<StepDefinition> {
    return {
        {.id = "review", .type = StepType::approval, .next = "payout", .on_rejection = "notify-rejection",
         .on_error = {}},
        {.id = "payout", .type = StepType::processing, .next = {}, .on_rejection = {}, .on_error = "manual-payout"},
        {.id = "manual-payout", .type = StepType::processing, .next = {}, .on_rejection = {}, .on_error = {}},
        {.id = "notify-rejection", .type = StepType::processing, .next = {}, .on_rejection = {}, .on_error = {}},
    };
}

auto was_activated(const Store& store, const StreamId& stream) -> bool {
    const auto events = must(eventcore::load_stream(store, stream), fmt::format("reading {}", stream));
    return std::ranges::any_of(events, [](const auto& e) { return std::holds_alternative<Activated>(e.payload); });
}

/// Completes one step; returns the step stream that the same commit activated, if any.
auto complete(const eventcore::CommandExecutor<Store>& executor, std::string_view workflow_id, std::string_view step,
              StepResult result) -> std::optional<StreamId> {
    const auto workflow = StreamId(fmt::format("workflow-{}", workflow_id));
    const auto current = step_stream(workflow_id, step);
    const auto outcome = must(executor.execute(CompleteWorkflowStep{workflow, current, result}),
                              fmt::format("completing {} of {}", step, workflow));
    std::optional<StreamId> activated;
    for (const auto& w : outcome.events) {
        if (w.stream != workflow && w.stream != current) activated = w.stream;
    }
    fmt::print("  {:<16} {:<9} -> {} ({} events, one commit)\n", step, to_string(result),
               activated ? fmt::format("activated {}", *activated) : "the workflow finished", outcome.events.size());
    return activated;
}

void run() {
    Store store;
    eventcore::CommandExecutor executor{store};

    for (const std::string_view id : {"exp-1", "exp-2"}) {
        const StartWorkflow start{StreamId(fmt::format("workflow-{}", id)), std::string(id), expense_claim()};
        must(executor.execute(start), fmt::format("starting {}", id));
    }

    fmt::print("exp-1: approved, the payout fails, then a manual payout succeeds\n");
    check(complete(executor, "exp-1", "review", StepResult::approved) == step_stream("exp-1", "payout"),
          "approval activates the payout");
    check(complete(executor, "exp-1", "payout", StepResult::error) == step_stream("exp-1", "manual-payout"),
          "a payout error activates the manual payout");
    check(!complete(executor, "exp-1", "manual-payout", StepResult::success), "the manual payout is the last step");

    fmt::print("exp-2: rejected, the claimant is notified; the payout never runs\n");
    check(complete(executor, "exp-2", "review", StepResult::rejected) == step_stream("exp-2", "notify-rejection"),
          "rejection activates the notification");
    // exp-2 took the rejection path: its payout step never became active, so it cannot complete.
    const auto head = must(store.head(), "reading the head");
    const auto wrong = executor.execute(CompleteWorkflowStep{StreamId::from_static("workflow-exp-2"),
                                                             step_stream("exp-2", "payout"), StepResult::success});
    check(!wrong && wrong.error().is(eventcore::ErrorKind::business_rule),
          "a step that was never activated cannot complete");
    fmt::print("  {:<16} {:<9} -> rejected ({})\n", "payout", "success", wrong.error().message());
    check(must(store.head(), "reading the head") == head, "the rejected completion wrote nothing");
    check(!complete(executor, "exp-2", "notify-rejection", StepResult::success), "the notification is the last step");

    struct Expected {
        std::string_view workflow;
        std::string_view step;
        bool activated;
    };
    const std::array<Expected, 8> expected{{
        {"exp-1", "review", true},
        {"exp-1", "payout", true},
        {"exp-1", "manual-payout", true},
        {"exp-1", "notify-rejection", false},
        {"exp-2", "review", true},
        {"exp-2", "payout", false},
        {"exp-2", "manual-payout", false},
        {"exp-2", "notify-rejection", true},
    }};
    fmt::print("step streams activated:\n");
    for (const auto& [workflow_id, step, activated] : expected) {
        const auto stream = step_stream(workflow_id, step);
        const bool actual = was_activated(store, stream);
        fmt::print("  {:<30} {}\n", stream, actual ? "activated" : "-");
        check(actual == activated, fmt::format("{} is {}activated", stream, activated ? "" : "not "));
    }

    for (const std::string_view id : {"exp-1", "exp-2"}) {
        const auto events = must(eventcore::load_stream(store, StreamId(fmt::format("workflow-{}", id))), "reading");
        check(!events.empty() && std::holds_alternative<WorkflowFinished>(events.back().payload),
              fmt::format("workflow {} finished after its last step", id));
    }
}

} // namespace

int main() {
    try {
        run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "workflow_step: {}\n", e.what());
        return 1;
    }
    return 0;
}
