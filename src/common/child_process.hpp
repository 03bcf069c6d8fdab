#pragma once
// A child program with its standard output captured: for the stress tool's worker processes
// and the multi-process and crash tests. POSIX only.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

extern "C" char** environ; // NOLINT: POSIX

namespace eventcore::detail {

/// A running child program whose standard output the parent reads.
class Child {
public:
    /// Starts `argv[0]` (a path) with the arguments that follow, in this process's environment
    /// with `env` (`NAME=value` entries) added or replacing: a way to hand a child a secret that
    /// its command line, which every user may read (`ps`), must not show.
    explicit Child(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
        // Built before fork: the child of a threaded parent may only call async-signal-safe functions.
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        std::vector<char*> envp;
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            const std::string_view entry(*e);
            const bool replaced = std::any_of(env.begin(), env.end(), [&](const std::string& mine) {
                const auto eq = mine.find('=');
                return entry.size() > eq && entry.substr(0, eq + 1) == std::string_view(mine).substr(0, eq + 1);
            });
            if (!replaced) envp.push_back(*e);
        }
        for (const auto& mine : env) envp.push_back(const_cast<char*>(mine.c_str()));
        envp.push_back(nullptr);
        int fds[2];
        // Close-on-exec, so that a child started meanwhile by another thread does not keep this
        // pipe open (and this child's output unfinished) after this child is gone.
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::dup2(fds[1], STDOUT_FILENO);
            ::close(fds[0]);
            ::close(fds[1]);
            ::execve(args[0], args.data(), envp.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        out_ = fds[0];
    }
    Child(const Child&) = delete;
    auto operator=(const Child&) -> Child& = delete;
    /// A child still running is killed.
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
        }
        if (out_ >= 0) ::close(out_);
    }

    /// Signals the child, if it has not been waited for yet.
    void kill(int signal = SIGKILL) const {
        if (pid_ > 0) ::kill(pid_, signal);
    }

    /// Waits for the child; its exit code, or 128 + the signal that ended it. A child that
    /// writes more than a pipe holds must be read (`output`) first, or use `finish`.
    auto wait() -> int {
        if (pid_ <= 0) throw std::logic_error("Child::wait: the child was waited for already");
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0) {
            if (errno != EINTR) throw std::runtime_error("waitpid failed");
        }
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    /// What the child wrote to standard output, read until it closes it.
    auto output() -> std::string {
        std::string text;
        char buffer[4096];
        ssize_t n = 0;
        while ((n = ::read(out_, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
        return text;
    }

    /// Reads the output to its end, then waits: the exit code and the output.
    auto finish() -> std::pair<int, std::string> {
        auto text = output();
        return {wait(), std::move(text)};
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
};

} // namespace eventcore::detail
