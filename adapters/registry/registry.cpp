#include "infergate/adapters/adapter.hpp"
#include "infergate/adapters/openai_adapter.hpp"

namespace infergate::adapters {

std::unique_ptr<Adapter> make_adapter(const config::ProviderConfig& provider) {
  if (provider.type == "openai") return std::make_unique<OpenAiAdapter>(provider);
  return nullptr;
}

}  // namespace infergate::adapters
