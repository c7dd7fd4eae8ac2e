// Engine::load and the request path in front of the scheduler: validation, chat template
// rendering and tokenisation happen on the caller's thread, so that a request the engine cannot
// serve is refused at once with the reason.
#include <algorithm>
#include <filesystem>
#include <random>
#include <thread>

#include "model/engine_impl.hpp"

namespace infergate::engine {

std::unique_ptr<Engine> Engine::load(const std::string& gguf_path, const EngineOptions& options,
                                     std::string* error) {
  return model::EngineImpl::create(gguf_path, options, error);
}

namespace model {

namespace {

bool check_options(const EngineOptions& o, std::string* error) {
  auto bad = [&](const std::string& what) {
    if (error) *error = "engine options: " + what;
    return false;
  };
  if (o.threads < 0 || o.threads > ggml::ThreadPool::kMaxThreads) {
    return bad("threads must be in [0, " + std::to_string(ggml::ThreadPool::kMaxThreads) + "]");
  }
  if (o.context_size < 16 || o.context_size > (1 << 24)) {
    return bad("context_size must be in [16, 16777216]");
  }
  if (o.max_sequences < 1 || o.max_sequences > 256) return bad("max_sequences must be in [1, 256]");
  if (o.max_queue < 0 || o.max_queue > 1000000) return bad("max_queue must be in [0, 1000000]");
  if (o.kv_memory_bytes < 0) return bad("kv_memory_bytes must be >= 0");
  if (o.prefill_chunk < 1 || o.prefill_chunk > 8192)
    return bad("prefill_chunk must be in [1, 8192]");
  return true;
}

}  // namespace

std::unique_ptr<EngineImpl> EngineImpl::create(const std::string& gguf_path,
                                               const EngineOptions& options, std::string* error) {
  if (!check_options(options, error)) return nullptr;
  std::unique_ptr<EngineImpl> e(new EngineImpl());
  std::string err;
  e->file_ = gguf::File::open(gguf_path, &err);
  if (!e->file_) {
    if (error) *error = err;
    return nullptr;
  }
  e->vocab_ = vocab::Vocab::load(*e->file_, &err);
  if (!e->vocab_) {
    if (error) *error = "vocabulary: " + err;
    return nullptr;
  }
  e->model_ = Model::load(*e->file_, &err);
  if (!e->model_) {
    if (error) *error = err;
    return nullptr;
  }
  const Hparams& hp = e->model_->hparams();
  if (e->vocab_->n_tokens() > hp.n_vocab) {
    if (error) {
      *error = "model: the tokenizer has " + std::to_string(e->vocab_->n_tokens()) +
               " tokens but token_embd.weight only " + std::to_string(hp.n_vocab) + " rows";
    }
    return nullptr;
  }

  // Chat template family: the configured override, else detected from the file's template.
  const std::string_view tmpl = e->file_->get_string("tokenizer.chat_template").value_or("");
  if (!options.chat_template.empty()) {
    const std::optional<chat::Family> f = chat::family_from_name(options.chat_template);
    if (!f) {
      if (error) {
        *error = "chat_template '" + options.chat_template.substr(0, 64) +
                 "' is not a known family (known: " + std::string(chat::known_family_names()) + ")";
      }
      return nullptr;
    }
    e->family_ = *f;
  } else {
    e->family_ = chat::detect(tmpl);
  }
  e->render_defaults_ = chat::render_defaults(tmpl);
  if (e->vocab_->bos() >= 0)
    e->render_defaults_.bos_token = e->vocab_->token_text(e->vocab_->bos());
  if (e->vocab_->eos() >= 0)
    e->render_defaults_.eos_token = e->vocab_->token_text(e->vocab_->eos());

  // Context per sequence: the request, capped by the model's own and by the KV memory budget.
  std::int64_t ctx = std::min(options.context_size, hp.n_ctx_train);
  const std::int64_t per_token = KvCache::bytes_per_token(hp.n_layer, hp.n_head_kv, hp.head_dim);
  if (options.kv_memory_bytes > 0) {
    ctx =
        std::min<std::int64_t>(ctx, options.kv_memory_bytes / (per_token * options.max_sequences));
    if (ctx < 16) {
      if (error) {
        *error = "engine options: kv_memory_bytes " + std::to_string(options.kv_memory_bytes) +
                 " holds fewer than 16 tokens for each of " +
                 std::to_string(options.max_sequences) + " sequences (" +
                 std::to_string(per_token) + " bytes per token)";
      }
      return nullptr;
    }
  }

  int threads = options.threads;
  if (threads == 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  e->pool_ = std::make_unique<ggml::ThreadPool>(threads);
  e->kv_ = std::make_unique<KvCache>(hp.n_layer, hp.n_head_kv, hp.head_dim, options.max_sequences,
                                     static_cast<int>(ctx));
  e->forward_ = std::make_unique<Forward>(*e->model_, *e->kv_, *e->pool_,
                                          options.max_sequences + options.prefill_chunk,
                                          options.max_sequences);
  SchedulerOptions so;
  so.max_sequences = options.max_sequences;
  so.max_queue = options.max_queue;
  so.prefill_chunk = options.prefill_chunk;
  e->scheduler_ = std::make_unique<Scheduler>(*e->model_, *e->vocab_, *e->forward_, *e->kv_, so);

  ModelInfo& info = e->info_;
  info.name = std::string(e->file_->get_string("general.name").value_or(""));
  if (info.name.empty()) info.name = std::filesystem::path(gguf_path).stem().string();
  info.architecture = hp.arch_name;
  info.parameters = e->model_->n_params();
  info.context_length = hp.n_ctx_train;
  info.vocab_size = hp.n_vocab;
  info.chat_template_family = std::string(chat::family_name(e->family_));
  return e;
}

EngineImpl::~EngineImpl() { scheduler_.reset(); }

bool EngineImpl::build_prompt(const GenerateRequest& request, std::vector<std::int32_t>* tokens,
                              std::string* error) const {
  std::string text;
  if (!request.messages.empty()) {
    if (request.messages.size() > kMaxMessages) {
      *error = "too many messages (at most " + std::to_string(kMaxMessages) + ")";
      return false;
    }
    chat::RenderOptions opts = render_defaults_;
    opts.add_generation_prompt = request.add_generation_prompt;
    opts.max_bytes = std::min(opts.max_bytes, kMaxPromptBytes);
    if (!chat::render(family_, request.messages, opts, &text, error)) return false;
  } else {
    if (request.prompt.size() > kMaxPromptBytes) {
      *error = "prompt longer than " + std::to_string(kMaxPromptBytes) + " bytes";
      return false;
    }
    text = request.prompt;
  }
  *tokens = vocab_->tokenize(text, /*add_special=*/true, /*parse_special=*/true);
  // Templates that write the BOS text themselves would otherwise get a second BOS.
  const std::int32_t bos = vocab_->bos();
  if (tokens->size() >= 2 && bos >= 0 && (*tokens)[0] == bos && (*tokens)[1] == bos) {
    tokens->erase(tokens->begin());
  }
  if (tokens->empty()) {
    *error = "the prompt is empty";
    return false;
  }
  return true;
}

int EngineImpl::count_prompt_tokens(const GenerateRequest& request) {
  std::vector<std::int32_t> tokens;
  std::string error;
  if (!build_prompt(request, &tokens, &error)) return -1;
  return static_cast<int>(tokens.size());
}

SubmitResult EngineImpl::submit(GenerateRequest request,
                                std::function<void(TokenEvent&&)> on_event) {
  SubmitResult res;
  std::vector<std::int32_t> tokens;
  if (!build_prompt(request, &tokens, &res.error)) {
    res.status = SubmitStatus::invalid;
    return res;
  }
  std::vector<std::string> stops = std::move(request.stop);
  if (!request.messages.empty()) {
    for (std::string& s : chat::stop_strings(family_)) {
      if (std::find(stops.begin(), stops.end(), s) == stops.end()) stops.push_back(std::move(s));
    }
  }
  return enqueue(std::move(tokens), request.sampling, request.max_tokens, std::move(stops), false,
                 std::move(on_event));
}

SubmitResult EngineImpl::submit_tokens(std::vector<std::int32_t> prompt,
                                       const SamplingParams& sampling, int max_tokens,
                                       std::vector<std::string> stops, bool ignore_eog,
                                       std::function<void(TokenEvent&&)> on_event) {
  SubmitResult res;
  for (std::int32_t t : prompt) {
    if (t < 0 || t >= model_->hparams().n_vocab) {
      res.error = "prompt token id " + std::to_string(t) + " out of range";
      return res;
    }
  }
  if (prompt.empty()) {
    res.error = "the prompt is empty";
    return res;
  }
  return enqueue(std::move(prompt), sampling, max_tokens, std::move(stops), ignore_eog,
                 std::move(on_event));
}

SubmitResult EngineImpl::enqueue(std::vector<std::int32_t> prompt, const SamplingParams& sampling,
                                 int max_tokens, std::vector<std::string> stops, bool ignore_eog,
                                 std::function<void(TokenEvent&&)> on_event) {
  SubmitResult res;
  res.status = SubmitStatus::invalid;
  const int ctx = kv_->capacity();
  if (prompt.size() >= static_cast<std::size_t>(ctx)) {
    res.error = "the prompt is " + std::to_string(prompt.size()) + " tokens; the context holds " +
                std::to_string(ctx) + " (at most " + std::to_string(ctx - 1) +
                " prompt tokens, to leave room to generate)";
    return res;
  }
  if (max_tokens < 1) {
    res.error = "max_tokens must be >= 1";
    return res;
  }
  if (res.error = validate_sampling(sampling); !res.error.empty()) return res;
  if (stops.size() > kMaxStops) {
    res.error = "too many stop strings (at most " + std::to_string(kMaxStops) + ")";
    return res;
  }
  for (const std::string& s : stops) {
    if (s.size() > kMaxStopBytes) {
      res.error = "stop string longer than " + std::to_string(kMaxStopBytes) + " bytes";
      return res;
    }
  }
  if (!on_event) {
    res.error = "no event callback";
    return res;
  }

  auto r = std::make_shared<Request>();
  r->id = next_id_.fetch_add(1);
  r->max_tokens = std::min(max_tokens, ctx - static_cast<int>(prompt.size()));
  r->prompt = std::move(prompt);
  r->sampling = sampling;
  if (sampling.seed) {
    r->seed = *sampling.seed;
  } else {
    std::random_device rd;
    r->seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }
  r->stops = std::move(stops);
  r->ignore_eog = ignore_eog;
  r->on_event = std::move(on_event);
  const RequestId id = r->id;
  res.status = scheduler_->enqueue(std::move(r));
  if (res.status == SubmitStatus::accepted) {
    res.id = id;
  } else {
    res.error = "the engine's queue is full";
  }
  return res;
}

void EngineImpl::cancel(RequestId id) { scheduler_->cancel(id); }

}  // namespace model
}  // namespace infergate::engine
