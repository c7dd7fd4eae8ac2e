// Provider type `local`: the in-process engine (local-backend/) behind the Adapter interface.
// No network: requests go to the engine's scheduler thread, tokens come back posted to the
// calling connection's executor.
#pragma once

#include <memory>
#include <string>

#include "infergate/adapters/adapter.hpp"

namespace infergate::adapters {

// Loads the provider's model (or the embedded demo model when `local.model_path` is empty) and
// returns its adapter; nullptr with *error when the model cannot be loaded.
std::unique_ptr<Adapter> make_local_adapter(const config::ProviderConfig& provider,
                                            std::string* error);

// The demo model: a small Llama-architecture GGUF with deterministic weights and a synthetic
// byte-level vocabulary, generated once into the cache folder ($INFERGATE_CACHE_DIR, else
// $XDG_CACHE_HOME/infergate, else ~/.cache/infergate). Returns its path, or "" with *error.
std::string ensure_demo_model(std::string* error);

}  // namespace infergate::adapters
