// The Engine implementation, visible to the engine's own CLI, benchmark and tests (which need a
// little more than the public header: raw token prompts, the vocabulary, the model).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "chat/chat_template.hpp"
#include "ggml/thread_pool.hpp"
#include "gguf/gguf.hpp"
#include "infergate/engine.hpp"
#include "model/forward.hpp"
#include "model/kv_cache.hpp"
#include "model/model.hpp"
#include "model/scheduler.hpp"
#include "vocab/vocab.hpp"

namespace infergate::engine::model {

// Limits on what a request may carry.
inline constexpr std::size_t kMaxStops = 16;
inline constexpr std::size_t kMaxStopBytes = 256;
inline constexpr std::size_t kMaxMessages = 4096;
inline constexpr std::size_t kMaxPromptBytes = std::size_t{32} << 20;

class EngineImpl final : public Engine {
 public:
  static std::unique_ptr<EngineImpl> create(const std::string& gguf_path,
                                            const EngineOptions& options, std::string* error);
  ~EngineImpl() override;

  SubmitResult submit(GenerateRequest request, std::function<void(TokenEvent&&)> on_event) override;
  void cancel(RequestId id) override;
  int count_prompt_tokens(const GenerateRequest& request) override;
  const ModelInfo& info() const override { return info_; }

  // A prompt given as token ids. ignore_eog: generate max_tokens whatever is sampled (benchmarks).
  SubmitResult submit_tokens(std::vector<std::int32_t> prompt, const SamplingParams& sampling,
                             int max_tokens, std::vector<std::string> stops, bool ignore_eog,
                             std::function<void(TokenEvent&&)> on_event);

  // The prompt a request stands for: its messages rendered with the chat template, or its raw
  // prompt, tokenised. False with *error when it cannot be built.
  bool build_prompt(const GenerateRequest& request, std::vector<std::int32_t>* tokens,
                    std::string* error) const;

  const vocab::Vocab& vocab() const { return *vocab_; }
  const Model& model() const { return *model_; }
  chat::Family family() const { return family_; }
  int context_size() const { return kv_->capacity(); }
  int threads() const { return pool_->size(); }
  const Scheduler& scheduler() const { return *scheduler_; }

 private:
  EngineImpl() = default;
  SubmitResult enqueue(std::vector<std::int32_t> prompt, const SamplingParams& sampling,
                       int max_tokens, std::vector<std::string> stops, bool ignore_eog,
                       std::function<void(TokenEvent&&)> on_event);

  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<vocab::Vocab> vocab_;
  std::unique_ptr<Model> model_;
  chat::Family family_ = chat::Family::unknown;
  chat::RenderOptions render_defaults_;
  std::unique_ptr<ggml::ThreadPool> pool_;
  std::unique_ptr<KvCache> kv_;
  std::unique_ptr<Forward> forward_;
  std::unique_ptr<Scheduler> scheduler_;  // last: its thread stops before the rest goes
  ModelInfo info_;
  std::atomic<RequestId> next_id_{1};
};

}  // namespace infergate::engine::model
