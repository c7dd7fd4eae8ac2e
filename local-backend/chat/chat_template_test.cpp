#include "chat/chat_template.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
// GCC 12 with -fsanitize=address reports std::function members inside <regex> as maybe
// uninitialised (a false positive in the library's own code, reported where it is instantiated).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>

namespace infergate::engine::chat {
namespace {

using Messages = std::vector<ChatMessage>;

// The conversations every family is rendered with.
const Messages kSystemUser = {{"system", "You are terse."}, {"user", "Hello"}};
const Messages kUserOnly = {{"user", "Hello"}};
const Messages kMultiTurn = {{"system", "You are terse."},
                             {"user", "Hi"},
                             {"assistant", "Hello!"},
                             {"user", "How are you?"}};
// kMultiTurn answered: rendered with add_generation_prompt = false (e.g. to count its tokens).
const Messages kFinished = {{"system", "You are terse."},
                            {"user", "Hi"},
                            {"assistant", "Hello!"},
                            {"user", "How are you?"},
                            {"assistant", "Fine."}};
const Messages kToolResult = {
    {"user", "Weather in Paris?"}, {"assistant", "Checking."}, {"tool", "{\"temp\": 22}"}};

RenderOptions with_tokens(std::string bos, std::string eos) {
  RenderOptions opts;
  opts.bos_token = std::move(bos);
  opts.eos_token = std::move(eos);
  return opts;
}

RenderOptions no_generation_prompt(RenderOptions opts) {
  opts.add_generation_prompt = false;
  return opts;
}

std::string render_ok(Family f, const Messages& messages, const RenderOptions& opts = {}) {
  std::string out;
  std::string error;
  EXPECT_TRUE(render(f, messages, opts, &out, &error)) << error;
  return out;
}

std::string render_error(Family f, const Messages& messages, const RenderOptions& opts = {}) {
  std::string out = "unchanged";
  std::string error;
  EXPECT_FALSE(render(f, messages, opts, &out, &error)) << out;
  EXPECT_EQ(out, "unchanged");
  EXPECT_FALSE(error.empty());
  return error;
}

std::optional<std::string> read_template(const std::string& file) {
  const std::filesystem::path path =
      std::filesystem::path(INFERGATE_SHARED_DATA) / "chat-templates" / file;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

#define READ_TEMPLATE_OR_SKIP(var, file)                      \
  const std::optional<std::string> var = read_template(file); \
  if (!var) GTEST_SKIP() << "shared test data absent (" INFERGATE_SHARED_DATA "): " << file

// ---------------------------------------------------------------------------------------------
// Detection from the real templates in shared/data.

TEST(ChatTemplateDetect, Qwen25File) {
  READ_TEMPLATE_OR_SKIP(text, "Qwen-Qwen2.5-7B-Instruct.jinja");
  EXPECT_EQ(detect(*text), Family::qwen2_5);
}

TEST(ChatTemplateDetect, Llama31File) {
  READ_TEMPLATE_OR_SKIP(text, "meta-llama-Llama-3.1-8B-Instruct.jinja");
  EXPECT_EQ(detect(*text), Family::llama3);
  // 3.1 fixes its date in the template; only strftime_now templates (3.2) get today's.
  EXPECT_EQ(render_defaults(*text).date_string, "");
}

TEST(ChatTemplateDetect, MistralNemoFile) {
  READ_TEMPLATE_OR_SKIP(text, "mistralai-Mistral-Nemo-Instruct-2407.jinja");
  EXPECT_EQ(detect(*text), Family::mistral);
}

TEST(ChatTemplateDetect, Gemma2File) {
  READ_TEMPLATE_OR_SKIP(text, "google-gemma-2-2b-it.jinja");
  EXPECT_EQ(detect(*text), Family::gemma);
  EXPECT_FALSE(render_defaults(*text).system_in_first_user);  // Gemma 2 raises instead
}

TEST(ChatTemplateDetect, SmolLM3File) {
  READ_TEMPLATE_OR_SKIP(text, "HuggingFaceTB-SmolLM3-3B.jinja");
  EXPECT_EQ(detect(*text), Family::smollm3);
  EXPECT_EQ(render_defaults(*text).default_system, "");
}

// ---------------------------------------------------------------------------------------------
// Detection from short snippets of well-known templates, so it is tested without the data.

TEST(ChatTemplateDetect, Snippets) {
  // teknium/OpenHermes-2.5-Mistral-7B
  EXPECT_EQ(detect("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                   "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"),
            Family::chatml);
  EXPECT_EQ(detect("{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a "
                   "helpful assistant.<|im_end|>\\n' }} {{- '\\n<tool_response>\\n' }}"),
            Family::qwen2_5);
  EXPECT_EQ(detect("{{- \"<|im_start|>system\\n\" -}}{{- \"## Metadata\\n\\n\" -}}"
                   "{{- \"Reasoning Mode: \" + reasoning_mode + \"\\n\\n\" -}}"),
            Family::smollm3);
  // Llama 3.0 has no preamble; 3.1 and later have "Cutting Knowledge Date".
  EXPECT_EQ(detect("{% set content = '<|start_header_id|>' + message['role'] + "
                   "'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"),
            Family::llama3_0);
  EXPECT_EQ(detect("{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}"
                   "{{- \"Cutting Knowledge Date: December 2023\\n\" }}{{- \"<|eot_id|>\" }}"),
            Family::llama3);
  EXPECT_EQ(detect("{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
                   "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' %}"),
            Family::llama2);
  EXPECT_EQ(detect("{{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}"), Family::mistral);
  EXPECT_EQ(detect("{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + "
                   "'<end_of_turn>\n' }}"),
            Family::gemma);
  EXPECT_EQ(detect("{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"), Family::phi3);
  // Phi-4 uses <|im_start|> with <|im_sep|>: not ChatML, and not a family rendered here.
  EXPECT_EQ(detect("{{'<|im_start|>' + message['role'] + '<|im_sep|>'}}"), Family::unknown);
  // Zephyr has <|user|> but ends turns with eos_token, not <|end|>.
  EXPECT_EQ(detect("{{ '<|user|>\\n' + message['content'] + eos_token }}"), Family::unknown);
  EXPECT_EQ(detect(""), Family::unknown);
  EXPECT_EQ(detect("{{ 'Human: ' + message['content'] + '\\n\\nAssistant: ' }}"), Family::unknown);
}

TEST(ChatTemplateDetect, Names) {
  for (Family f : {Family::chatml, Family::qwen2_5, Family::llama2, Family::llama3_0,
                   Family::llama3, Family::mistral, Family::gemma, Family::phi3, Family::smollm3}) {
    EXPECT_EQ(family_from_name(family_name(f)), f) << family_name(f);
    EXPECT_NE(known_family_names().find(family_name(f)), std::string_view::npos);
  }
  EXPECT_EQ(family_from_name("ChatML"), Family::chatml);
  EXPECT_EQ(family_from_name("LLAMA3"), Family::llama3);
  EXPECT_EQ(family_name(Family::unknown), "unknown");
  EXPECT_EQ(family_from_name("unknown"), std::nullopt);
  EXPECT_EQ(family_from_name(""), std::nullopt);
  EXPECT_EQ(family_from_name("llama"), std::nullopt);
}

TEST(ChatTemplateDetect, RenderDefaults) {
  // HuggingFaceTB/SmolLM2-1.7B-Instruct: the JSON "\n" is a real newline in the template text.
  const RenderOptions smol = render_defaults(
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
      "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
      "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
      "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}");
  EXPECT_EQ(smol.default_system,
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  // Qwen/Qwen2-7B-Instruct, with the escape written as backslash-n.
  EXPECT_EQ(render_defaults("{% if loop.first and messages[0]['role'] != 'system' %}{{ "
                            "'<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
                            "{% endif %}{{'<|im_start|>' + message['role'] + '\\n'}}")
                .default_system,
            "You are a helpful assistant.");
  // A system turn built from the message is not a default.
  EXPECT_EQ(render_defaults("{{ '<|im_start|>system\\n' + messages[0]['content'] + "
                            "'<|im_end|>\\n' }}")
                .default_system,
            "");
  // google/gemma-3-*-it folds the system message into the first user turn.
  EXPECT_TRUE(render_defaults("{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
                              "{{ '<start_of_turn>' + role }}{{ '<end_of_turn>\\n' }}")
                  .system_in_first_user);
  // Llama 3.2 takes today's date from strftime_now.
  const RenderOptions llama32 = render_defaults(
      "{%- set date_string = strftime_now(\"%d %b %Y\") %}{{- \"<|start_header_id|>system"
      "<|end_header_id|>\\n\\n\" }}{{- \"Cutting Knowledge Date: December 2023\\n\" }}<|eot_id|>");
  EXPECT_EQ(llama32.date_string, today_date_string());
  EXPECT_TRUE(std::regex_match(today_date_string(), std::regex("[0-9]{2} [A-Z][a-z]{2} [0-9]{4}")))
      << today_date_string();
}

// ---------------------------------------------------------------------------------------------
// chatml: '<|im_start|>' + role + '\n' + content + '<|im_end|>' + '\n' for every message, content
// untouched; the generation prompt is '<|im_start|>assistant\n'.

TEST(ChatTemplateRender, ChatmlSystemUser) {
  EXPECT_EQ(render_ok(Family::chatml, kSystemUser),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateRender, ChatmlUserOnly) {
  EXPECT_EQ(render_ok(Family::chatml, kUserOnly),
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  // SmolLM2/Qwen2: `if loop.first and messages[0]['role'] != 'system'` prints the default first.
  RenderOptions opts;
  opts.default_system = "You are a helpful assistant.";
  EXPECT_EQ(render_ok(Family::chatml, kUserOnly, opts),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  // ...and only then.
  EXPECT_EQ(render_ok(Family::chatml, kSystemUser, opts), render_ok(Family::chatml, kSystemUser));
}

TEST(ChatTemplateRender, ChatmlMultiTurn) {
  EXPECT_EQ(render_ok(Family::chatml, kMultiTurn),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\nHow are you?<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateRender, ChatmlToolResult) {
  // The role is printed as given.
  EXPECT_EQ(render_ok(Family::chatml, kToolResult),
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
            "<|im_start|>assistant\nChecking.<|im_end|>\n"
            "<|im_start|>tool\n{\"temp\": 22}<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateRender, ChatmlNoGenerationPrompt) {
  // Content is not trimmed.
  EXPECT_EQ(render_ok(Family::chatml, {{"user", " Hi \n"}, {"assistant", "  Hello! "}},
                      no_generation_prompt({})),
            "<|im_start|>user\n Hi \n<|im_end|>\n<|im_start|>assistant\n  Hello! <|im_end|>\n");
}

// ---------------------------------------------------------------------------------------------
// qwen2.5 (Qwen-Qwen2.5-7B-Instruct.jinja, no tools): `if messages[0]['role'] == 'system'` prints
// it, else the default 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.';
// user, later system and assistant messages are ChatML turns; tool messages become
// '<|im_start|>user' + '\n<tool_response>\n' + content + '\n</tool_response>' ... '<|im_end|>\n'.

TEST(ChatTemplateRender, Qwen25SystemUser) {
  EXPECT_EQ(render_ok(Family::qwen2_5, kSystemUser),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateRender, Qwen25UserOnlyGetsDefaultSystem) {
  EXPECT_EQ(render_ok(Family::qwen2_5, kUserOnly),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
            "assistant.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateRender, Qwen25MultiTurnWithLaterSystem) {
  // `(message.role == "system" and not loop.first)` keeps a later system message in place.
  Messages messages = kMultiTurn;
  messages.insert(messages.begin() + 3, {"system", "Be kind."});
  EXPECT_EQ(render_ok(Family::qwen2_5, messages),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>system\nBe kind.<|im_end|>\n"
            "<|im_start|>user\nHow are you?<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateRender, Qwen25ToolResults) {
  // One user turn per run of tool messages: opened when the previous message is not a tool,
  // closed when the next is not.
  Messages messages = kToolResult;
  messages.push_back({"tool", "{\"temp\": 25}"});
  EXPECT_EQ(render_ok(Family::qwen2_5, messages),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
            "assistant.<|im_end|>\n"
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
            "<|im_start|>assistant\nChecking.<|im_end|>\n"
            "<|im_start|>user\n<tool_response>\n{\"temp\": 22}\n</tool_response>\n"
            "<tool_response>\n{\"temp\": 25}\n</tool_response><|im_end|>\n"
            "<|im_start|>assistant\n");
  // A tool message first (loop.index0 == 0) still opens the turn.
  EXPECT_EQ(render_ok(Family::qwen2_5, {{"tool", "x"}, {"user", "y"}}, no_generation_prompt({})),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
            "assistant.<|im_end|>\n"
            "<|im_start|>user\n<tool_response>\nx\n</tool_response><|im_end|>\n"
            "<|im_start|>user\ny<|im_end|>\n");
}

TEST(ChatTemplateRender, Qwen25NoGenerationPrompt) {
  EXPECT_EQ(render_ok(Family::qwen2_5, kFinished, no_generation_prompt({})),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\nHow are you?<|im_end|>\n"
            "<|im_start|>assistant\nFine.<|im_end|>\n");
}

// ---------------------------------------------------------------------------------------------
// llama3 (meta-llama-Llama-3.1-8B-Instruct.jinja, no tools): bos_token, then always a system turn
// "Cutting Knowledge Date: December 2023\nToday Date: " + date_string + "\n\n" + the trimmed first
// system message (or nothing) + "<|eot_id|>"; other messages as
// '<|start_header_id|>' + role + '<|end_header_id|>\n\n' + content | trim + '<|eot_id|>'.

const RenderOptions kLlama3 = [] {
  RenderOptions opts = with_tokens("<|begin_of_text|>", "<|eot_id|>");
  opts.date_string = "05 Mar 2025";
  return opts;
}();

TEST(ChatTemplateRender, Llama3SystemUser) {
  EXPECT_EQ(render_ok(Family::llama3, kSystemUser, kLlama3),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 05 Mar 2025\n\n"
            "You are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateRender, Llama3UserOnly) {
  // No system message: the preamble stays, with an empty system_message. No date given: the
  // template's own default.
  EXPECT_EQ(render_ok(Family::llama3, kUserOnly, with_tokens("<|begin_of_text|>", "")),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateRender, Llama3MultiTurnTrims) {
  const Messages messages = {{"system", "  You are terse.\n"},
                             {"user", "Hi "},
                             {"assistant", "\tHello!\n"},
                             {"user", "How are you?"}};
  EXPECT_EQ(render_ok(Family::llama3, messages, kLlama3),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 05 Mar 2025\n\n"
            "You are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateRender, Llama3ToolResultIsJson) {
  // A string `is iterable`, so the template prints the tool result through tojson: quoted, with
  // '"', '\\' and control characters escaped and non-ASCII left as it is; not trimmed.
  const Messages messages = {{"user", "Weather in Paris?"},
                             {"assistant", "Checking."},
                             {"tool", "{\"temp\": 22, \"sky\": \"clair\\u00e9 ☀\"}\n\x01"}};
  EXPECT_EQ(render_ok(Family::llama3, messages, no_generation_prompt(kLlama3)),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 05 Mar 2025\n\n<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nChecking.<|eot_id|>"
            "<|start_header_id|>ipython<|end_header_id|>\n\n"
            "\"{\\\"temp\\\": 22, \\\"sky\\\": \\\"clair\\\\u00e9 ☀\\\"}\\n\\u0001\"<|eot_id|>");
}

TEST(ChatTemplateRender, Llama3NoGenerationPrompt) {
  EXPECT_EQ(render_ok(Family::llama3, kFinished, no_generation_prompt(kLlama3)),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 05 Mar 2025\n\n"
            "You are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nFine.<|eot_id|>");
}

TEST(ChatTemplateRender, Llama3LaterSystemMessageKeepsItsPlace) {
  EXPECT_EQ(render_ok(Family::llama3, {{"user", "Hi"}, {"system", "Be kind."}},
                      no_generation_prompt(kLlama3)),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 05 Mar 2025\n\n<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>");
}

// llama3.0 (Meta-Llama-3-8B-Instruct): every message as a header turn, bos_token before the first.

TEST(ChatTemplateRender, Llama30) {
  const RenderOptions opts = with_tokens("<|begin_of_text|>", "<|eot_id|>");
  EXPECT_EQ(
      render_ok(Family::llama3_0, kSystemUser, opts),
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(render_ok(Family::llama3_0, {{"user", " Hello\n"}, {"assistant", "Hi"}, {"tool", "22"}},
                      no_generation_prompt(opts)),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>tool<|end_header_id|>\n\n22<|eot_id|>");
}

// ---------------------------------------------------------------------------------------------
// mistral (mistralai-Mistral-Nemo-Instruct-2407.jinja, no tools): bos_token; user turns
// "[INST]" + content + "[/INST]" with no spaces; assistant turns content + eos_token; the system
// message goes before the content of the *last* message when that is a user turn
// (`loop.last and system_message is defined`), separated by "\n\n"; no generation prompt.

const RenderOptions kMistral = with_tokens("<s>", "</s>");

TEST(ChatTemplateRender, MistralSystemUser) {
  EXPECT_EQ(render_ok(Family::mistral, kSystemUser, kMistral),
            "<s>[INST]You are terse.\n\nHello[/INST]");
}

TEST(ChatTemplateRender, MistralUserOnly) {
  EXPECT_EQ(render_ok(Family::mistral, kUserOnly, kMistral), "<s>[INST]Hello[/INST]");
}

TEST(ChatTemplateRender, MistralMultiTurnSystemInLastUserTurn) {
  EXPECT_EQ(render_ok(Family::mistral, kMultiTurn, kMistral),
            "<s>[INST]Hi[/INST]Hello!</s>[INST]You are terse.\n\nHow are you?[/INST]");
}

TEST(ChatTemplateRender, MistralNoGenerationPrompt) {
  // The template has no generation prompt, so the flag changes nothing...
  EXPECT_EQ(render_ok(Family::mistral, kMultiTurn, no_generation_prompt(kMistral)),
            render_ok(Family::mistral, kMultiTurn, kMistral));
  // ...and when the last message is the assistant's, the system message is not printed at all.
  EXPECT_EQ(render_ok(Family::mistral, kFinished, no_generation_prompt(kMistral)),
            "<s>[INST]Hi[/INST]Hello!</s>[INST]How are you?[/INST]Fine.</s>");
}

TEST(ChatTemplateRender, MistralErrors) {
  // The alternation check (tool messages skipped), then the role check, as the template raises.
  EXPECT_NE(render_error(Family::mistral, {{"user", "a"}, {"user", "b"}}, kMistral)
                .find("conversation roles must alternate"),
            std::string::npos);
  EXPECT_NE(render_error(Family::mistral, {{"assistant", "a"}}, kMistral).find("must alternate"),
            std::string::npos);
  EXPECT_NE(render_error(Family::mistral, {{"user", "a"}, {"system", "b"}, {"user", "c"}}, kMistral)
                .find("Only user and assistant roles are supported"),
            std::string::npos);
  // Tool results need a tool_call_id, which ChatMessage does not carry.
  EXPECT_NE(render_error(Family::mistral, kToolResult, kMistral).find("tool_call_id"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// gemma (google-gemma-2-2b-it.jinja): bos_token; a leading system message raises 'System role not
// supported'; roles must alternate starting with user; '<start_of_turn>' + role ('model' for
// assistant) + '\n' + content | trim + '<end_of_turn>\n'; generation prompt
// '<start_of_turn>model\n'.

const RenderOptions kGemma = with_tokens("<bos>", "<eos>");

TEST(ChatTemplateRender, GemmaSystemUser) {
  EXPECT_NE(render_error(Family::gemma, kSystemUser, kGemma).find("System role not supported"),
            std::string::npos);
  // Gemma 3's template: the untrimmed system message + '\n\n' starts the first user turn.
  RenderOptions gemma3 = kGemma;
  gemma3.system_in_first_user = true;
  EXPECT_EQ(render_ok(Family::gemma, {{"system", "You are terse. "}, {"user", " Hello"}}, gemma3),
            "<bos><start_of_turn>user\nYou are terse. \n\nHello<end_of_turn>\n"
            "<start_of_turn>model\n");
}

TEST(ChatTemplateRender, GemmaUserOnly) {
  EXPECT_EQ(render_ok(Family::gemma, kUserOnly, kGemma),
            "<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplateRender, GemmaMultiTurnTrims) {
  const Messages messages = {
      {"user", "Hi"}, {"assistant", " Hello!\n"}, {"user", "How are you?\u3000"}};
  EXPECT_EQ(render_ok(Family::gemma, messages, kGemma),
            "<bos><start_of_turn>user\nHi<end_of_turn>\n"
            "<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\nHow are you?<end_of_turn>\n"
            "<start_of_turn>model\n");
}

TEST(ChatTemplateRender, GemmaToolAndNoGenerationPrompt) {
  // No tool support: a non-user message in an assistant position passes the alternation check and
  // is printed under its own role name.
  EXPECT_EQ(render_ok(Family::gemma, {{"user", "Weather?"}, {"tool", "22C"}},
                      no_generation_prompt(kGemma)),
            "<bos><start_of_turn>user\nWeather?<end_of_turn>\n"
            "<start_of_turn>tool\n22C<end_of_turn>\n");
}

TEST(ChatTemplateRender, GemmaAlternation) {
  EXPECT_NE(render_error(Family::gemma, {{"user", "a"}, {"user", "b"}}, kGemma)
                .find("Conversation roles must alternate user/assistant/user/assistant/..."),
            std::string::npos);
  EXPECT_NE(render_error(Family::gemma, {{"assistant", "a"}}, kGemma).find("must alternate"),
            std::string::npos);
  EXPECT_NE(render_error(Family::gemma, {{"tool", "a"}}, kGemma).find("must alternate"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// phi3 (Phi-3.5-mini-instruct): '<|' + role + '|>\n' + content + '<|end|>\n' for non-empty system,
// user and assistant messages; generation prompt '<|assistant|>\n', else eos_token.

const RenderOptions kPhi3 = with_tokens("<s>", "<|endoftext|>");

TEST(ChatTemplateRender, Phi3SystemUser) {
  EXPECT_EQ(render_ok(Family::phi3, kSystemUser, kPhi3),
            "<|system|>\nYou are terse.<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplateRender, Phi3UserOnly) {
  EXPECT_EQ(render_ok(Family::phi3, kUserOnly, kPhi3), "<|user|>\nHello<|end|>\n<|assistant|>\n");
  // `message['role'] == 'system' and message['content']`: an empty system message is skipped.
  EXPECT_EQ(render_ok(Family::phi3, {{"system", ""}, {"user", "Hello"}}, kPhi3),
            "<|user|>\nHello<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplateRender, Phi3MultiTurnAndNoGenerationPrompt) {
  EXPECT_EQ(render_ok(Family::phi3, kMultiTurn, kPhi3),
            "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi<|end|>\n"
            "<|assistant|>\nHello!<|end|>\n<|user|>\nHow are you?<|end|>\n<|assistant|>\n");
  EXPECT_EQ(render_ok(Family::phi3, kFinished, no_generation_prompt(kPhi3)),
            "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi<|end|>\n"
            "<|assistant|>\nHello!<|end|>\n<|user|>\nHow are you?<|end|>\n"
            "<|assistant|>\nFine.<|end|>\n<|endoftext|>");
}

TEST(ChatTemplateRender, Phi3ToolNotPrinted) {
  // The template has no branch for tool messages.
  EXPECT_EQ(render_ok(Family::phi3, kToolResult, kPhi3),
            "<|user|>\nWeather in Paris?<|end|>\n<|assistant|>\nChecking.<|end|>\n<|assistant|>\n");
}

// ---------------------------------------------------------------------------------------------
// llama2 (Llama-2-7b-chat-hf): bos_token + '[INST] ' + content.strip() + ' [/INST]' per user turn,
// ' ' + content.strip() + ' ' + eos_token per assistant turn; the system message wrapped in
// <<SYS>>...<</SYS>> starts the first user turn; roles must alternate; no generation prompt.

const RenderOptions kLlama2 = with_tokens("<s>", "</s>");

TEST(ChatTemplateRender, Llama2SystemUser) {
  EXPECT_EQ(render_ok(Family::llama2, kSystemUser, kLlama2),
            "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHello [/INST]");
}

TEST(ChatTemplateRender, Llama2UserOnly) {
  EXPECT_EQ(render_ok(Family::llama2, {{"user", "  Hello \n"}}, kLlama2),
            "<s>[INST] Hello [/INST]");
}

TEST(ChatTemplateRender, Llama2MultiTurn) {
  EXPECT_EQ(render_ok(Family::llama2, kMultiTurn, kLlama2),
            "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
            "<s>[INST] How are you? [/INST]");
}

TEST(ChatTemplateRender, Llama2NoGenerationPrompt) {
  EXPECT_EQ(render_ok(Family::llama2, kFinished, no_generation_prompt(kLlama2)),
            "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
            "<s>[INST] How are you? [/INST] Fine. </s>");
}

TEST(ChatTemplateRender, Llama2Errors) {
  EXPECT_NE(render_error(Family::llama2, {{"system", "s"}, {"assistant", "a"}}, kLlama2)
                .find("must alternate"),
            std::string::npos);
  EXPECT_NE(
      render_error(Family::llama2, {{"user", "a"}, {"user", "b"}}, kLlama2).find("must alternate"),
      std::string::npos);
  // A tool message in an assistant position passes the check and prints nothing.
  EXPECT_EQ(render_ok(Family::llama2, {{"user", "a"}, {"tool", "b"}}, kLlama2),
            "<s>[INST] a [/INST]");
}

// ---------------------------------------------------------------------------------------------
// smollm3 (HuggingFaceTB-SmolLM3-3B.jinja): a "## Metadata" system block always; the first system
// message, minus "/think" and "/no_think" and rstripped, is the custom instructions, else a default
// per reasoning mode; reasoning mode from enable_thinking unless the system message names one.

TEST(ChatTemplateRender, SmolLM3SystemUser) {
  EXPECT_EQ(render_ok(Family::smollm3, kSystemUser),
            "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
            "Reasoning Mode: /think\n\n## Custom Instructions\n\nYou are terse.\n\n<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateRender, SmolLM3NoThinkInSystemMessage) {
  // "/no_think" wins over enable_thinking and is cut out; rstrip drops the space before it.
  EXPECT_EQ(render_ok(Family::smollm3, {{"system", "You are terse. /no_think"}, {"user", "Hello"}}),
            "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
            "Reasoning Mode: /no_think\n\n## Custom Instructions\n\nYou are terse.\n\n<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n");
  // "/think" alone switches thinking on and leaves no custom instructions: the long default.
  RenderOptions no_think;
  no_think.enable_thinking = false;
  const std::string out =
      render_ok(Family::smollm3, {{"system", "/think "}, {"user", "Hi"}}, no_think);
  EXPECT_NE(out.find("Reasoning Mode: /think\n\n## Custom Instructions\n\nYou are a helpful AI "
                     "assistant named SmolLM, trained by Hugging Face. Your role as an assistant"),
            std::string::npos)
      << out;
}

TEST(ChatTemplateRender, SmolLM3UserOnly) {
  EXPECT_EQ(
      render_ok(Family::smollm3, kUserOnly),
      "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
      "Reasoning Mode: /think\n\n## Custom Instructions\n\n"
      "You are a helpful AI assistant named SmolLM, trained by Hugging Face. Your role as an "
      "assistant involves thoroughly exploring questions through a systematic thinking process "
      "before providing the final precise and accurate solutions. This requires engaging in a "
      "comprehensive cycle of analysis, summarizing, exploration, reassessment, reflection, "
      "backtracking, and iteration to develop well-considered thinking process. Please structure "
      "your response into two main sections: Thought and Solution using the specified format: "
      "<think> Thought section </think> Solution section. In the Thought section, detail your "
      "reasoning process in steps. Each step should include detailed considerations such as "
      "analysing questions, summarizing relevant findings, brainstorming new ideas, verifying the "
      "accuracy of the current steps, refining any errors, and revisiting previous steps. In the "
      "Solution section, based on various attempts, explorations, and reflections from the "
      "Thought section, systematically present the final solution that you deem correct. The "
      "Solution section should be logical, accurate, and concise and detail necessary steps "
      "needed to reach the conclusion.\n\n<|im_end|>\n"
      "<|im_start|>user\nHello<|im_end|>\n"
      "<|im_start|>assistant\n");
  RenderOptions no_think;
  no_think.enable_thinking = false;
  EXPECT_EQ(render_ok(Family::smollm3, kUserOnly, no_think),
            "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
            "Reasoning Mode: /no_think\n\n## Custom Instructions\n\n"
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face.\n\n<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n");
}

TEST(ChatTemplateRender, SmolLM3MultiTurn) {
  // Assistant content loses leading newlines (content.lstrip("\n")); in /no_think mode it gets an
  // empty think block. A later system message is skipped.
  RenderOptions no_think;
  no_think.enable_thinking = false;
  const Messages messages = {{"system", "You are terse."},
                             {"user", "Hi"},
                             {"assistant", "\n\nHello!"},
                             {"system", "ignored"},
                             {"user", "How are you?"}};
  EXPECT_EQ(render_ok(Family::smollm3, messages, no_think),
            "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
            "Reasoning Mode: /no_think\n\n## Custom Instructions\n\nYou are terse.\n\n<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\nHello!<|im_end|>\n"
            "<|im_start|>user\nHow are you?<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n");
}

TEST(ChatTemplateRender, SmolLM3ToolResultAndNoGenerationPrompt) {
  // Tool results are user turns.
  EXPECT_EQ(render_ok(Family::smollm3, {{"system", "S"}, {"user", "Weather?"}, {"tool", "22C"}},
                      no_generation_prompt({})),
            "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
            "Reasoning Mode: /think\n\n## Custom Instructions\n\nS\n\n<|im_end|>\n"
            "<|im_start|>user\nWeather?<|im_end|>\n"
            "<|im_start|>user\n22C<|im_end|>\n");
}

// ---------------------------------------------------------------------------------------------
// Errors and limits common to every family.

TEST(ChatTemplateRender, UnknownFamilyTellsTheAdminWhatToSet) {
  const std::string error = render_error(Family::unknown, kUserOnly);
  EXPECT_NE(error.find("chat_template:"), std::string::npos) << error;
  EXPECT_NE(error.find("chatml"), std::string::npos) << error;
}

TEST(ChatTemplateRender, RejectsBadConversations) {
  for (Family f : {Family::chatml, Family::qwen2_5, Family::llama2, Family::llama3_0,
                   Family::llama3, Family::mistral, Family::gemma, Family::phi3, Family::smollm3}) {
    SCOPED_TRACE(std::string(family_name(f)));
    EXPECT_NE(render_error(f, {}).find("no messages"), std::string::npos);
    const std::string error =
        render_error(f, {{"user", "the secret plan"}, {"robot\n\x01", "secret"}});
    EXPECT_NE(error.find("unknown role \"robot??\" in message 1"), std::string::npos) << error;
    EXPECT_EQ(error.find("secret"), std::string::npos) << error;  // contents never in errors
    EXPECT_NE(render_error(f, {{std::string(1000, 'r'), "x"}}).find("rrr..."), std::string::npos);
    RenderOptions small;
    small.max_bytes = 40;
    EXPECT_NE(render_error(f, {{"user", std::string(41, 'x')}}, small).find("longer than 40"),
              std::string::npos);
    // The rendered text counts too, not just the contents.
    small.max_bytes = 10;
    EXPECT_NE(render_error(f, {{"user", "Hi"}}, small).find("longer than 10"), std::string::npos);
  }
}

TEST(ChatTemplateRender, InvalidUtf8IsNotWhitespace) {
  // Trimming decodes UTF-8; broken sequences are kept, never read past the end.
  EXPECT_EQ(render_ok(Family::gemma, {{"user", "\xc2 x \xe3\x80"}}, no_generation_prompt({})),
            "<start_of_turn>user\n\xc2 x \xe3\x80<end_of_turn>\n");
  // U+0085 and U+00A0 are whitespace to Python; an overlong encoding of a space is not.
  EXPECT_EQ(
      render_ok(Family::gemma, {{"user", "\xc2\x85\xc2\xa0x\xc0\xa0"}}, no_generation_prompt({})),
      "<start_of_turn>user\nx\xc0\xa0<end_of_turn>\n");
}

TEST(ChatTemplateStop, StopStrings) {
  using V = std::vector<std::string>;
  EXPECT_EQ(stop_strings(Family::chatml), V{"<|im_end|>"});
  EXPECT_EQ(stop_strings(Family::qwen2_5), V{"<|im_end|>"});
  EXPECT_EQ(stop_strings(Family::smollm3), V{"<|im_end|>"});
  EXPECT_EQ(stop_strings(Family::llama3), (V{"<|eot_id|>", "<|eom_id|>"}));
  EXPECT_EQ(stop_strings(Family::llama3_0), V{"<|eot_id|>"});
  EXPECT_EQ(stop_strings(Family::llama2), V{"</s>"});
  EXPECT_EQ(stop_strings(Family::mistral), V{"</s>"});
  EXPECT_EQ(stop_strings(Family::gemma), V{"<end_of_turn>"});
  EXPECT_EQ(stop_strings(Family::phi3), (V{"<|end|>", "<|endoftext|>"}));
  EXPECT_TRUE(stop_strings(Family::unknown).empty());
}

}  // namespace
}  // namespace infergate::engine::chat
