// parse() on arbitrary bytes: must return a File or an error, never crash or read out of bounds.
// A parsed file's getters and tensor data are touched too, so ASan sees any bad pointer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "gguf/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace infergate::engine::gguf;
  std::string error;
  auto f = File::parse(data, size, &error);
  if (!f) return 0;
  volatile std::uint64_t sink = 0;
  for (const auto& [key, v] : f->metadata()) {
    sink = sink + key.size();
    (void)f->get_string(key);
    (void)f->get_int(key);
    (void)f->get_float(key);
    (void)f->get_bool(key);
    if (auto a = f->get_int_array(key)) sink = sink + a->size();
    if (auto a = f->get_float_array(key)) sink = sink + a->size();
    if (const auto* s = f->get_string_array(key))
      for (auto e : *s) sink = sink + (e.empty() ? 0 : static_cast<unsigned char>(e.back()));
  }
  for (const auto& t : f->tensors()) {
    const auto* p = static_cast<const std::uint8_t*>(t.data);
    sink = sink + p[0] + p[t.bytes - 1];
    sink = sink + (f->find_tensor(t.name) == &t);
  }
  return 0;
}
