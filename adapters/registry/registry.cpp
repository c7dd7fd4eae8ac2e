#include "anthropic_adapter.hpp"
#include "bedrock_adapter.hpp"
#include "fal_adapter.hpp"
#include "gemini_adapter.hpp"
#include "infergate/adapters/adapter.hpp"
#include "infergate/adapters/openai_adapter.hpp"
#include "replicate_adapter.hpp"

namespace infergate::adapters {

std::unique_ptr<Adapter> make_adapter(const config::ProviderConfig& provider) {
  if (provider.type == "openai") return std::make_unique<OpenAiAdapter>(provider);
  if (provider.type == "anthropic") return std::make_unique<AnthropicAdapter>(provider);
  if (provider.type == "gemini") return std::make_unique<GeminiAdapter>(provider);
  if (provider.type == "bedrock") return std::make_unique<BedrockAdapter>(provider);
  if (provider.type == "replicate") return std::make_unique<ReplicateAdapter>(provider);
  if (provider.type == "fal") return std::make_unique<FalAdapter>(provider);
  return nullptr;
}

}  // namespace infergate::adapters
