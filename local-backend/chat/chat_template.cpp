// Each render_* function below reproduces one Jinja template for messages whose content is a plain
// string. Where the behaviour is subtle, the comment quotes the template line it follows. Templates
// are evaluated by Hugging Face transformers with trim_blocks and lstrip_blocks, so the layout
// whitespace of the template source never reaches the output; `| trim`, `.strip()` and `.rstrip()`
// are Python's str methods (Unicode whitespace) and `tojson` is json.dumps(ensure_ascii=False).
#include "chat/chat_template.hpp"

#include <array>
#include <ctime>
#include <utility>

namespace infergate::engine::chat {
namespace {

constexpr std::string_view kImStart = "<|im_start|>";
constexpr std::string_view kImEnd = "<|im_end|>";

// Qwen/Qwen2.5-7B-Instruct: `'You are Qwen, created by Alibaba Cloud. You are a helpful
// assistant.'`
constexpr std::string_view kQwenDefaultSystem =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

// meta-llama/Llama-3.1-8B-Instruct: `{%- set date_string = "26 Jul 2024" %}` when not given.
constexpr std::string_view kLlama3DefaultDate = "26 Jul 2024";

// HuggingFaceTB/SmolLM3-3B: the default custom instructions for each reasoning mode.
constexpr std::string_view kSmolThinkInstructions =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face. Your role as an "
    "assistant involves thoroughly exploring questions through a systematic thinking "
    "process before providing the final precise and accurate solutions. This requires "
    "engaging in a comprehensive cycle of analysis, summarizing, exploration, reassessment, "
    "reflection, backtracking, and iteration to develop well-considered thinking process. "
    "Please structure your response into two main sections: Thought and Solution using the "
    "specified format: <think> Thought section </think> Solution section. In the Thought "
    "section, detail your reasoning process in steps. Each step should include detailed "
    "considerations such as analysing questions, summarizing relevant findings, "
    "brainstorming new ideas, verifying the accuracy of the current steps, refining any "
    "errors, and revisiting previous steps. In the Solution section, based on various "
    "attempts, explorations, and reflections from the Thought section, systematically "
    "present the final solution that you deem correct. The Solution section should be "
    "logical, accurate, and concise and detail necessary steps needed to reach the "
    "conclusion.\n\n";
constexpr std::string_view kSmolNoThinkInstructions =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face.\n\n";

struct FamilyName {
  Family family;
  std::string_view name;
};

constexpr std::array<FamilyName, 9> kFamilyNames = {{
    {Family::chatml, "chatml"},
    {Family::qwen2_5, "qwen2.5"},
    {Family::llama2, "llama2"},
    {Family::llama3_0, "llama3.0"},
    {Family::llama3, "llama3"},
    {Family::mistral, "mistral"},
    {Family::gemma, "gemma"},
    {Family::phi3, "phi3"},
    {Family::smollm3, "smollm3"},
}};

bool contains(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Decodes the UTF-8 sequence at s[i] into *cp and returns its length. An invalid or overlong
// sequence yields one byte and U+FFFD, which is not whitespace.
std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t* cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  std::size_t len = 0;
  char32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    min = 0x10000;
  }
  *cp = 0xFFFD;
  if (len == 0 || i + len > s.size()) return 1;
  char32_t v = c & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 1;
    v = (v << 6) | (d & 0x3F);
  }
  if (v < min || v > 0x10FFFF) return 1;
  *cp = v;
  return len;
}

// Python's str.isspace(): what str.strip() and Jinja's trim remove.
bool is_py_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

std::string_view py_lstrip(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    const std::size_t n = decode_utf8(s, i, &cp);
    if (!is_py_space(cp)) break;
    i += n;
  }
  return s.substr(i);
}

std::string_view py_rstrip(std::string_view s) {
  std::size_t end = 0;  // just past the last non-space code point
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = decode_utf8(s, i, &cp);
    i += n;
    if (!is_py_space(cp)) end = i;
  }
  return s.substr(0, end);
}

std::string_view py_strip(std::string_view s) { return py_rstrip(py_lstrip(s)); }

std::string_view lstrip_newlines(std::string_view s) {
  const std::size_t i = s.find_first_not_of('\n');
  return i == std::string_view::npos ? std::string_view() : s.substr(i);
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string result;
  std::size_t start = 0;
  for (std::size_t pos; (pos = s.find(from, start)) != std::string::npos;
       start = pos + from.size()) {
    result.append(s, start, pos - start).append(to);
  }
  if (start == 0) return;
  result.append(s, start, std::string::npos);
  s = std::move(result);
}

// json.dumps(s, ensure_ascii=False) for a string: Python escapes only '"', '\\' and controls.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// A role as it may appear in an error: bounded and printable, since it comes from the client.
std::string printable(std::string_view s) {
  constexpr std::size_t kMax = 32;
  std::string r;
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const char c = s[i];
    r += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  if (s.size() > kMax) r += "...";
  return r;
}

class Renderer {
 public:
  Renderer(Family family, const std::vector<ChatMessage>& messages, const RenderOptions& opts,
           std::string* out, std::string* error)
      : family_(family), msgs_(messages), opts_(opts), out_(*out), error_(error) {}

  bool run() {
    switch (family_) {
      case Family::chatml:
        return chatml();
      case Family::qwen2_5:
        return qwen2_5();
      case Family::llama2:
        return llama2();
      case Family::llama3:
        return llama3();
      case Family::llama3_0:
        return llama3_0();
      case Family::mistral:
        return mistral();
      case Family::gemma:
        return gemma();
      case Family::phi3:
        return phi3();
      case Family::smollm3:
        return smollm3();
      case Family::unknown:
        break;
    }
    return fail("unknown family");
  }

  bool fail(std::string_view message) {
    if (error_ != nullptr) {
      *error_ = "chat template ";
      *error_ += family_name(family_);
      *error_ += ": ";
      *error_ += message;
    }
    return false;
  }

 private:
  bool is_role(std::size_t i, std::string_view role) const { return msgs_[i].role == role; }

  // ChatML as in teknium/OpenHermes-2.5-Mistral-7B, with the default system turn of
  // HuggingFaceTB/SmolLM2-1.7B-Instruct and Qwen/Qwen2-7B-Instruct:
  //   {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}
  //   {{ '<|im_start|>system\n<default><|im_end|>\n' }}{% endif %}{{'<|im_start|>' +
  //   message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}
  //   {% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
  bool chatml() {
    if (!opts_.default_system.empty() && !is_role(0, "system")) {
      turn("system", opts_.default_system);
    }
    for (const ChatMessage& m : msgs_) turn(m.role, m.content);
    if (opts_.add_generation_prompt) out_.append(kImStart).append("assistant\n");
    return true;
  }

  void turn(std::string_view role, std::string_view content) {
    out_.append(kImStart).append(role).append("\n").append(content).append(kImEnd).append("\n");
  }

  // Qwen/Qwen2.5-7B-Instruct (file in shared/data), without tools: the first message is the
  // system turn or the default one is; later system messages keep their place; a run of tool
  // messages becomes one user turn of <tool_response> blocks.
  bool qwen2_5() {
    if (is_role(0, "system")) {
      turn("system", msgs_[0].content);
    } else {
      turn("system", kQwenDefaultSystem);
    }
    for (std::size_t i = 0; i < msgs_.size(); ++i) {
      const ChatMessage& m = msgs_[i];
      if (m.role == "user" || (m.role == "system" && i != 0) || m.role == "assistant") {
        turn(m.role, m.content);
      } else if (m.role == "tool") {
        // {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
        if (i == 0 || !is_role(i - 1, "tool")) out_.append(kImStart).append("user");
        out_.append("\n<tool_response>\n").append(m.content).append("\n</tool_response>");
        if (i + 1 == msgs_.size() || !is_role(i + 1, "tool")) out_.append(kImEnd).append("\n");
      }
    }
    if (opts_.add_generation_prompt) out_.append(kImStart).append("assistant\n");
    return true;
  }

  // meta-llama/Llama-2-7b-chat-hf:
  //   {% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}
  //   {% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}
  //   {% set system_message = false %}{% endif %}{% for message in loop_messages %}
  //   {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{
  //   raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%
  //   endif %}
  //   {% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' +
  //   system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content =
  //   message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' +
  //   content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  +
  //   content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}
  // add_generation_prompt changes nothing: the prompt always ends after [/INST]. Non-user turns
  // other than assistant (tool, later system) pass the alternation check and print nothing.
  bool llama2() {
    const bool has_system = is_role(0, "system");
    const std::size_t first = has_system ? 1 : 0;
    for (std::size_t i = first; i < msgs_.size(); ++i) {
      const std::size_t index0 = i - first;
      if (is_role(i, "user") != (index0 % 2 == 0)) {
        return fail("Conversation roles must alternate user/assistant/user/assistant/...");
      }
      std::string content;
      if (index0 == 0 && has_system) {
        content.append("<<SYS>>\n").append(msgs_[0].content).append("\n<</SYS>>\n\n");
      }
      content += msgs_[i].content;
      if (is_role(i, "user")) {
        out_.append(opts_.bos_token).append("[INST] ").append(py_strip(content)).append(" [/INST]");
      } else if (is_role(i, "assistant")) {
        out_.append(" ").append(py_strip(content)).append(" ").append(opts_.eos_token);
      }
    }
    return true;
  }

  // meta-llama/Llama-3.1-8B-Instruct (file in shared/data), without tools: the system turn is
  // always there, with the preamble, and carries the trimmed first system message if any:
  //   {{- "Cutting Knowledge Date: December 2023\n" }}
  //   {{- "Today Date: " + date_string + "\n\n" }} ... {{- system_message }}{{- "<|eot_id|>" }}
  // Tool results go in an ipython turn. `message.content is mapping or message.content is
  // iterable` holds for a string, so the content is printed through tojson (a quoted JSON string).
  bool llama3() {
    out_ += opts_.bos_token;
    std::size_t first = 0;
    std::string_view system_message;
    if (is_role(0, "system")) {
      system_message = py_strip(msgs_[0].content);
      first = 1;
    }
    out_.append("<|start_header_id|>system<|end_header_id|>\n\n");
    out_.append("Cutting Knowledge Date: December 2023\n");
    out_.append("Today Date: ")
        .append(opts_.date_string.empty() ? kLlama3DefaultDate : opts_.date_string)
        .append("\n\n");
    out_.append(system_message).append("<|eot_id|>");
    for (std::size_t i = first; i < msgs_.size(); ++i) {
      const ChatMessage& m = msgs_[i];
      if (m.role == "tool") {
        out_.append("<|start_header_id|>ipython<|end_header_id|>\n\n");
        append_json_string(out_, m.content);
        out_.append("<|eot_id|>");
      } else {
        llama3_turn(m.role, py_strip(m.content));
      }
    }
    if (opts_.add_generation_prompt)
      out_.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
    return true;
  }

  void llama3_turn(std::string_view role, std::string_view content) {
    out_.append("<|start_header_id|>").append(role).append("<|end_header_id|>\n\n");
    out_.append(content).append("<|eot_id|>");
  }

  // meta-llama/Meta-Llama-3-8B-Instruct:
  //   {% set loop_messages = messages %}{% for message in loop_messages %}{% set content =
  //   '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim
  //   + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}
  //   {{ content }}{% endfor %}{% if add_generation_prompt %}
  //   {{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}
  bool llama3_0() {
    out_ += opts_.bos_token;
    for (const ChatMessage& m : msgs_) llama3_turn(m.role, py_strip(m.content));
    if (opts_.add_generation_prompt)
      out_.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
    return true;
  }

  // mistralai/Mistral-Nemo-Instruct-2407 (file in shared/data), without tools. The system message
  // goes into the *last* message only, and only when that message is a user turn:
  //   {%- if loop.last and system_message is defined %}
  //       {{- "[INST]" + system_message + "\n\n" + message["content"] + "[/INST]" }}
  // so a conversation ending with an assistant turn renders without it. There is no generation
  // prompt: add_generation_prompt changes nothing.
  bool mistral() {
    const bool has_system = is_role(0, "system");
    const std::size_t first = has_system ? 1 : 0;
    // Alternation is checked over the whole conversation before anything is printed; tool
    // messages are skipped by the check.
    std::size_t index = 0;
    for (std::size_t i = first; i < msgs_.size(); ++i) {
      if (is_role(i, "tool")) continue;
      if (is_role(i, "user") != (index % 2 == 0)) {
        return fail(
            "After the optional system message, conversation roles must alternate "
            "user/assistant/user/assistant/...");
      }
      ++index;
    }
    out_ += opts_.bos_token;
    for (std::size_t i = first; i < msgs_.size(); ++i) {
      const ChatMessage& m = msgs_[i];
      if (m.role == "user") {
        out_.append("[INST]");
        if (i + 1 == msgs_.size() && has_system) out_.append(msgs_[0].content).append("\n\n");
        out_.append(m.content).append("[/INST]");
      } else if (m.role == "assistant") {
        out_.append(m.content).append(opts_.eos_token);
      } else if (m.role == "tool") {
        // The template requires message.tool_call_id, which a ChatMessage does not carry.
        return fail(
            "tool results need a tool_call_id (Tool call IDs should be alphanumeric strings with "
            "length 9!)");
      } else {
        return fail(
            "Only user and assistant roles are supported, with the exception of an initial "
            "optional system message!");
      }
    }
    return true;
  }

  // google/gemma-2-2b-it (file in shared/data):
  //   {{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not
  //   supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') !=
  //   (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate
  //   user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}
  //   {% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}
  //   {{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}
  //   {% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}
  // With system_in_first_user, google/gemma-3-*-it instead: a leading system message is dropped
  // from the loop and `first_user_prefix = messages[0]['content'] + '\n\n'` (untrimmed) starts the
  // first turn. Both print any other role under its own name (e.g. "tool") at odd positions.
  bool gemma() {
    const bool has_system = is_role(0, "system");
    if (has_system && !opts_.system_in_first_user) {
      return fail("System role not supported (Gemma 2's template has no system turn)");
    }
    const std::size_t first = has_system ? 1 : 0;
    for (std::size_t i = first; i < msgs_.size(); ++i) {
      if (is_role(i, "user") != ((i - first) % 2 == 0)) {
        return fail("Conversation roles must alternate user/assistant/user/assistant/...");
      }
    }
    out_ += opts_.bos_token;
    for (std::size_t i = first; i < msgs_.size(); ++i) {
      const ChatMessage& m = msgs_[i];
      out_.append("<start_of_turn>").append(m.role == "assistant" ? "model" : m.role).append("\n");
      if (has_system && i == first) out_.append(msgs_[0].content).append("\n\n");
      out_.append(py_strip(m.content)).append("<end_of_turn>\n");
    }
    if (opts_.add_generation_prompt) out_.append("<start_of_turn>model\n");
    return true;
  }

  // microsoft/Phi-3.5-mini-instruct (also Phi-3-medium; Phi-3-mini's differs only in printing an
  // empty system message):
  //   {% for message in messages %}{% if message['role'] == 'system' and message['content'] %}
  //   {{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}
  //   {{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}
  //   {{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}
  //   {% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}
  // The template has no tool turn: tool messages print nothing.
  bool phi3() {
    for (const ChatMessage& m : msgs_) {
      if ((m.role == "system" && !m.content.empty()) || m.role == "user" || m.role == "assistant") {
        out_.append("<|").append(m.role).append("|>\n").append(m.content).append("<|end|>\n");
      }
    }
    if (opts_.add_generation_prompt) {
      out_.append("<|assistant|>\n");
    } else {
      out_.append(opts_.eos_token);
    }
    return true;
  }

  // HuggingFaceTB/SmolLM3-3B (file in shared/data). The system turn is always a metadata block;
  // the first message, when it is a system message, supplies the custom instructions and may switch
  // the reasoning mode. System messages are otherwise skipped; tool results become user turns; in
  // /no_think mode assistant turns and the generation prompt carry an empty think block.
  bool smollm3() {
    bool think = opts_.enable_thinking;
    std::string custom_instructions;
    if (is_role(0, "system")) {
      const std::string& system_message = msgs_[0].content;
      if (contains(system_message, "/no_think")) {
        think = false;
      } else if (contains(system_message, "/think")) {
        think = true;
      }
      custom_instructions = system_message;
      replace_all(custom_instructions, "/no_think", "");
      replace_all(custom_instructions, "/think", "");
      custom_instructions.resize(py_rstrip(custom_instructions).size());
    }
    out_.append(kImStart).append("system\n");
    out_.append("## Metadata\n\n");
    out_.append("Knowledge Cutoff Date: June 2025\n");
    out_.append("Reasoning Mode: ").append(think ? "/think" : "/no_think").append("\n\n");
    out_.append("## Custom Instructions\n\n");
    if (!custom_instructions.empty()) {
      out_.append(custom_instructions).append("\n\n");
    } else {
      out_.append(think ? kSmolThinkInstructions : kSmolNoThinkInstructions);
    }
    out_.append(kImEnd).append("\n");
    constexpr std::string_view kEmptyThink = "<think>\n\n</think>\n";
    for (const ChatMessage& m : msgs_) {
      if (m.role == "user" || m.role == "tool") {
        turn("user", m.content);
      } else if (m.role == "assistant") {
        out_.append(kImStart).append("assistant\n");
        if (!think) out_.append(kEmptyThink);
        out_.append(lstrip_newlines(m.content)).append(kImEnd).append("\n");
      }
    }
    if (opts_.add_generation_prompt) {
      out_.append(kImStart).append("assistant\n");
      if (!think) out_.append(kEmptyThink);
    }
    return true;
  }

  Family family_;
  const std::vector<ChatMessage>& msgs_;
  const RenderOptions& opts_;
  std::string& out_;
  std::string* error_;
};

// The literal system prompt a ChatML template prints when the conversation has none, as in
// `{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}`: the first
// <|im_start|>system turn whose text up to <|im_end|> is a plain string literal (no quote, brace or
// concatenation), with its \n escapes resolved. Empty when there is none.
std::string chatml_default_system(std::string_view text) {
  constexpr std::string_view kSystem = "<|im_start|>system";
  for (std::size_t pos = text.find(kSystem); pos != std::string_view::npos;
       pos = text.find(kSystem, pos + 1)) {
    std::string_view rest = text.substr(pos + kSystem.size());
    if (rest.starts_with("\\n")) {
      rest.remove_prefix(2);
    } else if (rest.starts_with("\n")) {
      rest.remove_prefix(1);
    } else {
      continue;
    }
    const std::size_t end = rest.find(kImEnd);
    if (end == std::string_view::npos) break;
    const std::string_view literal = rest.substr(0, end);
    if (literal.empty() || literal.find_first_of("'\"{}+") != std::string_view::npos) continue;
    std::string result;
    bool ok = true;
    for (std::size_t i = 0; i < literal.size() && ok; ++i) {
      if (literal[i] != '\\') {
        result += literal[i];
        continue;
      }
      const char next = i + 1 < literal.size() ? literal[++i] : '\0';
      if (next == 'n') {
        result += '\n';
      } else if (next == 't') {
        result += '\t';
      } else if (next == '\\') {
        result += '\\';
      } else {
        ok = false;  // an escape this scan does not know: better no default than a wrong one
      }
    }
    if (ok) return result;
  }
  return {};
}

}  // namespace

Family detect(std::string_view t) {
  if (contains(t, kImStart)) {
    // Phi-4 writes <|im_start|>role<|im_sep|>: not ChatML.
    if (contains(t, "<|im_sep|>")) return Family::unknown;
    if (contains(t, "Reasoning Mode") || (contains(t, "/no_think") && contains(t, "SmolLM"))) {
      return Family::smollm3;
    }
    if (contains(t, "You are Qwen, created by Alibaba Cloud") && contains(t, "<tool_response>")) {
      return Family::qwen2_5;
    }
    return Family::chatml;
  }
  if (contains(t, "<|start_header_id|>") && contains(t, "<|eot_id|>")) {
    return contains(t, "Cutting Knowledge Date") ? Family::llama3 : Family::llama3_0;
  }
  if (contains(t, "<start_of_turn>") && contains(t, "<end_of_turn>")) return Family::gemma;
  if (contains(t, "<|end|>") && (contains(t, "<|user|>") || contains(t, "<|assistant|>"))) {
    return Family::phi3;
  }
  if (contains(t, "[INST]")) return contains(t, "<<SYS>>") ? Family::llama2 : Family::mistral;
  return Family::unknown;
}

std::optional<Family> family_from_name(std::string_view name) {
  for (const FamilyName& f : kFamilyNames) {
    if (iequals(name, f.name)) return f.family;
  }
  return std::nullopt;
}

std::string_view family_name(Family f) {
  for (const FamilyName& n : kFamilyNames) {
    if (n.family == f) return n.name;
  }
  return "unknown";
}

std::string_view known_family_names() {
  return "chatml, qwen2.5, llama2, llama3.0, llama3, mistral, gemma, phi3, smollm3";
}

RenderOptions render_defaults(std::string_view template_text) {
  RenderOptions opts;
  const Family f = detect(template_text);
  if (f == Family::chatml) opts.default_system = chatml_default_system(template_text);
  // Llama 3.2: {%- if strftime_now is defined %}{%- set date_string = strftime_now("%d %b %Y") %}
  if (f == Family::llama3 && contains(template_text, "strftime_now")) {
    opts.date_string = today_date_string();
  }
  if (f == Family::gemma && contains(template_text, "first_user_prefix")) {
    opts.system_in_first_user = true;
  }
  return opts;
}

std::string today_date_string() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%d %b %Y", &tm);
  return std::string(buf, n);
}

bool render(Family f, const std::vector<ChatMessage>& messages, const RenderOptions& opts,
            std::string* out, std::string* error) {
  std::string result;
  Renderer renderer(f, messages, opts, &result, error);
  if (f == Family::unknown) {
    if (error != nullptr) {
      *error =
          "the model's chat template was not recognised: set chat_template: in the model's YAML "
          "to one of ";
      *error += known_family_names();
    }
    return false;
  }
  // Every template here indexes messages[0], which Jinja cannot do on an empty list.
  if (messages.empty()) return renderer.fail("no messages");
  std::size_t input_bytes = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
      return renderer.fail("unknown role \"" + printable(role) + "\" in message " +
                           std::to_string(i) + " (expected system, user, assistant or tool)");
    }
    input_bytes += messages[i].content.size();
  }
  const auto too_long = [&] {
    return renderer.fail("the prompt is longer than " + std::to_string(opts.max_bytes) + " bytes");
  };
  if (input_bytes > opts.max_bytes) return too_long();
  result.reserve(input_bytes + messages.size() * 32 + 2048);
  if (!renderer.run()) return false;
  if (result.size() > opts.max_bytes) return too_long();
  if (out != nullptr) *out = std::move(result);
  return true;
}

std::vector<std::string> stop_strings(Family f) {
  switch (f) {
    case Family::chatml:
    case Family::qwen2_5:
    case Family::smollm3:
      return {"<|im_end|>"};
    case Family::llama3:
      return {"<|eot_id|>", "<|eom_id|>"};
    case Family::llama3_0:
      return {"<|eot_id|>"};
    case Family::llama2:
    case Family::mistral:
      return {"</s>"};
    case Family::gemma:
      return {"<end_of_turn>"};
    case Family::phi3:
      return {"<|end|>", "<|endoftext|>"};
    case Family::unknown:
      break;
  }
  return {};
}

}  // namespace infergate::engine::chat
