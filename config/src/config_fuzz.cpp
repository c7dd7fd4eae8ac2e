// Fuzz target: load_string on arbitrary bytes must never crash, hang or leak a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "infergate/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A fixed environment: a few variables set (one a preset's key variable), every other missing.
  static const infergate::config::EnvLookup env =
      [](const std::string& name) -> std::optional<std::string> {
    if (name == "FUZZ_KEY" || name == "TOGETHER_API_KEY") return std::string("sk-fuzz");
    if (name == "FUZZ_PORT") return std::string("8081");
    return std::nullopt;
  };
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto result = infergate::config::load_string(text, "fuzz.yaml", env);
  for (const auto& d : result.errors) (void)infergate::config::format(d);
  return 0;
}
