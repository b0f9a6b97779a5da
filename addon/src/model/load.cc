// Which backend reads an artifact, from its bytes: both kinds are PyTorch zip archives; a PT2
// archive (torch.export / AOTInductor) says so in its `archive_format` record.
#include <caffe2/serialize/inline_container.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "chori/error.h"
#include "model/backend.h"
#include "model/torch_util.h"

namespace chori::model {
namespace {

// Check for a zip before libtorch does, so a text file, an empty file or a plain state_dict
// pickle gets a sentence instead of a parser error.
void checkArtifactFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(code::kModelLoad, "cannot open model file '" + path + "': " + std::strerror(errno));
  char magic[4] = {};
  file.read(magic, sizeof magic);
  if (file.gcount() != sizeof magic || std::memcmp(magic, "PK\x03\x04", 4) != 0) {
    throw Error(code::kModelLoad, "'" + path +
                                      "' is not a chori-torch artifact (expected a zip archive: a TorchScript file "
                                      "or a .pt2 package; export one with `chori export`)");
  }
}

// torch.export.pt2_archive writes "pt2" into <root>/archive_format; TorchScript has no such
// record. A zip too damaged to read is left to the TorchScript loader, whose message says so.
bool isPt2Archive(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (!reader.hasRecord("archive_format")) return false;
    auto [data, size] = reader.getRecord("archive_format");
    return std::string(static_cast<const char*>(data.get()), size) == "pt2";
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

std::string readMetadata(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (!reader.hasRecord("extra/chori.json")) return "";
    auto [data, size] = reader.getRecord("extra/chori.json");
    return std::string(static_cast<const char*>(data.get()), size);
  } catch (const std::exception&) {
    return "";
  }
}

std::unique_ptr<Backend> load(const std::string& path, const LoadOptions& options) {
  checkArtifactFile(path);
  if (options.device.cuda) prepareCuda(options.device, options.deterministic);
  return isPt2Archive(path) ? detail::loadAoti(path, options) : detail::loadTorchScript(path, options);
}

}  // namespace chori::model
