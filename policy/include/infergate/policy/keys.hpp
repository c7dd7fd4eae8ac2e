// Gateway API keys: generation, hashing, lookup.
//
// Keys are random (OpenSSL's CSPRNG), shown once, and stored only as SHA-256 hex in YAML. A
// presented key is hashed, looked up by hash and compared in constant time.
#pragma once

#include <memory>
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
  bool may_use(std::string_view public_model) const;
};

struct GeneratedKey {
  std::string key;     // "ig-" + 43 base64url characters (32 random bytes); show once
  std::string sha256;  // lowercase hex, for YAML
};

GeneratedKey generate_key();
std::string sha256_hex(std::string_view data);
bool constant_time_equal(std::string_view a, std::string_view b);

class KeyStore {
 public:
  explicit KeyStore(const std::vector<config::KeyConfig>& keys);

  // The principal for a presented key, or nullopt when it is unknown.
  std::optional<Principal> authenticate(std::string_view presented) const;

 private:
  // Bucketed by the first 8 bytes of the hash; the full hash is compared in constant time.
  std::unordered_multimap<std::uint64_t, const config::KeyConfig*> by_prefix_;
  std::vector<std::array<unsigned char, 32>> digests_;
  std::unordered_map<const config::KeyConfig*, std::size_t> digest_index_;
};

}  // namespace infergate::policy
