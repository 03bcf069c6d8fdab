#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace eventcore::detail {

template <class Signature>
class FunctionRef;

/// A non-owning reference to a callable, as C++26's `std::function_ref`: what a compiled store
/// core takes from its typed template shell, without a template and without an allocation.
template <class R, class... Args>
class FunctionRef<R(Args...)> {
public:
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, Args...>)
    FunctionRef(F&& f) noexcept // NOLINT: implicit, like std::function_ref
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
          call_([](void* object, Args... args) -> R {
              return std::invoke(*static_cast<std::remove_reference_t<F>*>(object), std::forward<Args>(args)...);
          }) {}

    auto operator()(Args... args) const -> R { return call_(object_, std::forward<Args>(args)...); }

private:
    void* object_;
    R (*call_)(void*, Args...);
};

} // namespace eventcore::detail
