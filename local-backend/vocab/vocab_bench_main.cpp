// Times Vocab::tokenize on a long English-like prompt with numbers, punctuation and newlines.
//   infergate-vocab-bench VOCAB.gguf [words=2000] [runs=50]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "gguf/gguf.hpp"
#include "vocab/vocab.hpp"

int main(int argc, char** argv) {
  using namespace infergate::engine;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s VOCAB.gguf [words=2000] [runs=50]\n", argv[0]);
    return 2;
  }
  const int words = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 50;
  if (words <= 0 || words > 10'000'000 || runs <= 0 || runs > 100'000) {
    std::fprintf(stderr, "words must be in 1..1e7 and runs in 1..1e5\n");
    return 2;
  }
  std::string error;
  auto file = gguf::File::open(argv[1], &error);
  if (!file) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  auto load_start = std::chrono::steady_clock::now();
  auto vocab = vocab::Vocab::load(*file, &error);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start)
          .count();
  if (!vocab) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }

  static const char* kWords[] = {
      "the",        "inference", "gateway",   "routes",    "requests", "across", "providers,",
      "and",        "falls",     "back",      "to",        "a",        "local",  "engine.",
      "Tokenizers", "don't",     "like",      "surprises", "(really)", "2024",   "3.14159",
      "it's",       "model's",   "quantized", "weights:",  "Q4_0",     "Q8_0",   "--",
      "naïve",      "café",      "über",      "日本語",    "🚀",        "x=42;",  "\"quoted\""};
  std::mt19937 rng(42);
  std::string text;
  for (int i = 0; i < words; ++i) {
    text += kWords[rng() % std::size(kWords)];
    text += (i % 17 == 16) ? "\n" : " ";
  }

  std::size_t n_tokens = 0;
  double best = 1e30, total = 0;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = vocab->tokenize(text, true, true);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    n_tokens = ids.size();
    best = std::min(best, ms);
    total += ms;
  }
  std::printf("vocab load %.1f ms; %d words, %zu bytes -> %zu tokens: best %.3f ms, mean %.3f ms\n",
              load_ms, words, text.size(), n_tokens, best, total / runs);
  return 0;
}
