#include "testmodel/testmodel.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "ggml/quants.hpp"
#include "gguf/gguf.hpp"

namespace infergate::engine::testmodel {
namespace {

// Limits on a spec: generous for real shapes, small enough that sizes cannot overflow.
constexpr int kMaxHidden = 1 << 16;
constexpr int kMaxLayers = 1024;
constexpr int kMaxHeads = 1024;
constexpr int kMaxFfn = 1 << 18;
constexpr int kMaxContext = 1 << 24;
constexpr int kMaxVocab = 1 << 22;
constexpr int kMaxThreads = 256;
constexpr int kSyntheticMerges = 320;

// Below this many elements a tensor is generated on the calling thread alone.
constexpr std::int64_t kParallelMinElements = 1 << 16;

// ------------------------------------------------------------------------------------------
// Deterministic weights

std::uint64_t splitmix64(std::uint64_t* state) {
  std::uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// How a tensor's values are drawn: uniform in [center - half_width, center + half_width].
struct Init {
  float center = 0.0f;
  float half_width = 0.0f;
};

Init uniform_std(double stddev) {
  return {0.0f, static_cast<float>(stddev * std::sqrt(3.0))};  // uniform(-a, a) has std a/sqrt(3)
}

// Fills row `row` of a tensor: independent of how rows are split across threads.
void generate_row(std::uint64_t tensor_seed, std::int64_t row, const Init& init, float* out,
                  std::int64_t n) {
  std::uint64_t state = tensor_seed ^ (static_cast<std::uint64_t>(row) * 0xd1b54a32d192ed03ull);
  splitmix64(&state);
  constexpr float kScale = 1.0f / 8388608.0f;  // 2^-23: 24-bit integers to [0, 2)
  std::int64_t i = 0;
  for (; i + 1 < n; i += 2) {
    const std::uint64_t r = splitmix64(&state);
    out[i] = init.center + init.half_width * (static_cast<float>(r >> 40) * kScale - 1.0f);
    out[i + 1] =
        init.center + init.half_width * (static_cast<float>((r >> 8) & 0xffffff) * kScale - 1.0f);
  }
  if (i < n) {
    const std::uint64_t r = splitmix64(&state);
    out[i] = init.center + init.half_width * (static_cast<float>(r >> 40) * kScale - 1.0f);
  }
}

// Generates and encodes a whole tensor into dst, rows split across threads.
void fill_tensor(std::uint64_t tensor_seed, const Init& init, ggml::Type type, std::int64_t cols,
                 std::int64_t rows, int threads, std::uint8_t* dst) {
  const std::size_t row_bytes = ggml::row_bytes(type, cols);
  const auto work = [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> buf(static_cast<std::size_t>(cols));
    for (std::int64_t r = begin; r < end; ++r) {
      generate_row(tensor_seed, r, init, buf.data(), cols);
      ggml::quantize_row(type, buf.data(), dst + static_cast<std::size_t>(r) * row_bytes, cols);
    }
  };
  int n = threads;
  if (cols * rows < kParallelMinElements) n = 1;
  n = static_cast<int>(std::min<std::int64_t>(n, rows));
  if (n <= 1) {
    work(0, rows);
    return;
  }
  std::vector<std::thread> pool;
  const std::int64_t chunk = (rows + n - 1) / n;
  for (int t = 1; t < n; ++t) {
    const std::int64_t b = std::min(rows, t * chunk), e = std::min(rows, (t + 1) * chunk);
    if (b < e) pool.emplace_back(work, b, e);
  }
  work(0, std::min(rows, chunk));
  for (auto& th : pool) th.join();
}

// ------------------------------------------------------------------------------------------
// Synthetic vocabulary

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the rest to U+0100 onwards;
// the vocabulary lists byte tokens in this order (the printable ones first).
std::vector<std::pair<int, std::uint32_t>> byte_order() {
  std::vector<std::pair<int, std::uint32_t>> out;
  std::vector<bool> seen(256, false);
  for (int b = 0; b < 256; ++b) {
    if ((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)) {
      out.emplace_back(b, b);
      seen[b] = true;
    }
  }
  std::uint32_t next = 256;
  for (int b = 0; b < 256; ++b)
    if (!seen[b]) out.emplace_back(b, next++);
  return out;
}

std::string utf8(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xc0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    s += static_cast<char>(0xe0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  }
  return s;
}

// The text the synthetic merges are learned from: plain English, so that common words and
// word pieces become single tokens.
constexpr std::string_view kTrainingText = R"TEXT(
The quick brown fox jumps over the lazy dog. This is a small model that was made for testing,
and it knows only a few hundred words of English. When you ask it a question, it will answer
with text that looks like language but means nothing, because all of its weights are random
numbers. That is fine: the point of the model is to measure how fast the engine can run, and to
check that every part of the system works together from the first token to the last one.
People who write software often need data that is small, simple and always the same. A test
should give the same result every time it runs, on every machine, in every country. There are
many ways to make such data, but the best one is the one that is easy to understand and easy to
change later. We can start with a short story. Once upon a time there was a little house in the
middle of a large forest. In the house there lived an old woman and her cat. Every morning the
woman would open the window and look at the trees, the birds and the sky. She would make some
tea, read a book and think about the people she had known when she was young. The cat would sit
in the sun and watch the world go by. One day a letter came to the house. The woman opened it and
read it again and again, because she could not believe what it said. Her brother, who had been
away for many years, was coming home. She cleaned the rooms, baked bread and waited for him at
the door. When he finally arrived, they talked for hours about their lives, their friends and
all the things that had changed since they were children. The next morning they walked together
through the forest, and the cat followed them all the way to the river and back again.
Computers are machines that follow instructions. A program is a list of instructions written in
a language that people can read and the computer can understand. The server receives a request,
reads the message, finds the right model, and then sends the answer back to the client, one
token at a time. Good systems are simple, fast and correct, and they tell you clearly what went
wrong when something does not work as expected.
)TEXT";

// Learns `n_merges` BPE merges over the byte-level symbols of the training text's words
// (" word" pieces, as GPT-2's pre-tokenizer splits them). Ties break by the pair's text, so the
// result is the same everywhere.
std::vector<std::pair<std::string, std::string>> learn_merges(
    const std::vector<std::string>& byte_token, int n_merges) {
  std::map<std::vector<std::string>, int> words;  // word as symbols -> count
  std::string_view text = kTrainingText;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    if (text[i] == ' ' && i + 1 < text.size() &&
        std::isalpha(static_cast<unsigned char>(text[i + 1])))
      ++i;
    if (!std::isalpha(static_cast<unsigned char>(text[i]))) {
      i = start + 1;
      continue;
    }
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::vector<std::string> symbols;
    for (std::size_t k = start; k < i; ++k)
      symbols.push_back(byte_token[static_cast<unsigned char>(text[k])]);
    ++words[symbols];
  }
  std::vector<std::pair<std::string, std::string>> merges;
  while (static_cast<int>(merges.size()) < n_merges) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const auto& [w, count] : words)
      for (std::size_t k = 0; k + 1 < w.size(); ++k) pairs[{w[k], w[k + 1]}] += count;
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;  // map order breaks ties
    const auto pair = best->first;
    merges.push_back(pair);
    std::map<std::vector<std::string>, int> next;
    for (const auto& [w, count] : words) {
      std::vector<std::string> m;
      for (std::size_t k = 0; k < w.size(); ++k) {
        if (k + 1 < w.size() && w[k] == pair.first && w[k + 1] == pair.second) {
          m.push_back(pair.first + pair.second);
          ++k;
        } else {
          m.push_back(w[k]);
        }
      }
      next[m] += count;
    }
    words = std::move(next);
  }
  return merges;
}

// ------------------------------------------------------------------------------------------
// Spec checks and the tensor plan

bool check_spec(const Spec& s, std::string* error) {
  const auto bad = [&](const std::string& why) {
    *error = "invalid model spec: " + why;
    return false;
  };
  if (s.arch != "llama" && s.arch != "qwen2") return bad("arch must be llama or qwen2");
  if (s.hidden < 1 || s.hidden > kMaxHidden)
    return bad("hidden must be 1.." + std::to_string(kMaxHidden));
  if (s.layers < 1 || s.layers > kMaxLayers)
    return bad("layers must be 1.." + std::to_string(kMaxLayers));
  if (s.heads < 1 || s.heads > kMaxHeads)
    return bad("heads must be 1.." + std::to_string(kMaxHeads));
  if (s.kv_heads < 1 || s.kv_heads > s.heads || s.heads % s.kv_heads != 0)
    return bad("kv_heads must divide heads");
  if (s.hidden % s.heads != 0 || (s.hidden / s.heads) % 2 != 0)
    return bad("hidden must be heads x an even head dimension");
  if (s.ffn < 1 || s.ffn > kMaxFfn) return bad("ffn must be 1.." + std::to_string(kMaxFfn));
  if (s.context < 1 || s.context > kMaxContext)
    return bad("context must be 1.." + std::to_string(kMaxContext));
  if (!(s.rope_theta > 0.0f) || !std::isfinite(s.rope_theta))
    return bad("rope_theta must be positive");
  if (!(s.rms_eps > 0.0f) || !(s.rms_eps <= 0.1f)) return bad("rms_eps must be in (0, 0.1]");
  if (s.vocab_size < 0 || s.vocab_size > kMaxVocab)
    return bad("vocab_size must be 0.." + std::to_string(kMaxVocab));
  if (s.threads < 0 || s.threads > kMaxThreads)
    return bad("threads must be 0.." + std::to_string(kMaxThreads));
  const auto allowed = [](ggml::Type t) {
    const char* name = ggml::traits(static_cast<std::uint32_t>(t)).name;
    return name != nullptr && type_from_name(name).has_value();
  };
  if (!allowed(s.type)) return bad("unsupported weight type");
  if (s.output_type && !allowed(*s.output_type)) return bad("unsupported output type");
  if (!s.rope_scaling.empty() && s.rope_scaling != "linear" && s.rope_scaling != "yarn")
    return bad("rope_scaling must be empty, linear or yarn");
  if (!s.rope_scaling.empty() && !(s.rope_scaling_factor >= 1.0f && s.rope_scaling_factor <= 1e4f))
    return bad("rope_scaling_factor must be in [1, 10000]");
  if (s.rope_original_context < 0 || s.rope_original_context > kMaxContext)
    return bad("rope_original_context out of range");
  if (s.name.size() > 1024) return bad("name longer than 1024 bytes");
  return true;
}

bool is_quantized(ggml::Type t) {
  return t != ggml::Type::F32 && t != ggml::Type::F16 && t != ggml::Type::BF16;
}

ggml::Type output_type_for(const Spec& s) {
  if (s.output_type) return weight_type_for(*s.output_type, s.hidden);
  // llama.cpp (llama_tensor_get_type): the output projection of a quantized model gets Q6_K
  // unless the model is Q8_0; a row that is not a multiple of 256 then falls back to Q8_0.
  if (is_quantized(s.type) && s.type != ggml::Type::Q8_0)
    return weight_type_for(ggml::Type::Q6_K, s.hidden);
  return weight_type_for(s.type, s.hidden);
}

// How each tensor's values are drawn, from its name.
Init init_for(const Spec& s, std::string_view name) {
  const auto ends = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (ends("norm.weight")) return {1.0f, 0.1f};
  if (ends(".bias")) return {0.0f, 0.05f};
  if (ends("ffn_down.weight")) return uniform_std(1.0 / std::sqrt(static_cast<double>(s.ffn)));
  return uniform_std(1.0 / std::sqrt(static_cast<double>(s.hidden)));
}

std::uint64_t tensor_seed(const Spec& s, std::string_view name) {
  std::uint64_t state = s.seed;
  return splitmix64(&state) ^ fnv1a(name);
}

// The file_type llama.cpp records for a model of mostly type t.
std::uint32_t file_type(ggml::Type t) {
  switch (t) {
    case ggml::Type::F32:
      return 0;
    case ggml::Type::F16:
      return 1;
    case ggml::Type::Q4_0:
      return 2;
    case ggml::Type::Q8_0:
      return 7;
    case ggml::Type::Q5_0:
      return 8;
    case ggml::Type::Q4_K:
      return 14;  // Q4_K_S: Q4_K throughout
    case ggml::Type::Q6_K:
      return 18;
    case ggml::Type::BF16:
      return 32;
    default:
      return 0;
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------

std::string_view chatml_template() {
  // tokenizer.chat_template of Qwen2.5-7B-Instruct.
  static constexpr std::string_view kTemplate = R"TMPL({%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)TMPL";
  return kTemplate;
}

SyntheticVocab synthetic_vocab(int pad_to) {
  SyntheticVocab v;
  std::vector<std::string> byte_token(256);
  for (const auto& [b, cp] : byte_order()) {
    byte_token[static_cast<std::size_t>(b)] = utf8(cp);
    v.tokens.push_back(utf8(cp));
  }
  std::set<std::string> known(v.tokens.begin(), v.tokens.end());
  // Learned once per process: the text and the procedure are fixed.
  static const auto kMerges = learn_merges(byte_token, kSyntheticMerges);
  for (const auto& [a, b] : kMerges) {
    v.merges.push_back(a + " " + b);
    // Two merges can spell the same token ("a bc", "ab c"); the vocabulary lists it once.
    if (known.insert(a + b).second) v.tokens.push_back(a + b);
  }
  v.token_types.assign(v.tokens.size(), 1);
  const auto special = [&](const char* text) {
    v.tokens.emplace_back(text);
    v.token_types.push_back(3);
    return static_cast<std::int32_t>(v.tokens.size() - 1);
  };
  v.endoftext = special("<|endoftext|>");
  v.im_start = special("<|im_start|>");
  v.im_end = special("<|im_end|>");
  // As llama.cpp's converter pads a vocabulary to the model's embedding rows.
  for (int i = static_cast<int>(v.tokens.size()); i < pad_to; ++i) {
    v.tokens.push_back("[PAD" + std::to_string(i) + "]");
    v.token_types.push_back(5);
  }
  return v;
}

std::optional<ggml::Type> type_from_name(std::string_view name) {
  static constexpr ggml::Type kTypes[] = {ggml::Type::F32,  ggml::Type::F16,  ggml::Type::BF16,
                                          ggml::Type::Q8_0, ggml::Type::Q4_0, ggml::Type::Q5_0,
                                          ggml::Type::Q4_K, ggml::Type::Q6_K};
  for (ggml::Type t : kTypes)
    if (name == ggml::traits(static_cast<std::uint32_t>(t)).name) return t;
  return std::nullopt;
}

ggml::Type weight_type_for(ggml::Type t, std::int64_t cols) {
  const auto fits = [&](ggml::Type x) { return ggml::row_bytes(x, cols) != 0; };
  if (fits(t)) return t;
  // llama.cpp's fallbacks for rows that are not a multiple of 256 (llama_tensor_get_type).
  ggml::Type fallback = ggml::Type::F16;
  if (t == ggml::Type::Q4_K) fallback = ggml::Type::Q5_0;
  if (t == ggml::Type::Q6_K) fallback = ggml::Type::Q8_0;
  return fits(fallback) ? fallback : ggml::Type::F16;
}

bool apply_preset(std::string_view name, Spec* s) {
  if (name == "tiny") {
    const Spec d;
    s->arch = d.arch;
    s->hidden = d.hidden;
    s->layers = d.layers;
    s->heads = d.heads;
    s->kv_heads = d.kv_heads;
    s->ffn = d.ffn;
    s->context = d.context;
    s->rope_theta = d.rope_theta;
    s->rms_eps = d.rms_eps;
    s->tied_embeddings = d.tied_embeddings;
    s->vocab_size = 0;
    s->name = "infergate-tiny";
    return true;
  }
  if (name == "qwen2.5-0.5b") {
    s->arch = "qwen2";
    s->hidden = 896;
    s->layers = 24;
    s->heads = 14;
    s->kv_heads = 2;
    s->ffn = 4864;
    s->context = 32768;
    s->rope_theta = 1e6f;
    s->rms_eps = 1e-6f;
    s->tied_embeddings = true;
    s->vocab_size = 151936;
    s->name = "infergate-qwen2.5-0.5b-shaped";
    return true;
  }
  if (name == "demo") {
    s->arch = "qwen2";
    s->hidden = 256;
    s->layers = 4;
    s->heads = 4;
    s->kv_heads = 2;
    s->ffn = 512;
    s->context = 4096;
    s->rope_theta = 1e6f;
    s->rms_eps = 1e-6f;
    s->tied_embeddings = true;
    s->vocab_size = 0;
    s->name = "infergate-demo";
    return true;
  }
  return false;
}

std::vector<std::string_view> preset_names() { return {"tiny", "qwen2.5-0.5b", "demo"}; }

bool plan_tensors(const Spec& s, int vocab_size, std::vector<TensorPlan>* out, std::string* error) {
  if (!check_spec(s, error)) return false;
  if (vocab_size < 1 || vocab_size > kMaxVocab) {
    *error = "vocabulary size " + std::to_string(vocab_size) + " out of range";
    return false;
  }
  out->clear();
  const std::int64_t h = s.hidden, ff = s.ffn, n_vocab = vocab_size;
  const std::int64_t head_dim = s.hidden / s.heads;
  const std::int64_t q_dim = head_dim * s.heads, kv_dim = head_dim * s.kv_heads;
  const ggml::Type out_type = output_type_for(s);
  const auto weight = [&](std::string name, std::int64_t cols, std::int64_t rows) {
    out->push_back({std::move(name), {cols, rows}, weight_type_for(s.type, cols)});
  };
  // Norms and biases stay F32 in files of every type, as llama.cpp writes them.
  const auto vec = [&](std::string name, std::int64_t n) {
    out->push_back({std::move(name), {n}, ggml::Type::F32});
  };
  out->push_back({"token_embd.weight",
                  {h, n_vocab},
                  s.tied_embeddings ? out_type : weight_type_for(s.type, h)});
  for (int i = 0; i < s.layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    vec(p + "attn_norm.weight", h);
    weight(p + "attn_q.weight", h, q_dim);
    weight(p + "attn_k.weight", h, kv_dim);
    weight(p + "attn_v.weight", h, kv_dim);
    if (s.arch == "qwen2") {
      vec(p + "attn_q.bias", q_dim);
      vec(p + "attn_k.bias", kv_dim);
      vec(p + "attn_v.bias", kv_dim);
    }
    weight(p + "attn_output.weight", q_dim, h);
    vec(p + "ffn_norm.weight", h);
    weight(p + "ffn_gate.weight", h, ff);
    weight(p + "ffn_up.weight", h, ff);
    weight(p + "ffn_down.weight", ff, h);
  }
  vec("output_norm.weight", h);
  if (!s.tied_embeddings) out->push_back({"output.weight", {h, n_vocab}, out_type});
  return true;
}

bool write_model(const Spec& spec, const std::string& path, std::string* error) {
  return write_model(spec, path, error, nullptr);
}

bool write_model(const Spec& spec, const std::string& path, std::string* error, Summary* summary) {
  std::string local_error;
  if (!error) error = &local_error;
  if (!check_spec(spec, error)) return false;
  gguf::Writer w(gguf::kDefaultAlignment);
  const std::string a = spec.arch;
  w.set_string("general.architecture", a);
  w.set_string("general.name", spec.name);
  w.set_u32("general.alignment", gguf::kDefaultAlignment);
  w.set_u32("general.file_type", file_type(spec.type));
  if (is_quantized(spec.type)) w.set_u32("general.quantization_version", 2);
  w.set_u32(a + ".context_length", static_cast<std::uint32_t>(spec.context));
  w.set_u32(a + ".embedding_length", static_cast<std::uint32_t>(spec.hidden));
  w.set_u32(a + ".block_count", static_cast<std::uint32_t>(spec.layers));
  w.set_u32(a + ".feed_forward_length", static_cast<std::uint32_t>(spec.ffn));
  w.set_u32(a + ".attention.head_count", static_cast<std::uint32_t>(spec.heads));
  w.set_u32(a + ".attention.head_count_kv", static_cast<std::uint32_t>(spec.kv_heads));
  w.set_f32(a + ".rope.freq_base", spec.rope_theta);
  w.set_u32(a + ".rope.dimension_count", static_cast<std::uint32_t>(spec.hidden / spec.heads));
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", spec.rms_eps);
  if (!spec.rope_scaling.empty()) {
    w.set_string(a + ".rope.scaling.type", spec.rope_scaling);
    w.set_f32(a + ".rope.scaling.factor", spec.rope_scaling_factor);
    if (spec.rope_original_context > 0)
      w.set_u32(a + ".rope.scaling.original_context_length",
                static_cast<std::uint32_t>(spec.rope_original_context));
  }

  // The tokenizer: copied from a vocabulary file, or the synthetic one.
  int vocab_size = 0;
  if (!spec.vocab_path.empty()) {
    std::string why;
    auto vocab = gguf::File::open(spec.vocab_path, &why);
    if (!vocab) {
      *error = "vocabulary: " + why;
      return false;
    }
    const auto* tokens = vocab->get_string_array("tokenizer.ggml.tokens");
    if (!tokens || tokens->empty() || tokens->size() > static_cast<std::size_t>(kMaxVocab)) {
      *error = spec.vocab_path + ": no usable tokenizer.ggml.tokens array";
      return false;
    }
    vocab_size = static_cast<int>(tokens->size());
    if (spec.vocab_size != 0 && spec.vocab_size != vocab_size) {
      *error = "vocab_size " + std::to_string(spec.vocab_size) + " differs from the " +
               std::to_string(vocab_size) + " tokens of " + spec.vocab_path;
      return false;
    }
    for (const auto& [key, value] : vocab->metadata())
      if (key.starts_with("tokenizer.")) w.copy_value(std::string(key), value);
  } else {
    SyntheticVocab v = synthetic_vocab(spec.vocab_size);
    if (spec.vocab_size != 0 && static_cast<int>(v.tokens.size()) > spec.vocab_size) {
      *error = "vocab_size " + std::to_string(spec.vocab_size) +
               " is smaller than the synthetic vocabulary's " + std::to_string(v.tokens.size()) +
               " tokens";
      return false;
    }
    vocab_size = static_cast<int>(v.tokens.size());
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "qwen2");
    w.set_string_array("tokenizer.ggml.tokens", std::move(v.tokens));
    w.set_i32_array("tokenizer.ggml.token_type", std::move(v.token_types));
    w.set_string_array("tokenizer.ggml.merges", std::move(v.merges));
    w.set_u32("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(v.endoftext));
    w.set_u32("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(v.im_end));
    w.set_u32("tokenizer.ggml.padding_token_id", static_cast<std::uint32_t>(v.endoftext));
    w.set_bool("tokenizer.ggml.add_bos_token", false);
    w.set_string("tokenizer.chat_template", std::string(chatml_template()));
  }
  w.set_u32(a + ".vocab_size", static_cast<std::uint32_t>(vocab_size));

  std::vector<TensorPlan> tensors;
  if (!plan_tensors(spec, vocab_size, &tensors, error)) return false;
  const int threads = spec.threads > 0
                          ? spec.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::int64_t parameters = 0;
  for (const TensorPlan& t : tensors) {
    const std::int64_t cols = t.shape[0];
    const std::int64_t rows = t.shape.size() > 1 ? t.shape[1] : 1;
    parameters += cols * rows;
    const Init init = init_for(spec, t.name);
    const std::uint64_t seed = tensor_seed(spec, t.name);
    const ggml::Type type = t.type;
    w.add_generated_tensor(
        t.name, t.shape, type, [=](std::uint8_t* dst, std::size_t bytes, std::string* why) {
          if (bytes != ggml::row_bytes(type, cols) * static_cast<std::size_t>(rows)) {
            *why = "unexpected size";
            return false;
          }
          fill_tensor(seed, init, type, cols, rows, threads, dst);
          return true;
        });
  }
  if (!w.write(path, error)) return false;
  if (summary) {
    summary->parameters = parameters;
    std::error_code ec;
    summary->file_bytes = std::filesystem::file_size(path, ec);
    summary->vocab_size = vocab_size;
    summary->tensors = static_cast<int>(tensors.size());
  }
  return true;
}

}  // namespace infergate::engine::testmodel
