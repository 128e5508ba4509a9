#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>

namespace trib {

// A distinct type wrapping an integer, so an offset can't be passed where a node id is
// expected. Arithmetic stays within the same type; `value()` gets the raw integer out at
// the edges (wire encoding, file names).
template<typename T, typename Tag>
class named_type {
public:
    using value_type = T;

    constexpr named_type() = default;
    constexpr explicit named_type(T v) noexcept : _value(v) {}

    constexpr T value() const noexcept { return _value; }
    constexpr T operator()() const noexcept { return _value; }

    constexpr auto operator<=>(const named_type&) const = default;

    constexpr named_type& operator++() noexcept { ++_value; return *this; }
    constexpr named_type operator++(int) noexcept { auto old = *this; ++_value; return old; }
    constexpr named_type& operator+=(T d) noexcept { _value += d; return *this; }
    constexpr named_type& operator-=(T d) noexcept { _value -= d; return *this; }
    friend constexpr named_type operator+(named_type a, T d) noexcept { return named_type(a._value + d); }
    friend constexpr named_type operator-(named_type a, T d) noexcept { return named_type(a._value - d); }
    // Distance between two values of the same kind, as a raw integer.
    friend constexpr T operator-(named_type a, named_type b) noexcept { return a._value - b._value; }

    static constexpr named_type min() noexcept { return named_type(std::numeric_limits<T>::min()); }
    static constexpr named_type max() noexcept { return named_type(std::numeric_limits<T>::max()); }

    friend std::ostream& operator<<(std::ostream& os, named_type v) { return os << v._value; }

private:
    T _value{};
};

} // namespace trib

template<typename T, typename Tag>
struct std::hash<trib::named_type<T, Tag>> {
    size_t operator()(trib::named_type<T, Tag> v) const noexcept { return std::hash<T>{}(v.value()); }
};
