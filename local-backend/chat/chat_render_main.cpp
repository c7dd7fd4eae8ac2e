// infergate-chat-render: renders conversations with chat_template.hpp, one JSON request per input
// line, one JSON result per output line. jinja_diff.py drives it to compare every family with the
// real Jinja templates rendered by the jinja2 package.
//   in:  {"template": "...", "family": "chatml" (optional: detected from template),
//         "messages": [{"role": "...", "content": "..."}], "add_generation_prompt": true,
//         "bos_token": "", "eos_token": "", "enable_thinking": true, "date_string": "..."}
//   out: {"ok": true, "family": "chatml", "out": "...", "error": ""}
// The options start from render_defaults(template); the fields given override them.
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"

namespace chat = infergate::engine::chat;
using nlohmann::json;

namespace {

json handle(const std::string& line) {
  const json request = json::parse(line);
  const std::string text = request.value("template", std::string());
  chat::RenderOptions opts = chat::render_defaults(text);
  opts.add_generation_prompt = request.value("add_generation_prompt", true);
  opts.bos_token = request.value("bos_token", std::string());
  opts.eos_token = request.value("eos_token", std::string());
  opts.enable_thinking = request.value("enable_thinking", opts.enable_thinking);
  opts.date_string = request.value("date_string", opts.date_string);
  chat::Family family = chat::detect(text);
  if (request.contains("family")) {
    const auto named = chat::family_from_name(request.at("family").get<std::string>());
    if (!named) return {{"ok", false}, {"error", "unknown family name"}};
    family = *named;
  }
  std::vector<infergate::engine::ChatMessage> messages;
  for (const json& m : request.value("messages", json::array())) {
    messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  }
  std::string out;
  std::string error;
  const bool ok = chat::render(family, messages, opts, &out, &error);
  return {{"ok", ok},
          {"family", std::string(chat::family_name(family))},
          {"out", out},
          {"error", error}};
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    json result;
    try {
      result = handle(line);
    } catch (const json::exception& e) {
      result = {{"ok", false}, {"error", std::string("bad request: ") + e.what()}};
    }
    std::cout << result.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  }
  return 0;
}
