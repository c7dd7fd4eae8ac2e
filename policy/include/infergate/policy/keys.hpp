// Gateway API keys: generation, hashing, lookup.
//
// Keys are random (OpenSSL's CSPRNG), shown once, and stored only as SHA-256 hex in YAML. A
// presented key is hashed, looked up by hash and compared in constant time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "infergate/config/config.hpp"

namespace infergate::policy {

// Who is calling: the result of authentication.
struct Principal {
  const config::KeyConfig* key = nullptr;  // id, org, allowed models

  const std::string& key_id() const { return key->id; }
  const std::string& org() const { return key->org; }
  // True when the key's allow-list is empty (all models) or names `public_model`; false without
  // a key.
  bool may_use(std::string_view public_model) const;
};

struct GeneratedKey {
  std::string key;     // "ig-" + 43 base64url characters (32 random bytes); show once
  std::string sha256;  // lowercase hex, for YAML
};

// Throws std::runtime_error when the CSPRNG cannot supply bytes (never returns a weak key).
GeneratedKey generate_key();
std::string sha256_hex(std::string_view data);
// Equal contents and length; the time taken depends on the length only.
bool constant_time_equal(std::string_view a, std::string_view b);

// Presented keys longer than this are rejected without hashing (they cannot be ours).
inline constexpr std::size_t kMaxPresentedKeyBytes = 512;

class KeyStore {
 public:
  // Keeps pointers into `keys`: the vector (the validated Config) must outlive the store.
  // Throws std::invalid_argument when a sha256 is not 64 hex characters (validated configs never
  // have one).
  explicit KeyStore(const std::vector<config::KeyConfig>& keys);

  // The principal for a presented key, or nullopt when it is unknown.
  std::optional<Principal> authenticate(std::string_view presented) const;

  std::size_t size() const { return by_prefix_.size(); }

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Entry {
    Digest digest;
    const config::KeyConfig* key;
  };
  // Bucketed by the first 8 bytes of the hash; the full hash is compared in constant time.
  std::unordered_multimap<std::uint64_t, Entry> by_prefix_;
};

}  // namespace infergate::policy
