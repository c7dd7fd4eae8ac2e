// Fuzz target: arbitrary bytes through the SSE parser (split at a position taken from the input)
// and every dispatched event through the OpenAI chunk decoder; the whole input also through the
// non-streaming decoder and the upstream error mapping. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "infergate/adapters/openai_codec.hpp"
#include "infergate/adapters/sse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace infergate::adapters;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // Small limit so the limit paths are reached too.
  SseParser parser(size % 2 == 0 ? SseParser::kDefaultMaxEventBytes : 256);
  openai::ChunkDecoder decoder("sk-fuzz-secret");
  std::vector<infergate::api::Event> events;
  const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  SseEvent ev;
  bool done = false;
  for (std::string_view piece : {input.substr(0, split), input.substr(split)}) {
    if (done) break;
    parser.feed(piece);
    while (!done && parser.next(ev)) {
      events.clear();
      done = decoder.decode(ev.data, events, ev.type) == openai::ChunkDecoder::Status::done;
    }
  }
  events.clear();
  decoder.flush(events);

  events.clear();
  infergate::api::Error err;
  openai::decode_completion(input, events, err, "sk-fuzz-secret");
  openai::map_http_error(400 + static_cast<int>(size % 200), input, input.substr(0, 40),
                         "sk-fuzz-secret");
  return 0;
}
