#pragma once
// A store wrapper that, before each of the first `times` commits (or snapshot reads), lets
// another writer in: deterministic conflicts and races for the executor's tests.

#include <eventcore/eventcore.hpp>

#include <functional>
#include <optional>
#include <span>
#include <utility>

namespace testing_support {

template <class Inner>
class InterferingStore {
public:
    using event_type = typename Inner::event_type;

    enum class When : unsigned char { before_append, before_read };

    InterferingStore(Inner& inner, int times, std::function<void(Inner&)> interfere,
                     When when = When::before_append)
        : inner_(inner), left_(times), interfere_(std::move(interfere)), when_(when) {}

    template <class F>
    auto read_streams(std::span<const eventcore::StreamId> ids, F&& f) const {
        ++reads_;
        if (when_ == When::before_read) maybe_interfere();
        return inner_.read_streams(ids, std::forward<F>(f));
    }
    template <class F>
    auto read_stream(const eventcore::StreamId& id, eventcore::StreamVersion from, F&& f) const {
        return inner_.read_stream(id, from, std::forward<F>(f));
    }
    template <class F>
    auto read_all(const eventcore::LogQuery& q, F&& f) const {
        return inner_.read_all(q, std::forward<F>(f));
    }
    auto append(eventcore::AppendRequest<event_type> request) -> eventcore::Result<eventcore::CommitReceipt> {
        ++appends_;
        if (when_ == When::before_append) maybe_interfere();
        return inner_.append(std::move(request));
    }
    auto find_commit(const eventcore::Uuid& id) const { return inner_.find_commit(id); }
    auto head() const { return inner_.head(); }

    [[nodiscard]] auto appends() const -> int { return appends_; }
    [[nodiscard]] auto reads() const -> int { return reads_; }

private:
    void maybe_interfere() const {
        if (left_ > 0) {
            --left_;
            interfere_(inner_);
        }
    }

    Inner& inner_;
    mutable int left_;
    std::function<void(Inner&)> interfere_;
    When when_;
    int appends_ = 0;
    mutable int reads_ = 0;
};

template <class Inner, class F>
InterferingStore(Inner&, int, F) -> InterferingStore<Inner>;
template <class Inner, class F, class W>
InterferingStore(Inner&, int, F, W) -> InterferingStore<Inner>;

} // namespace testing_support
