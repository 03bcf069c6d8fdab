#pragma once
// Runs the `eventcore` tool as a child process, and fills stores with events to run it on.

#include <eventcore/sqlite/database.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace cli_support {

struct Run {
    int code = -1;
    std::string out;
    std::string err;

    /// Standard error's lines.
    [[nodiscard]] auto err_lines() const -> std::size_t {
        std::size_t n = 0;
        for (const char c : err) n += c == '\n' ? 1 : 0;
        return n;
    }
};

inline auto slurp(const std::string& path) -> std::string {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/// A started `eventcore`; `finish` waits for it (killing it after `timeout`).
class Tool {
public:
    Tool(const std::string& scratch, const std::vector<std::string>& args, const std::string& stdin_path = "/dev/null")
        : out_(scratch + "/tool.out"), err_(scratch + "/tool.err") {
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            const int in = ::open(stdin_path.c_str(), O_RDONLY);
            const int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            const int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (in < 0 || out < 0 || err < 0) ::_exit(126);
            ::dup2(in, STDIN_FILENO);
            ::dup2(out, STDOUT_FILENO);
            ::dup2(err, STDERR_FILENO);
            if (::chdir(scratch.c_str()) != 0) ::_exit(126); // relative paths are in the scratch folder
            ::unsetenv("EVENTCORE_STORE");
            ::unsetenv("EVENTCORE_SCHEMA");
            std::vector<std::string> argv{EVENTCORE_CLI};
            argv.insert(argv.end(), args.begin(), args.end());
            std::vector<char*> raw;
            for (auto& a : argv) raw.push_back(a.data());
            raw.push_back(nullptr);
            ::execv(raw[0], raw.data());
            ::_exit(127);
        }
    }
    Tool(const Tool&) = delete;
    auto operator=(const Tool&) -> Tool& = delete;
    ~Tool() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    auto finish(std::chrono::seconds timeout = std::chrono::seconds(60)) -> Run {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        int status = 0;
        for (;;) {
            const auto r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) break;
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        pid_ = -1;
        Run run;
        run.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        run.out = slurp(out_);
        run.err = slurp(err_);
        return run;
    }

private:
    std::string out_;
    std::string err_;
    pid_t pid_ = -1;
};

/// Runs `eventcore args...` to the end.
inline auto run(const std::string& scratch, const std::vector<std::string>& args,
                const std::string& stdin_path = "/dev/null") -> Run {
    return Tool(scratch, args, stdin_path).finish();
}

/// Commits of one to three events over `accounts` streams, with metadata, payloads of several
/// shapes, and custom key/values on some: the variety an export must carry.
inline void populate(eventcore::sqlite::Database& db, int commits, int accounts = 7) {
    using namespace eventcore;
    for (int i = 0; i < commits; ++i) {
        const StreamId a(fmt::format("account-{}", i % accounts));
        const StreamId b(fmt::format("account-{}", (i + 3) % accounts));
        const StreamId audit("audit/log é");
        EventMetadata m;
        m.correlation_id = Uuid::v7();
        m.causation_id = Uuid::v7();
        m.command = i % 2 == 0 ? "TransferMoney" : "";
        if (i % 3 == 0) m.custom = {{"user", "ada"}, {"ip", "10.0.0.1"}, {"user", "again"}};
        std::vector<EventMetadata> metas(3, m);
        for (auto& x : metas) x.event_id = Uuid::v7();
        std::vector<StreamExpectation> expectations{{a, ExpectedVersion::any()}};
        std::vector<EncodedWrite> writes;
        writes.push_back({&a, {"MoneyWithdrawn", fmt::format(R"({{"amount":{},"note":"x\"y\\z","rate":1.5E0}})", i + 1)}, &metas[0]});
        if (i % 2 == 1 && a != b) {
            expectations.push_back({b, ExpectedVersion::any()});
            writes.push_back({&b, {"MoneyDeposited", fmt::format(R"({{"amount":{},"tags":["a",null,true]}})", i + 1)}, &metas[1]});
        }
        if (i % 5 == 0) {
            expectations.push_back({audit, ExpectedVersion::any()});
            writes.push_back({&audit, {"Audited", "[]"}, &metas[2]});
        }
        db.append(expectations, writes, std::nullopt).value();
    }
}

} // namespace cli_support
