// Helpers shared by the codec tests.
#pragma once

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "tno/mpc/communication/buffer.hpp"

namespace tno::mpc::communication::test {

inline std::string data_path(const std::string& relative) {
  return std::string(MPC_COMM_TEST_DATA) + "/" + relative;
}

inline Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open test data " + path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto b = as_bytes(s);
  return Bytes(b.begin(), b.end());
}

inline const nlohmann::json& manifest() {
  static const nlohmann::json m = [] {
    std::ifstream in(data_path("vectors/vectors.json"));
    return nlohmann::json::parse(in);
  }();
  return m;
}

inline Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

inline std::string to_hex(std::span<const std::byte> b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto x : b) {
    out += digits[static_cast<unsigned>(x) >> 4];
    out += digits[static_cast<unsigned>(x) & 15];
  }
  return out;
}

}  // namespace tno::mpc::communication::test
