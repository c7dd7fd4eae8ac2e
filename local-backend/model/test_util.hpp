// Helpers shared by the engine's tests: a scratch directory and tiny generated models.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "testmodel/testmodel.hpp"

namespace infergate::engine::model::testing {

// A directory under the system temp dir, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ =
        std::filesystem::temp_directory_path() /
        ("infergate-model-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A small model whose every matmul weight can be K-quantised (rows of 256).
inline testmodel::Spec small_spec(const std::string& arch, ggml::Type type) {
  testmodel::Spec s;
  s.arch = arch;
  s.hidden = 256;
  s.layers = 2;
  s.heads = 4;
  s.kv_heads = 2;
  s.ffn = 512;
  s.context = 256;
  s.type = type;
  s.seed = 7;
  s.threads = 2;
  s.tied_embeddings = arch == "qwen2";
  return s;
}

inline std::string write_or_fail(const testmodel::Spec& spec, const std::string& path) {
  std::string error;
  EXPECT_TRUE(testmodel::write_model(spec, path, &error)) << error;
  return path;
}

}  // namespace infergate::engine::model::testing
