// infergate's in-process inference engine: GGUF Llama-family models on the CPU.
//
// The one public header of local-backend/. It knows nothing of the gateway: the gateway's
// `local` adapter is just one caller. An Engine owns its threads; submit() never blocks and
// results come back through a callback invoked on the engine's scheduler thread (the caller
// posts them to wherever it lives; the callback itself must not block).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace infergate::engine {

struct EngineOptions {
  int threads = 0;                   // compute threads; 0 = one per core
  int context_size = 4096;           // per sequence; capped by the model's context length
  int max_sequences = 8;             // decoded together (continuous batching)
  int max_queue = 64;                // waiting requests beyond that are refused
  std::int64_t kv_memory_bytes = 0;  // 0 = context_size x max_sequences worth
  int prefill_chunk = 256;           // prompt tokens processed per scheduler step, all sequences
  std::string chat_template;         // family override ("chatml", "llama3", ...); empty = detect
};

struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy
  float top_p = 1.0f;
  int top_k = 0;  // 0 = off
  float min_p = 0.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;
  std::optional<std::uint64_t> seed;
};

struct ChatMessage {
  std::string role;  // system | user | assistant | tool
  std::string content;
};

struct GenerateRequest {
  // Either messages (rendered with the model's chat template) or a raw prompt.
  std::vector<ChatMessage> messages;
  std::string prompt;
  bool add_generation_prompt = true;
  SamplingParams sampling;
  int max_tokens = 256;           // capped by the context left
  std::vector<std::string> stop;  // stop strings (not included in the output)
};

enum class Finish : std::uint8_t { none, stop, length, cancelled, error };

struct TokenEvent {
  std::string text;              // decoded text since the last event (UTF-8 complete)
  std::int32_t token = -1;       // the sampled token id (-1 on the final event)
  Finish finish = Finish::none;  // != none on the final event of a request
  int prompt_tokens = 0;         // on the final event
  int completion_tokens = 0;     // on the final event
  std::string error;             // finish == error
};

using RequestId = std::uint64_t;

enum class SubmitStatus : std::uint8_t { accepted, queue_full, invalid };

struct SubmitResult {
  SubmitStatus status = SubmitStatus::invalid;
  RequestId id = 0;
  std::string error;  // invalid: why (prompt longer than the context, ...)
};

struct ModelInfo {
  std::string name;          // general.name or the file name
  std::string architecture;  // llama | qwen2
  std::int64_t parameters = 0;
  int context_length = 0;  // the model's own
  int vocab_size = 0;
  std::string chat_template_family;
};

class Engine {
 public:
  // Loads a GGUF file. On failure returns nullptr and sets *error to a clear message.
  static std::unique_ptr<Engine> load(const std::string& gguf_path, const EngineOptions& options,
                                      std::string* error);
  virtual ~Engine() = default;

  // Queues a request. `on_event` is called on the engine's thread, once per new piece of text
  // and once more with finish != none; never after that, and never after cancel() returns.
  virtual SubmitResult submit(GenerateRequest request,
                              std::function<void(TokenEvent&&)> on_event) = 0;

  // Frees the request's slot at once (client gone). Safe to call from any thread, any time.
  virtual void cancel(RequestId id) = 0;

  // Token count of a rendered prompt, for usage and limits.
  virtual int count_prompt_tokens(const GenerateRequest& request) = 0;

  virtual const ModelInfo& info() const = 0;
};

}  // namespace infergate::engine
