// A libFuzzer-compatible driver for builds without libFuzzer: replays every file of the corpus
// directories given on the command line, then feeds a bounded number of deterministic mutations
// (bit flips, byte changes, truncations, splices) of them. Any crash or sanitizer report fails it.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void run(const std::vector<std::uint8_t>& input) {
  // Copy into an exactly-sized heap buffer so AddressSanitizer sees any overread.
  std::unique_ptr<std::uint8_t[]> buf(new std::uint8_t[input.size() ? input.size() : 1]);
  if (!input.empty()) std::memcpy(buf.get(), input.data(), input.size());
  LLVMFuzzerTestOneInput(buf.get(), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 10000;
  std::vector<std::vector<std::uint8_t>> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--iterations=", 0) == 0) {
      iterations = std::stol(arg.substr(13));
      continue;
    }
    std::filesystem::path p(arg);
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) corpus.push_back(read_file(f));
    } else if (std::filesystem::is_regular_file(p)) {
      corpus.push_back(read_file(p));
    }
  }
  if (corpus.empty()) corpus.push_back({});
  for (const auto& c : corpus) run(c);

  std::mt19937_64 rng(0x1f2e3d4c5b6a7988ULL);  // deterministic: a failure reproduces
  for (long it = 0; it < iterations; ++it) {
    std::vector<std::uint8_t> in = corpus[rng() % corpus.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 6) {
        case 0:  // flip a bit
          if (!in.empty()) in[rng() % in.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
          break;
        case 1:  // set a byte to an interesting value
          if (!in.empty()) {
            static constexpr std::uint8_t kVals[] = {0, 1, 0x7f, 0x80, 0xff, '\n', '"', ':'};
            in[rng() % in.size()] = kVals[rng() % sizeof(kVals)];
          }
          break;
        case 2:  // truncate
          if (!in.empty()) in.resize(rng() % in.size());
          break;
        case 3:  // insert random bytes
          for (int k = 0, n = 1 + static_cast<int>(rng() % 8); k < n; ++k)
            in.insert(in.begin() + static_cast<long>(in.empty() ? 0 : rng() % (in.size() + 1)),
                      static_cast<std::uint8_t>(rng()));
          break;
        case 4: {  // splice with another corpus entry
          const auto& other = corpus[rng() % corpus.size()];
          if (!other.empty()) {
            std::size_t from = rng() % other.size();
            std::size_t at = in.empty() ? 0 : rng() % in.size();
            in.resize(at);
            in.insert(in.end(), other.begin() + static_cast<long>(from), other.end());
          }
          break;
        }
        case 5:  // overwrite 4 bytes with a large little-endian integer (sizes, counts)
          if (in.size() >= 4) {
            std::size_t at = rng() % (in.size() - 3);
            std::uint32_t v = (rng() % 2) ? 0xffffffffu : static_cast<std::uint32_t>(rng());
            std::memcpy(in.data() + at, &v, 4);
          }
          break;
      }
    }
    run(in);
  }
  std::printf("fuzz driver: %zu corpus inputs, %ld mutations, no crash\n", corpus.size(),
              iterations);
  return 0;
}
