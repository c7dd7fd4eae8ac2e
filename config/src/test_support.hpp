// Helpers shared by the config loader's tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include "infergate/config/config.hpp"

namespace infergate::config::testing_support {

namespace fs = std::filesystem;

inline EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

inline LoadResult load(const std::string& yaml, const EnvLookup& env = env_of({})) {
  return load_string(yaml, "t.yaml", env);
}

inline std::string dump(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.errors) out += "  " + format(d) + "\n";
  return out.empty() ? "  (no errors)\n" : out;
}

struct At {
  int line;
  int column;
};

// 1-based line and column of the first occurrence of `token` in `text` (the position a
// diagnostic about that value must carry).
inline At at(const std::string& text, const std::string& token) {
  const std::size_t p = text.find(token);
  if (p == std::string::npos) return {-1, -1};
  At a{1, 1};
  for (std::size_t i = 0; i < p; ++i) {
    if (text[i] == '\n') {
      ++a.line;
      a.column = 1;
    } else {
      ++a.column;
    }
  }
  return a;
}

// One diagnostic at `where` with `key` whose message contains `needle`.
inline testing::AssertionResult has_error(const LoadResult& r, At where, const std::string& key,
                                          const std::string& needle) {
  for (const auto& d : r.errors) {
    if (d.line == where.line && d.column == where.column && d.key == key &&
        d.message.find(needle) != std::string::npos) {
      if (d.file != "t.yaml" && d.file.find(".yaml") == std::string::npos)
        return testing::AssertionFailure() << "diagnostic without the file name: " << format(d);
      return testing::AssertionSuccess();
    }
  }
  return testing::AssertionFailure() << "no error at " << where.line << ":" << where.column
                                     << " key '" << key << "' containing '" << needle << "'; got:\n"
                                     << dump(r);
}

// Exactly one diagnostic, and it is that one.
inline testing::AssertionResult only_error(const LoadResult& r, At where, const std::string& key,
                                           const std::string& needle) {
  if (r.errors.size() != 1)
    return testing::AssertionFailure() << r.errors.size() << " errors, expected 1:\n" << dump(r);
  if (r.config) return testing::AssertionFailure() << "config set despite errors";
  return has_error(r, where, key, needle);
}

inline testing::AssertionResult loads(const LoadResult& r) {
  if (r.errors.empty() && r.config) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "expected no errors:\n" << dump(r);
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "infergate-cfg-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& content) const {
    const fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  fs::path path_;
};

inline std::string example(const char* name) {
  return std::string(INFERGATE_SOURCE_DIR) + "/config/examples/" + name;
}

}  // namespace infergate::config::testing_support
