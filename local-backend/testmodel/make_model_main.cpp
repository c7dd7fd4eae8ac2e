// infergate-make-model: writes a Llama/Qwen2-architecture GGUF file with deterministic
// pseudo-random weights (for tests, benchmarks and the quickstart).
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "testmodel/testmodel.hpp"

namespace {

using infergate::engine::testmodel::Spec;
namespace testmodel = infergate::engine::testmodel;

constexpr const char* kUsage = R"(usage: infergate-make-model [options] --out FILE.gguf

Writes a GGUF model with deterministic pseudo-random weights.

  --preset NAME            tiny | qwen2.5-0.5b | demo (other flags override its values)
  --arch llama|qwen2       architecture (qwen2 adds attention biases)
  --hidden N               embedding length
  --layers N               block count
  --heads N                attention heads
  --kv-heads N             key/value heads (grouped-query attention)
  --ffn N                  feed-forward length
  --context N              context length
  --rope-theta X           RoPE frequency base
  --rms-eps X              RMS norm epsilon
  --rope-scaling linear|yarn  write rope.scaling.* keys (with --rope-scaling-factor X
                           and --rope-original-context N)
  --type T                 F32 F16 BF16 Q8_0 Q4_0 Q5_0 Q4_K Q6_K
  --output-type T          type of the output projection (default: as llama.cpp picks)
  --tied | --untied        share token_embd as the output projection, or not
  --seed N                 weight seed
  --vocab FILE.gguf        copy tokenizer.* metadata (and the vocab size) from this file
  --vocab-size N           pad the synthetic vocabulary to N tokens
  --name TEXT              general.name
  --threads N              generation threads (default: one per core)
  --out FILE               output path
)";

bool parse_int(std::string_view s, long long lo, long long hi, long long* out) {
  long long v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parse_float(std::string_view s, float* out) {
  // from_chars for float is available, but strtof also accepts the 1e6 forms people type.
  std::string copy(s);
  char* end = nullptr;
  const float v = std::strtof(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "infergate-make-model: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // "--flag value" and "--flag=value" both work.
  std::vector<std::pair<std::string, std::string>> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg.rfind("--", 0) != 0) return fail("unexpected argument '" + arg + "' (see --help)");
    if (arg == "--tied" || arg == "--untied") {
      flags.emplace_back(arg, "");
      continue;
    }
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      flags.emplace_back(arg.substr(0, eq), arg.substr(eq + 1));
      continue;
    }
    if (i + 1 >= argc) return fail(arg + " needs a value");
    flags.emplace_back(arg, argv[++i]);
  }

  Spec spec;
  for (const auto& [flag, value] : flags) {
    if (flag == "--preset" && !testmodel::apply_preset(value, &spec))
      return fail("unknown preset '" + value + "' (tiny, qwen2.5-0.5b, demo)");
  }
  std::string out;
  for (const auto& kv : flags) {
    // Named copies rather than a structured binding: the lambda below captures them.
    const std::string& flag = kv.first;
    const std::string& value = kv.second;
    long long n = 0;
    const auto int_flag = [&](int* dst, long long lo, long long hi) {
      if (!parse_int(value, lo, hi, &n)) return false;
      *dst = static_cast<int>(n);
      return true;
    };
    bool ok = true;
    if (flag == "--preset") {
    } else if (flag == "--arch") {
      spec.arch = value;
    } else if (flag == "--hidden") {
      ok = int_flag(&spec.hidden, 1, 1 << 16);
    } else if (flag == "--layers") {
      ok = int_flag(&spec.layers, 1, 1024);
    } else if (flag == "--heads") {
      ok = int_flag(&spec.heads, 1, 1024);
    } else if (flag == "--kv-heads") {
      ok = int_flag(&spec.kv_heads, 1, 1024);
    } else if (flag == "--ffn") {
      ok = int_flag(&spec.ffn, 1, 1 << 18);
    } else if (flag == "--context") {
      ok = int_flag(&spec.context, 1, 1 << 24);
    } else if (flag == "--vocab-size") {
      ok = int_flag(&spec.vocab_size, 0, 1 << 22);
    } else if (flag == "--threads") {
      ok = int_flag(&spec.threads, 0, 256);
    } else if (flag == "--rope-original-context") {
      ok = int_flag(&spec.rope_original_context, 0, 1 << 24);
    } else if (flag == "--seed") {
      ok = parse_int(value, 0, std::numeric_limits<long long>::max(), &n);
      spec.seed = static_cast<std::uint64_t>(n);
    } else if (flag == "--rope-theta") {
      ok = parse_float(value, &spec.rope_theta);
    } else if (flag == "--rms-eps") {
      ok = parse_float(value, &spec.rms_eps);
    } else if (flag == "--rope-scaling") {
      spec.rope_scaling = value;
    } else if (flag == "--rope-scaling-factor") {
      ok = parse_float(value, &spec.rope_scaling_factor);
    } else if (flag == "--type" || flag == "--output-type") {
      const auto t = testmodel::type_from_name(value);
      if (!t) return fail("unknown type '" + value + "' (F32 F16 BF16 Q8_0 Q4_0 Q5_0 Q4_K Q6_K)");
      if (flag == "--type")
        spec.type = *t;
      else
        spec.output_type = *t;
    } else if (flag == "--tied") {
      spec.tied_embeddings = true;
    } else if (flag == "--untied") {
      spec.tied_embeddings = false;
    } else if (flag == "--vocab") {
      spec.vocab_path = value;
    } else if (flag == "--name") {
      spec.name = value;
    } else if (flag == "--out") {
      out = value;
    } else {
      return fail("unknown flag " + flag + " (see --help)");
    }
    if (!ok) return fail("bad value '" + value + "' for " + flag);
  }
  if (out.empty()) return fail("--out FILE is required (see --help)");

  const auto start = std::chrono::steady_clock::now();
  std::string error;
  testmodel::Summary summary;
  if (!testmodel::write_model(spec, out, &error, &summary)) return fail(error);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "wrote %s: %s, %d layers, hidden %d, %s, %.1fM parameters, vocab %d, %.1f MiB in %.1f s\n",
      out.c_str(), spec.arch.c_str(), spec.layers, spec.hidden,
      infergate::engine::ggml::traits(static_cast<std::uint32_t>(spec.type)).name,
      static_cast<double>(summary.parameters) / 1e6, summary.vocab_size,
      static_cast<double>(summary.file_bytes) / (1024.0 * 1024.0), secs);
  return 0;
}
