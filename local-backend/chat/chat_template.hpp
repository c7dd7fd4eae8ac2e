// Chat templates: turn a conversation into the exact prompt text a model was trained on.
//
// GGUF files carry the model's Jinja template (tokenizer.chat_template). Rather than embed a Jinja
// interpreter, the engine recognises the template's family from distinctive markers in its text and
// renders that family in C++, reproducing what the template (as Hugging Face transformers runs it)
// produces for plain-text system/user/assistant/tool messages, including its raise_exception
// errors. An unrecognised template is an error that tells the admin to name the family in YAML.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/engine.hpp"

namespace infergate::engine::chat {

enum class Family : std::uint8_t {
  chatml,    // <|im_start|>role\n...<|im_end|>\n (SmolLM2, Qwen2, OpenHermes, ...)
  llama2,    // <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] (Llama 2 chat)
  llama3,    // Llama 3.1 and later: header/eot tokens with the "Cutting Knowledge Date" preamble
  mistral,   // [INST]...[/INST] with the system message in the last user turn (Mistral Nemo)
  gemma,     // <start_of_turn>user/model (Gemma 2; Gemma 3 with system_in_first_user)
  phi3,      // <|user|>\n...<|end|>\n<|assistant|>\n (Phi-3, Phi-3.5)
  smollm3,   // ChatML with SmolLM3's metadata system block and reasoning modes
  qwen2_5,   // ChatML with Qwen2.5's default system prompt and <tool_response> turns
  llama3_0,  // Llama 3.0: header/eot tokens, no preamble
  unknown,
};

// The family of a Jinja template text (tokenizer.chat_template); unknown when nothing matches.
Family detect(std::string_view template_text);

// Config override ("chatml", "qwen2.5", "llama3", ...; case-insensitive); nullopt for other names.
std::optional<Family> family_from_name(std::string_view name);

// The name family_from_name() accepts ("unknown" for Family::unknown).
std::string_view family_name(Family f);

// Every name family_from_name() accepts, comma-separated, for error messages.
std::string_view known_family_names();

struct RenderOptions {
  bool add_generation_prompt = true;
  std::string bos_token;  // text of the BOS token, for templates that emit bos_token
  std::string eos_token;  // text of the EOS token, for templates that emit eos_token
  // llama3: the "Today Date:" of the system preamble; empty = the template's own "26 Jul 2024".
  std::string date_string;
  // smollm3: the template's enable_thinking variable ("/think" or "/no_think" in the system
  // message overrides it, as in the template).
  bool enable_thinking = true;
  // chatml: system turn rendered when the conversation does not start with one (SmolLM2 and Qwen2
  // templates have such a default); empty = none.
  std::string default_system;
  // gemma: a leading system message becomes the start of the first user turn followed by "\n\n"
  // (Gemma 3's template) instead of the error Gemma 2's template raises.
  bool system_in_first_user = false;
  // Longest prompt render() produces; longer is an error. Bounds memory for hostile input.
  std::size_t max_bytes = std::size_t{16} << 20;
};

// The options a template text implies beyond its family: the default system prompt of a ChatML
// template, today's date for templates that call strftime_now (Llama 3.2), Gemma 3's system
// handling. bos_token, eos_token and add_generation_prompt are left for the caller to set.
RenderOptions render_defaults(std::string_view template_text);

// The local date formatted as strftime_now("%d %b %Y") gives it, e.g. "05 Mar 2025".
std::string today_date_string();

// The prompt text exactly as the model's template renders it. False with *error set for an
// unknown family, no messages, an unknown role, a conversation the template rejects (Gemma and
// Mistral role alternation, ...) or a result longer than opts.max_bytes. Message contents never
// appear in errors.
bool render(Family f, const std::vector<ChatMessage>& messages, const RenderOptions& opts,
            std::string* out, std::string* error);

// End-of-turn markers to stop on when the model's vocabulary does not mark them end-of-generation.
std::vector<std::string> stop_strings(Family f);

}  // namespace infergate::engine::chat
