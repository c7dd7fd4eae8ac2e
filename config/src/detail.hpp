// Helpers of the config loader that are tested on their own (not part of the public API).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "infergate/config/config.hpp"

namespace infergate::config::detail {

// Replaces every ${NAME} in `text` with env(NAME); "$${" is a literal "${". On failure returns
// nullopt and sets *error, which names the variables but never contains a value. *substituted
// (when given) tells whether any ${NAME} reference was present.
std::optional<std::string> expand_env(std::string_view text, const EnvLookup& env,
                                      std::string* error, bool* substituted = nullptr);

// `s` made safe to quote in a message: control and non-ASCII bytes escaped, cut to `max` bytes.
std::string printable(std::string_view s, std::size_t max = 60);

// Case-insensitive Levenshtein distance (capped for long inputs).
std::size_t edit_distance(std::string_view a, std::string_view b);

// " (did you mean 'x'?)" for the closest option within a small distance, else "".
std::string suggest(std::string_view word, std::span<const std::string_view> options);

}  // namespace infergate::config::detail
