#include "infergate/policy/keys.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace infergate::policy {

namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr std::string_view kKeyPrefix = "ig-";

using Digest = std::array<unsigned char, 32>;

// Every request hashes its key. EVP_Digest with EVP_sha256() looks the algorithm up in the
// provider registry and allocates a context on each call (~6k instructions, callgrind); the
// fetched algorithm and a per-thread context make that ~1k.
const EVP_MD* sha256_md() {
  static const EVP_MD* md = [] {
    const EVP_MD* m = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    return m != nullptr ? m : EVP_sha256();
  }();
  return md;
}

Digest digest_of(std::string_view data) {
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  Digest d{};
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), sha256_md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), d.data(), &len) != 1 || len != d.size())
    throw std::runtime_error("SHA-256 failed");
  return d;
}

std::uint64_t prefix_of(const Digest& d) {
  std::uint64_t v = 0;
  std::memcpy(&v, d.data(), sizeof v);
  return v;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<Digest> digest_from_hex(std::string_view hex) {
  Digest d{};
  if (hex.size() != 2 * d.size()) return std::nullopt;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return d;
}

// RFC 4648 section 5, without padding.
std::string base64url(const unsigned char* p, std::size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = std::uint32_t{p[i]} << 16 | std::uint32_t{p[i + 1]} << 8 | p[i + 2];
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (n - i == 1) {
    const std::uint32_t v = std::uint32_t{p[i]} << 16;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
  } else if (n - i == 2) {
    const std::uint32_t v = std::uint32_t{p[i]} << 16 | std::uint32_t{p[i + 1]} << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
  }
  return out;
}

}  // namespace

bool Principal::may_use(std::string_view public_model) const {
  if (!key) return false;
  if (key->models.empty()) return true;
  return std::find(key->models.begin(), key->models.end(), public_model) != key->models.end();
}

GeneratedKey generate_key() {
  unsigned char bytes[kKeyBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    throw std::runtime_error("cannot generate a key: the random generator failed");
  GeneratedKey out;
  out.key = std::string(kKeyPrefix) + base64url(bytes, sizeof bytes);
  OPENSSL_cleanse(bytes, sizeof bytes);
  out.sha256 = sha256_hex(out.key);
  return out;
}

std::string sha256_hex(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  const Digest d = digest_of(data);
  std::string out;
  out.reserve(2 * d.size());
  for (unsigned char b : d) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

KeyStore::KeyStore(const std::vector<config::KeyConfig>& keys) {
  by_prefix_.reserve(keys.size());
  for (const auto& k : keys) {
    auto d = digest_from_hex(k.sha256);
    if (!d) throw std::invalid_argument("key '" + k.id + "': sha256 is not 64 hex characters");
    by_prefix_.emplace(prefix_of(*d), Entry{*d, &k});
  }
}

std::optional<Principal> KeyStore::authenticate(std::string_view presented) const {
  if (presented.empty() || presented.size() > kMaxPresentedKeyBytes) return std::nullopt;
  const Digest d = digest_of(presented);
  const auto [first, last] = by_prefix_.equal_range(prefix_of(d));
  for (auto it = first; it != last; ++it) {
    if (CRYPTO_memcmp(it->second.digest.data(), d.data(), d.size()) == 0)
      return Principal{it->second.key};
  }
  return std::nullopt;
}

}  // namespace infergate::policy
