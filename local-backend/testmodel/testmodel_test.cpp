#include "testmodel/testmodel.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "ggml/quants.hpp"
#include "gguf/gguf.hpp"

namespace infergate::engine::testmodel {
namespace {

namespace fs = std::filesystem;
using ggml::Type;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("testmodel_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::unique_ptr<gguf::File> write_and_open(const Spec& spec, const std::string& path) {
  std::string error;
  EXPECT_TRUE(write_model(spec, path, &error)) << error;
  auto f = gguf::File::open(path, &error);
  EXPECT_TRUE(f) << error;
  return f;
}

std::vector<float> dequantize(const gguf::TensorInfo& t) {
  std::vector<float> out(static_cast<std::size_t>(t.n_elements()));
  const std::size_t row = ggml::row_bytes(t.type, t.shape[0]);
  for (std::int64_t r = 0; r < t.rows(); ++r)
    ggml::dequantize_row(t.type, static_cast<const std::uint8_t*>(t.data) + r * row,
                         out.data() + r * t.shape[0], t.shape[0]);
  return out;
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string shared_data() {
#ifdef INFERGATE_SHARED_DATA
  return INFERGATE_SHARED_DATA;
#else
  return "";
#endif
}

const Type kAllTypes[] = {Type::F32,  Type::F16,  Type::BF16, Type::Q8_0,
                          Type::Q4_0, Type::Q5_0, Type::Q4_K, Type::Q6_K};

// ------------------------------------------------------------------------------------------

TEST(TestModel, TinyModelsOfEveryTypeReadBack) {
  TempDir dir;
  for (const bool wide : {false, true}) {  // hidden 64: K-quants fall back; 256: they don't
    for (const Type type : kAllTypes) {
      const char* tname = ggml::traits(static_cast<std::uint32_t>(type)).name;
      SCOPED_TRACE(std::string(tname) + (wide ? " hidden 256" : " hidden 64"));
      Spec spec;
      spec.type = type;
      if (wide) {
        spec.hidden = 256;
        spec.ffn = 512;
      }
      auto f = write_and_open(spec, dir.file(std::string(tname) + ".gguf"));
      ASSERT_TRUE(f);
      EXPECT_EQ(f->version(), 3u);
      EXPECT_EQ(f->get_string("general.architecture"), "llama");
      EXPECT_EQ(f->get_int("llama.embedding_length"), spec.hidden);
      EXPECT_EQ(f->get_int("llama.block_count"), 2);
      EXPECT_EQ(f->get_int("llama.feed_forward_length"), spec.ffn);
      EXPECT_EQ(f->get_int("llama.attention.head_count"), 4);
      EXPECT_EQ(f->get_int("llama.attention.head_count_kv"), 2);
      EXPECT_EQ(f->get_int("llama.context_length"), 512);
      EXPECT_EQ(f->get_int("llama.rope.dimension_count"), spec.hidden / 4);
      EXPECT_EQ(f->get_float("llama.rope.freq_base"), 10000.0);
      EXPECT_NEAR(f->get_float("llama.attention.layer_norm_rms_epsilon").value(), 1e-5, 1e-12);
      EXPECT_EQ(f->get_int("general.alignment"), 32);
      const std::int64_t n_vocab = f->get_string_array("tokenizer.ggml.tokens")->size();
      EXPECT_EQ(f->get_int("llama.vocab_size"), n_vocab);

      std::vector<TensorPlan> plan;
      std::string error;
      ASSERT_TRUE(plan_tensors(spec, static_cast<int>(n_vocab), &plan, &error)) << error;
      ASSERT_EQ(f->tensors().size(), plan.size());
      EXPECT_EQ(plan.size(), 2u + 9u * 2u + 1u);  // embd, 9 per block, output norm, output
      for (const TensorPlan& p : plan) {
        const gguf::TensorInfo* t = f->find_tensor(p.name);
        ASSERT_NE(t, nullptr) << p.name;
        EXPECT_EQ(t->shape, p.shape) << p.name;
        EXPECT_EQ(t->type, p.type) << p.name;
        EXPECT_EQ(t->bytes, ggml::row_bytes(t->type, t->shape[0]) * t->rows()) << p.name;
        if (t->shape.size() == 1) {
          EXPECT_EQ(t->type, Type::F32) << p.name;
        } else if (p.name != "output.weight") {
          EXPECT_EQ(t->type, weight_type_for(type, t->shape[0])) << p.name;
        }
      }
      const auto* q = f->find_tensor("blk.0.attn_q.weight");
      EXPECT_EQ(q->shape, (std::vector<std::int64_t>{spec.hidden, spec.hidden}));
      EXPECT_EQ(f->find_tensor("blk.1.attn_k.weight")->shape,
                (std::vector<std::int64_t>{spec.hidden, spec.hidden / 2}));
      EXPECT_EQ(f->find_tensor("blk.1.ffn_down.weight")->shape,
                (std::vector<std::int64_t>{spec.ffn, spec.hidden}));
      EXPECT_EQ(f->find_tensor("token_embd.weight")->shape,
                (std::vector<std::int64_t>{spec.hidden, n_vocab}));
      EXPECT_EQ(f->find_tensor("blk.0.attn_q.bias"), nullptr);  // llama: no biases
      if (wide) {
        EXPECT_EQ(q->type, type);
      }
    }
  }
}

// The same seed in F32 and in each other type gives the same values up to that type's error.
TEST(TestModel, QuantizedWeightsMatchTheF32Values) {
  TempDir dir;
  Spec spec;
  spec.hidden = 256;
  spec.ffn = 256;
  spec.layers = 1;
  auto ref = write_and_open(spec, dir.file("f32.gguf"));
  ASSERT_TRUE(ref);
  const struct {
    Type type;
    double max_rel_rms;
  } cases[] = {{Type::F16, 1e-3},  {Type::BF16, 1e-2}, {Type::Q8_0, 0.01}, {Type::Q6_K, 0.03},
               {Type::Q5_0, 0.05}, {Type::Q4_0, 0.12}, {Type::Q4_K, 0.12}};
  for (const auto& c : cases) {
    SCOPED_TRACE(ggml::traits(static_cast<std::uint32_t>(c.type)).name);
    spec.type = c.type;
    auto f = write_and_open(spec, dir.file("q.gguf"));
    ASSERT_TRUE(f);
    for (const char* name : {"blk.0.attn_q.weight", "blk.0.ffn_down.weight", "token_embd.weight"}) {
      const std::vector<float> a = dequantize(*ref->find_tensor(name));
      const std::vector<float> b = dequantize(*f->find_tensor(name));
      ASSERT_EQ(a.size(), b.size());
      double err = 0, norm = 0;
      for (std::size_t i = 0; i < a.size(); ++i) {
        ASSERT_TRUE(std::isfinite(b[i]));
        err += (a[i] - b[i]) * (a[i] - b[i]);
        norm += a[i] * a[i];
      }
      EXPECT_GT(norm, 0.0);
      EXPECT_LT(std::sqrt(err / norm), c.max_rel_rms) << name;
    }
  }
}

TEST(TestModel, WeightsAreScaledLikeARealInitialisation) {
  TempDir dir;
  Spec spec;
  spec.arch = "qwen2";
  spec.hidden = 128;
  spec.ffn = 384;
  auto f = write_and_open(spec, dir.file("m.gguf"));
  ASSERT_TRUE(f);
  const auto stats = [&](const char* name) {
    const std::vector<float> v = dequantize(*f->find_tensor(name));
    double sum = 0, sq = 0;
    float lo = v[0], hi = v[0];
    for (float x : v) {
      sum += x;
      sq += x * x;
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    const double mean = sum / v.size();
    return std::array<double, 4>{mean, std::sqrt(sq / v.size() - mean * mean), lo, hi};
  };
  const auto q = stats("blk.0.attn_q.weight");
  EXPECT_NEAR(q[0], 0.0, 0.01);
  EXPECT_NEAR(q[1], 1.0 / std::sqrt(128.0), 0.01);
  const auto down = stats("blk.1.ffn_down.weight");
  EXPECT_NEAR(down[1], 1.0 / std::sqrt(384.0), 0.005);
  const auto norm = stats("blk.0.attn_norm.weight");
  EXPECT_GE(norm[2], 0.9f);
  EXPECT_LE(norm[3], 1.1f);
  EXPECT_NEAR(norm[0], 1.0, 0.05);
  const auto bias = stats("blk.1.attn_k.bias");
  EXPECT_GE(bias[2], -0.05f);
  EXPECT_LE(bias[3], 0.05f);
  // Tensors are not copies of one another: each has its own stream.
  const auto* a = f->find_tensor("blk.0.ffn_gate.weight");
  const auto* b = f->find_tensor("blk.0.ffn_up.weight");
  EXPECT_NE(std::memcmp(a->data, b->data, a->bytes), 0);
}

TEST(TestModel, Qwen2HasBiasesAndTiedModelsHaveNoOutput) {
  TempDir dir;
  Spec spec;
  spec.arch = "qwen2";
  spec.tied_embeddings = true;
  spec.type = Type::Q8_0;
  auto f = write_and_open(spec, dir.file("m.gguf"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->get_string("general.architecture"), "qwen2");
  EXPECT_EQ(f->get_int("qwen2.block_count"), 2);
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);
  for (int i = 0; i < 2; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    ASSERT_NE(f->find_tensor(p + "attn_q.bias"), nullptr);
    EXPECT_EQ(f->find_tensor(p + "attn_q.bias")->shape, (std::vector<std::int64_t>{64}));
    EXPECT_EQ(f->find_tensor(p + "attn_k.bias")->shape, (std::vector<std::int64_t>{32}));
    EXPECT_EQ(f->find_tensor(p + "attn_v.bias")->type, Type::F32);
  }
  EXPECT_EQ(f->tensors().size(), 2u + 12u * 2u);
}

TEST(TestModel, TypeFallbacksFollowLlamaCpp) {
  EXPECT_EQ(weight_type_for(Type::Q4_K, 896), Type::Q5_0);
  EXPECT_EQ(weight_type_for(Type::Q4_K, 4864), Type::Q4_K);
  EXPECT_EQ(weight_type_for(Type::Q6_K, 896), Type::Q8_0);
  EXPECT_EQ(weight_type_for(Type::Q4_0, 896), Type::Q4_0);
  EXPECT_EQ(weight_type_for(Type::Q4_0, 48), Type::F16);
  EXPECT_EQ(weight_type_for(Type::Q4_K, 48), Type::F16);
  EXPECT_EQ(weight_type_for(Type::F32, 7), Type::F32);

  // The output projection: Q6_K for 4/5-bit models (Q8_0 when rows are not whole K blocks).
  const auto output_type = [](Type model, int hidden, bool tied) {
    Spec s;
    s.type = model;
    s.hidden = hidden;
    s.tied_embeddings = tied;
    std::vector<TensorPlan> plan;
    std::string error;
    EXPECT_TRUE(plan_tensors(s, 1000, &plan, &error)) << error;
    for (const auto& t : plan)
      if (t.name == (tied ? "token_embd.weight" : "output.weight")) return t.type;
    return Type::Q8_K;
  };
  EXPECT_EQ(output_type(Type::Q4_0, 256, false), Type::Q6_K);
  EXPECT_EQ(output_type(Type::Q4_0, 64, false), Type::Q8_0);
  EXPECT_EQ(output_type(Type::Q4_K, 256, true), Type::Q6_K);
  EXPECT_EQ(output_type(Type::Q4_0, 896, true), Type::Q8_0);  // Qwen2.5-0.5B Q4_0
  EXPECT_EQ(output_type(Type::Q8_0, 256, false), Type::Q8_0);
  EXPECT_EQ(output_type(Type::F16, 256, true), Type::F16);
  EXPECT_EQ(output_type(Type::BF16, 64, false), Type::BF16);

  Spec s;
  s.type = Type::Q4_0;
  s.output_type = Type::Q4_0;
  std::vector<TensorPlan> plan;
  std::string error;
  ASSERT_TRUE(plan_tensors(s, 100, &plan, &error));
  EXPECT_EQ(plan.back().name, "output.weight");
  EXPECT_EQ(plan.back().type, Type::Q4_0);
  EXPECT_EQ(plan.front().type, Type::Q4_0);  // untied token_embd keeps the model's type
}

TEST(TestModel, SameSeedSameBytesOtherSeedOtherBytes) {
  TempDir dir;
  Spec spec;
  spec.hidden = 256;
  spec.ffn = 512;
  spec.type = Type::Q4_K;
  spec.threads = 1;
  std::string error;
  ASSERT_TRUE(write_model(spec, dir.file("a.gguf"), &error)) << error;
  spec.threads = 3;  // a different split of rows across threads changes nothing
  ASSERT_TRUE(write_model(spec, dir.file("b.gguf"), &error)) << error;
  spec.seed = 2;
  ASSERT_TRUE(write_model(spec, dir.file("c.gguf"), &error)) << error;
  const auto a = read_bytes(dir.file("a.gguf"));
  EXPECT_GT(a.size(), 100000u);
  EXPECT_EQ(a, read_bytes(dir.file("b.gguf")));
  const auto c = read_bytes(dir.file("c.gguf"));
  ASSERT_EQ(a.size(), c.size());
  EXPECT_NE(a, c);
}

TEST(TestModel, SyntheticVocabularyIsAValidByteLevelBpe) {
  const SyntheticVocab v = synthetic_vocab(0);
  ASSERT_EQ(v.tokens.size(), v.token_types.size());
  EXPECT_EQ(v.tokens[0], "!");
  EXPECT_EQ(v.tokens[187], "\xc3\xbf");  // U+00FF, the last printable byte
  EXPECT_EQ(v.tokens[188], "\xc4\x80");  // U+0100 stands for byte 0
  const std::set<std::string> unique(v.tokens.begin(), v.tokens.end());
  EXPECT_EQ(unique.size(), v.tokens.size());
  EXPECT_GE(v.merges.size(), 200u);
  for (const std::string& m : v.merges) {
    const auto sp = m.find(' ');
    ASSERT_NE(sp, std::string::npos) << m;
    const std::string left = m.substr(0, sp), right = m.substr(sp + 1);
    EXPECT_TRUE(unique.count(left)) << m;
    EXPECT_TRUE(unique.count(right)) << m;
    EXPECT_TRUE(unique.count(left + right)) << m;
  }
  // Common words became single tokens ("Ġ" is the space).
  EXPECT_TRUE(unique.count(std::string("\xc4\xa0") + "the"));
  EXPECT_TRUE(unique.count(std::string("\xc4\xa0") + "and"));
  EXPECT_EQ(v.tokens[v.endoftext], "<|endoftext|>");
  EXPECT_EQ(v.tokens[v.im_start], "<|im_start|>");
  EXPECT_EQ(v.tokens[v.im_end], "<|im_end|>");
  for (int id : {v.endoftext, v.im_start, v.im_end}) EXPECT_EQ(v.token_types[id], 3);
  EXPECT_EQ(v.im_end, static_cast<int>(v.tokens.size()) - 1);

  const SyntheticVocab padded = synthetic_vocab(1000);
  ASSERT_EQ(padded.tokens.size(), 1000u);
  EXPECT_EQ(padded.tokens[999], "[PAD999]");
  EXPECT_EQ(padded.token_types[999], 5);
  EXPECT_EQ(padded.im_end, v.im_end);
}

TEST(TestModel, SyntheticVocabularyMetadata) {
  TempDir dir;
  Spec spec;
  spec.vocab_size = 700;
  auto f = write_and_open(spec, dir.file("m.gguf"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre"), "qwen2");
  const auto* tokens = f->get_string_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->size(), 700u);
  const auto eos = f->get_int("tokenizer.ggml.eos_token_id");
  ASSERT_TRUE(eos.has_value());
  EXPECT_EQ((*tokens)[*eos], "<|im_end|>");
  EXPECT_EQ((*tokens)[*f->get_int("tokenizer.ggml.bos_token_id")], "<|endoftext|>");
  EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token"), false);
  EXPECT_EQ(f->get_int_array("tokenizer.ggml.token_type")->size(), 700u);
  EXPECT_EQ(f->find_tensor("token_embd.weight")->shape[1], 700);
  EXPECT_EQ(f->find_tensor("output.weight")->shape[1], 700);
  const auto tmpl = f->get_string("tokenizer.chat_template");
  ASSERT_TRUE(tmpl.has_value());
  EXPECT_EQ(*tmpl, chatml_template());
  const fs::path shared =
      fs::path(shared_data()) / "chat-templates" / "Qwen-Qwen2.5-7B-Instruct.jinja";
  if (fs::exists(shared)) {
    std::ifstream in(shared);
    const std::string text{std::istreambuf_iterator<char>(in), {}};
    EXPECT_EQ(text, std::string(chatml_template()));
  }

  spec.vocab_size = 100;
  std::string error;
  EXPECT_FALSE(write_model(spec, dir.file("small.gguf"), &error));
  EXPECT_NE(error.find("is smaller than the synthetic vocabulary"), std::string::npos) << error;
}

TEST(TestModel, CopiesTheVocabularyFromSharedFiles) {
  const fs::path dir = fs::path(shared_data()) / "tokenizers";
  if (!fs::exists(dir / "ggml-vocab-gpt-2.gguf"))
    GTEST_SKIP() << "shared test data absent: " << dir;
  TempDir tmp;
  for (const char* name : {"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"}) {
    SCOPED_TRACE(name);
    std::string error;
    auto vocab = gguf::File::open((dir / name).string(), &error);
    ASSERT_TRUE(vocab) << error;
    Spec spec;
    spec.vocab_path = (dir / name).string();
    spec.type = Type::Q8_0;
    auto f = write_and_open(spec, tmp.file("m.gguf"));
    ASSERT_TRUE(f);
    const std::size_t n = vocab->get_string_array("tokenizer.ggml.tokens")->size();
    EXPECT_EQ(f->find_tensor("token_embd.weight")->shape[1], static_cast<std::int64_t>(n));
    EXPECT_EQ(f->get_int("llama.vocab_size"), static_cast<std::int64_t>(n));
    int copied = 0;
    for (const auto& [key, v] : vocab->metadata()) {
      if (!key.starts_with("tokenizer.")) continue;
      const gguf::Value* c = f->find(key);
      ASSERT_NE(c, nullptr) << key;
      EXPECT_EQ(c->type, v.type) << key;
      EXPECT_EQ(c->scalar, v.scalar) << key;
      EXPECT_EQ(c->strings, v.strings) << key;
      EXPECT_EQ(f->get_int_array(key), vocab->get_int_array(key)) << key;
      EXPECT_EQ(f->get_float_array(key), vocab->get_float_array(key)) << key;
      ++copied;
    }
    EXPECT_GE(copied, 5);
    // The vocabulary file's own model keys (gpt2.*, llama.block_count 32) are not copied.
    EXPECT_EQ(f->get_int("llama.block_count"), 2);
    EXPECT_EQ(f->find("gpt2.block_count"), nullptr);

    spec.vocab_size = 5;
    EXPECT_FALSE(write_model(spec, tmp.file("x.gguf"), &error));
    EXPECT_NE(error.find("differs from the"), std::string::npos) << error;
  }
}

TEST(TestModel, RejectsInvalidSpecs) {
  TempDir dir;
  struct Case {
    const char* what;
    void (*edit)(Spec*);
    const char* error;
  };
  const Case cases[] = {
      {"arch", [](Spec* s) { s->arch = "gpt2"; }, "arch must be llama or qwen2"},
      {"hidden", [](Spec* s) { s->hidden = 0; }, "hidden must be"},
      {"heads",
       [](Spec* s) {
         s->hidden = 60;
         s->heads = 8;
       },
       "hidden must be heads x an even"},
      {"odd head dim",
       [](Spec* s) {
         s->hidden = 12;
         s->heads = 4;
       },
       "even head dimension"},
      {"kv heads", [](Spec* s) { s->kv_heads = 3; }, "kv_heads must divide heads"},
      {"layers", [](Spec* s) { s->layers = 0; }, "layers must be"},
      {"ffn", [](Spec* s) { s->ffn = -1; }, "ffn must be"},
      {"context", [](Spec* s) { s->context = 0; }, "context must be"},
      {"theta", [](Spec* s) { s->rope_theta = NAN; }, "rope_theta must be positive"},
      {"eps", [](Spec* s) { s->rms_eps = 0; }, "rms_eps"},
      {"type", [](Spec* s) { s->type = Type::Q2_K; }, "unsupported weight type"},
      {"output type", [](Spec* s) { s->output_type = Type::Q8_K; }, "unsupported output type"},
      {"scaling", [](Spec* s) { s->rope_scaling = "ntk"; }, "rope_scaling must be"},
      {"vocab", [](Spec* s) { s->vocab_path = "/nonexistent/vocab.gguf"; }, "vocabulary:"},
  };
  for (const Case& c : cases) {
    Spec spec;
    c.edit(&spec);
    std::string error;
    EXPECT_FALSE(write_model(spec, dir.file("x.gguf"), &error)) << c.what;
    EXPECT_NE(error.find(c.error), std::string::npos) << c.what << ": " << error;
    EXPECT_FALSE(fs::exists(dir.file("x.gguf"))) << c.what;
  }
}

TEST(TestModel, Presets) {
  Spec s;
  ASSERT_TRUE(apply_preset("qwen2.5-0.5b", &s));
  EXPECT_EQ(s.arch, "qwen2");
  EXPECT_EQ(s.hidden, 896);
  EXPECT_EQ(s.layers, 24);
  EXPECT_EQ(s.heads, 14);
  EXPECT_EQ(s.kv_heads, 2);
  EXPECT_EQ(s.ffn, 4864);
  EXPECT_EQ(s.context, 32768);
  EXPECT_EQ(s.rope_theta, 1e6f);
  EXPECT_EQ(s.rms_eps, 1e-6f);
  EXPECT_TRUE(s.tied_embeddings);
  EXPECT_EQ(s.vocab_size, 151936);
  std::vector<TensorPlan> plan;
  std::string error;
  ASSERT_TRUE(plan_tensors(s, s.vocab_size, &plan, &error)) << error;
  EXPECT_EQ(plan.size(), 2u + 24u * 12u);
  std::int64_t params = 0;
  for (const auto& t : plan) params += t.shape[0] * (t.shape.size() > 1 ? t.shape[1] : 1);
  EXPECT_EQ(params, 494032768);  // Qwen2.5-0.5B's parameter count

  ASSERT_TRUE(apply_preset("demo", &s));
  EXPECT_EQ(s.hidden, 256);
  EXPECT_EQ(s.vocab_size, 0);
  ASSERT_TRUE(apply_preset("tiny", &s));
  EXPECT_EQ(s.hidden, Spec().hidden);
  EXPECT_EQ(s.arch, "llama");
  EXPECT_FALSE(apply_preset("huge", &s));
  EXPECT_EQ(preset_names().size(), 3u);

  TempDir dir;
  Spec demo;
  ASSERT_TRUE(apply_preset("demo", &demo));
  demo.type = Type::Q8_0;
  Summary summary;
  ASSERT_TRUE(write_model(demo, dir.file("demo.gguf"), &error, &summary)) << error;
  EXPECT_EQ(summary.file_bytes, fs::file_size(dir.file("demo.gguf")));
  EXPECT_EQ(summary.tensors, 2 + 4 * 12);
  EXPECT_GT(summary.parameters, 4 * (256 * 256 * 2 + 256 * 128 * 2 + 3 * 256 * 512));
}

TEST(TestModel, RopeScalingKeys) {
  TempDir dir;
  Spec spec;
  spec.rope_scaling = "yarn";
  spec.rope_scaling_factor = 4.0f;
  spec.rope_original_context = 128;
  auto f = write_and_open(spec, dir.file("m.gguf"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->get_string("llama.rope.scaling.type"), "yarn");
  EXPECT_EQ(f->get_float("llama.rope.scaling.factor"), 4.0);
  EXPECT_EQ(f->get_int("llama.rope.scaling.original_context_length"), 128);
}

}  // namespace
}  // namespace infergate::engine::testmodel
