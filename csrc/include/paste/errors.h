// Typed errors of the paste core, in three tiers (STYLE.md):
//   PASTE_CHECK_ARG  user input check, always on -> paste::InvalidArgument (Python: ValueError)
//   PASTE_CHECK      internal invariant, always on -> paste::InternalError
//   PASTE_DCHECK     debug-only invariant, compiled out with NDEBUG
// Every public method validates its input before it mutates anything, so a throw leaves the
// object exactly as it was.
#ifndef PASTE_ERRORS_H_
#define PASTE_ERRORS_H_

#include <sstream>
#include <stdexcept>
#include <string>

namespace paste {

class InvalidArgument : public std::invalid_argument {
 public:
  explicit InvalidArgument(const std::string& what) : std::invalid_argument(what) {}
};

class UnknownSequence : public InvalidArgument {
 public:
  explicit UnknownSequence(const std::string& what) : InvalidArgument(what) {}
};

class OutOfBlocks : public std::runtime_error {
 public:
  explicit OutOfBlocks(const std::string& what) : std::runtime_error(what) {}
};

class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& what) : std::logic_error(what) {}
};

namespace detail {
template <typename... Args>
std::string Concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace paste

#define PASTE_CHECK_ARG(cond, ...)                                       \
  do {                                                                   \
    if (!(cond)) throw ::paste::InvalidArgument(::paste::detail::Concat(__VA_ARGS__)); \
  } while (0)

#define PASTE_CHECK(cond, ...)                                                        \
  do {                                                                                \
    if (!(cond))                                                                      \
      throw ::paste::InternalError(::paste::detail::Concat(                           \
          "paste internal invariant failed (", #cond, ") at ", __FILE__, ":", __LINE__, \
          ": ", ##__VA_ARGS__));                                                      \
  } while (0)

#ifdef NDEBUG
#define PASTE_DCHECK(cond, ...) \
  do {                          \
  } while (0)
#else
#define PASTE_DCHECK(cond, ...) PASTE_CHECK(cond, ##__VA_ARGS__)
#endif

#endif  // PASTE_ERRORS_H_
