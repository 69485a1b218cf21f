// mpc-comm: the command-line tool of tno-mpc-communication.
//
//   mpc-comm decode [FILE|-]   one packed message (msgpack) in, neutral JSON out
//   mpc-comm encode [FILE|-]   neutral JSON {"id": ..., "object": ...} in, packed message out
//
// Bad input gives one line on stderr naming what is wrong, and exit status 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "neutral_json.hpp"

namespace mpc = tno::mpc::communication;

namespace {

constexpr int kBadInput = 2;

std::string read_all(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "' for reading");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int decode(const std::string& path) {
  std::string bytes = read_all(path);
  auto message = mpc::unpack_message<mpc::Value>(mpc::as_bytes(bytes));
  nlohmann::json out{{"id", mpc::neutral::from_message_id(message.id)},
                     {"object", mpc::neutral::from_value(message.object)}};
  std::cout << out.dump() << '\n';
  return 0;
}

int encode(const std::string& path) {
  nlohmann::json in;
  try {
    in = nlohmann::json::parse(read_all(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw mpc::neutral::FormatError(std::string("input is not JSON: ") + e.what());
  }
  if (!in.is_object() || !in.contains("id") || !in.contains("object")) {
    throw mpc::neutral::FormatError("expected a JSON object with keys \"id\" and \"object\"");
  }
  auto packed = mpc::pack_message(mpc::neutral::to_value(in.at("object")),
                                  mpc::neutral::to_message_id(in.at("id")));
  std::fwrite(packed.data(), 1, packed.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mpc-comm: tools for tno.mpc.communication-compatible parties"};
  app.require_subcommand(1);

  std::string decode_path = "-";
  auto* decode_cmd = app.add_subcommand("decode", "Print one packed message as neutral JSON");
  decode_cmd->add_option("file", decode_path, "file with the message, or - for stdin");

  std::string encode_path = "-";
  auto* encode_cmd =
      app.add_subcommand("encode", "Pack neutral JSON {\"id\", \"object\"} as a message");
  encode_cmd->add_option("file", encode_path, "file with the JSON, or - for stdin");

  CLI11_PARSE(app, argc, argv);
  try {
    if (decode_cmd->parsed()) return decode(decode_path);
    if (encode_cmd->parsed()) return encode(encode_path);
  } catch (const std::exception& e) {
    std::cerr << "mpc-comm: " << e.what() << '\n';
    return kBadInput;
  }
  return 0;
}
