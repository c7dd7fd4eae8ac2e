// Fuzzes template detection and rendering with hostile template text and conversations.
// Input: one option byte, then records separated by 0x1E: the template text, then messages as
// "role" 0x1F "content". Rendering must never crash and never exceed max_bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.hpp"

namespace chat = infergate::engine::chat;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string_view> records;
  for (std::size_t start = 0;;) {
    const std::size_t end = input.find('\x1e', start);
    records.push_back(input.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  const std::string_view template_text = records[0];
  std::vector<infergate::engine::ChatMessage> messages;
  for (std::size_t i = 1; i < records.size(); ++i) {
    const std::size_t sep = records[i].find('\x1f');
    infergate::engine::ChatMessage m;
    m.role = std::string(records[i].substr(0, sep));
    if (sep != std::string_view::npos) m.content = std::string(records[i].substr(sep + 1));
    messages.push_back(std::move(m));
  }

  chat::RenderOptions opts = chat::render_defaults(template_text);
  opts.add_generation_prompt = (flags & 1) != 0;
  opts.enable_thinking = (flags & 2) != 0;
  opts.system_in_first_user = opts.system_in_first_user || (flags & 4) != 0;
  opts.bos_token = "<s>";
  opts.eos_token = "</s>";
  opts.max_bytes = (flags & 8) != 0 ? 64 : 1 << 20;
  // Half the inputs use the detected family, half one chosen by the flags.
  const chat::Family family = (flags & 16) != 0 ? static_cast<chat::Family>((flags >> 5) % 10)
                                                : chat::detect(template_text);
  (void)chat::family_from_name(template_text);
  (void)chat::stop_strings(family);
  std::string out;
  std::string error;
  if (chat::render(family, messages, opts, &out, &error)) {
    if (out.size() > opts.max_bytes) std::abort();
  } else if (error.empty()) {
    std::abort();
  }
  return 0;
}
