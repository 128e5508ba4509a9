#pragma once

#include <cassert>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace trib {

// The value of an operation that can fail in an expected way, or the reason it failed.
// Each module reports reasons as its own `errc` enum with an error_category, converted to
// std::error_code implicitly. Unexpected failures (broken invariants) are exceptions.
template<typename T>
class [[nodiscard]] result {
public:
    result(T v) : _v(std::in_place_index<0>, std::move(v)) {}                 // NOLINT
    result(std::error_code ec) : _v(std::in_place_index<1>, ec) {}             // NOLINT
    template<typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
    result(E e) : _v(std::in_place_index<1>, make_error_code(e)) {}            // NOLINT

    bool has_value() const noexcept { return _v.index() == 0; }
    bool has_error() const noexcept { return _v.index() == 1; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { assert(has_value()); return std::get<0>(_v); }
    const T& value() const& { assert(has_value()); return std::get<0>(_v); }
    T&& value() && { assert(has_value()); return std::get<0>(std::move(_v)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    std::error_code error() const noexcept {
        return has_error() ? std::get<1>(_v) : std::error_code{};
    }

private:
    std::variant<T, std::error_code> _v;
};

template<>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(std::error_code ec) : _ec(ec) {}                                     // NOLINT
    template<typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
    result(E e) : _ec(make_error_code(e)) {}                                    // NOLINT

    bool has_value() const noexcept { return !_ec; }
    bool has_error() const noexcept { return bool(_ec); }
    explicit operator bool() const noexcept { return has_value(); }
    std::error_code error() const noexcept { return _ec; }

private:
    std::error_code _ec;
};

inline result<void> success() { return {}; }

// Defines an error_category for a module's errc enum from a name and a message function.
//   TRIB_ERROR_CATEGORY(storage, errc, storage_errc_message)
// declares `storage_category()` and `make_error_code(errc)` in the current namespace; the enum
// must be registered with TRIB_REGISTER_ERRC at global scope.
#define TRIB_ERROR_CATEGORY(category_name, enum_type, message_fn)                           \
    inline const std::error_category& category_name##_category() noexcept {                \
        struct cat final : std::error_category {                                           \
            const char* name() const noexcept override { return #category_name; }          \
            std::string message(int c) const override {                                    \
                return message_fn(static_cast<enum_type>(c));                              \
            }                                                                              \
        };                                                                                 \
        static const cat instance;                                                         \
        return instance;                                                                   \
    }                                                                                      \
    inline std::error_code make_error_code(enum_type e) noexcept {                         \
        return {static_cast<int>(e), category_name##_category()};                          \
    }

#define TRIB_REGISTER_ERRC(enum_type)                                                      \
    template<>                                                                             \
    struct std::is_error_code_enum<enum_type> : std::true_type {};

} // namespace trib
