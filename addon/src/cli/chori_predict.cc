// chori-predict: classify image files from the command line with the C++ API, the same answers
// as `chori-torch predict` (js/cli.js), whose flags, output and exit statuses it follows.
#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "chori/chori.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;  // keys in the order js/cli.js prints them

namespace {

constexpr const char* kHelp = R"(Usage: chori-predict [options] IMAGE...

Classifies image files with a model exported by `chori export`: the same decoding,
preprocessing and libtorch graph as Node's `chori-torch predict` and Python's golden set.

Options:
  --model PATH      the artifact (default: $CHORI_TORCH_MODEL, else export/model.pt)
  --topk K          how many ranked labels to report per image (default: 1 in the table, 5 with --json)
  --json            print one JSON object per image (JSON lines) instead of a table
  --logits          with --json, add each image's raw logits ("logits": [...], float32 values)
  --threads N       libtorch intra-op threads of each worker (default: cores / workers)
  --workers N       inference threads, each running its own forward (default: 1)
  --optimize F      load-time graph passes: auto, none, freeze, ofi, onednn (default: auto)
  --precision P     fp32 or bf16 (faster on CPUs with AVX512_BF16/AMX); default: the artifact's, else fp32
  --device D        cpu (default), cuda or cuda:N: where forward runs (decoding stays on the CPU)
  --max-pixels N    refuse images with more pixels than N (default: PIL's limit, 178956970)
  -h, --help        show this help
  --version         print chori's and libtorch's versions

Directories are searched recursively for .jpg, .jpeg, .png, .webp, .gif, .bmp,
.ppm, .pgm, .pbm, .pnm, .ico, .avif, .tif and .tiff files; files
named explicitly are read whatever their name (the format is sniffed from the bytes).
Exit status: 0 when every image was classified, 1 when some failed (each failure is reported
with its CHORI_* code and the file) or the model did not load, 2 on a usage error.
)";

constexpr int kConcurrency = 4;  // as js/cli.js: decoding overlaps the forward of another image

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string model;
  std::optional<int> topk;
  bool json = false, logits = false;
  chori::LoadOptions load;
  std::vector<std::string> inputs;
};

long long parseInteger(const std::string& flag, const std::string& text, long long min) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min) {
    throw UsageError(flag + " must be an integer of at least " + std::to_string(min) + ", not '" + text + "'");
  }
  return value;
}

// Returns nullopt when the command is already answered (--help, --version).
std::optional<Options> parseArgs(int argc, char** argv) {
  Options o;
  const char* envModel = std::getenv("CHORI_TORCH_MODEL");
  o.model = envModel && *envModel ? envModel : "export/model.pt";
  bool onlyFiles = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (onlyFiles || arg.empty() || arg[0] != '-') {
      o.inputs.push_back(arg);
    } else if (arg == "--") {
      onlyFiles = true;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kHelp;
      return std::nullopt;
    } else if (arg == "--version") {
      const auto v = chori::versions();
      std::cout << "chori " << v.chori << " (libtorch " << v.libtorch << ")\n";
      return std::nullopt;
    } else if (arg == "--model") {
      o.model = value();
    } else if (arg == "--topk") {
      o.topk = static_cast<int>(parseInteger(arg, value(), 1));
    } else if (arg == "--json") {
      o.json = true;
    } else if (arg == "--logits") {
      o.logits = true;
    } else if (arg == "--threads") {
      o.load.threads = static_cast<int>(parseInteger(arg, value(), 1));
    } else if (arg == "--workers") {
      o.load.workers = static_cast<int>(parseInteger(arg, value(), 1));
    } else if (arg == "--optimize") {
      o.load.optimize = value();
    } else if (arg == "--precision") {
      o.load.precision = value();
    } else if (arg == "--device") {
      o.load.device = value();
    } else if (arg == "--max-pixels") {
      o.load.maxPixels = static_cast<uint64_t>(parseInteger(arg, value(), 1));
    } else {
      throw UsageError("unknown option '" + arg + "'");
    }
  }
  if (o.inputs.empty()) throw UsageError("needs at least one image file or directory");
  if (o.logits && !o.json) throw UsageError("--logits needs --json");
  return o;
}

std::vector<std::string> listImages(const std::vector<std::string>& inputs) {
  static const std::set<std::string> extensions{".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".avif", ".tif", ".tiff"};
  std::vector<std::string> files;
  std::function<void(const fs::path&)> walk = [&](const fs::path& p) {
    std::vector<fs::path> entries;
    for (const auto& entry : fs::directory_iterator(p)) entries.push_back(entry.path());
    std::sort(entries.begin(), entries.end());
    for (const auto& child : entries) {
      if (fs::is_directory(child)) {
        walk(child);
        continue;
      }
      std::string ext = child.extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
      if (extensions.count(ext)) files.push_back(child.string());
    }
  };
  for (const auto& input : inputs) {
    std::error_code ec;
    const auto status = fs::status(input, ec);
    if (ec || !fs::exists(status)) throw UsageError("no such file or directory: '" + input + "'");
    if (fs::is_directory(status)) walk(input);
    else files.push_back(input);
  }
  return files;
}

struct Row {
  std::string file;
  std::optional<chori::Prediction> prediction;
  std::string errorCode, errorMessage;
  double totalMs = 0;
};

// Predictions in input order, from kConcurrency threads sharing the model.
std::vector<Row> classify(const chori::Model& model, const std::vector<std::string>& files, int topk) {
  std::vector<Row> rows(files.size());
  std::atomic<size_t> next{0}, done{0};
  const bool bar = isatty(STDERR_FILENO) && files.size() > 20;
  auto worker = [&] {
    for (size_t i; (i = next++) < files.size();) {
      Row& row = rows[i];
      row.file = files[i];
      const auto start = std::chrono::steady_clock::now();
      try {
        row.prediction = model.predictFile(files[i], topk);
      } catch (const chori::Error& e) {
        row.errorCode = e.code();
        row.errorMessage = e.what();
      } catch (const std::exception& e) {
        row.errorCode = chori::code::kInternal;
        row.errorMessage = e.what();
      }
      row.totalMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      const size_t finished = ++done;
      if (bar) {
        const size_t filled = finished * 30 / files.size();
        std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(filled, '#').c_str(),
                     std::string(30 - filled, '.').c_str(), finished, files.size());
        if (finished == files.size()) std::fputc('\n', stderr);
      }
    }
  };
  std::vector<std::jthread> threads;
  for (int t = 0; t < std::min<int>(kConcurrency, static_cast<int>(files.size())); ++t) threads.emplace_back(worker);
  threads.clear();  // joins
  return rows;
}

void printJson(const std::vector<Row>& rows, bool logits) {
  for (const auto& r : rows) {
    json line = {{"file", r.file}};
    if (!r.prediction) {
      line["error"] = {{"code", r.errorCode}, {"message", r.errorMessage}};
    } else {
      const auto& p = *r.prediction;
      line["label"] = p.label;
      line["index"] = p.index;
      line["score"] = p.score;
      json topk = json::array();
      for (const auto& c : p.topk) topk.push_back({{"label", c.label}, {"index", c.index}, {"score", c.score}});
      line["topk"] = topk;
      line["timings"] = {{"inferenceMs", p.inferenceMs}, {"totalMs", r.totalMs}};
      if (logits) line["logits"] = p.logits;
    }
    // File names need not be UTF-8: replace what is not rather than fail.
    std::cout << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  }
}

void printTable(const std::vector<Row>& rows) {
  std::vector<std::array<std::string, 4>> lines{{"file", "label", "score", "time"}};
  for (const auto& r : rows) {
    char score[32], time[32];
    if (!r.prediction) {
      lines.push_back({r.file, "ERROR", r.errorCode, r.errorMessage});
      continue;
    }
    std::snprintf(score, sizeof score, "%.4f", r.prediction->score);
    std::snprintf(time, sizeof time, "%.1f ms", r.totalMs);
    lines.push_back({r.file, r.prediction->label, score, time});
  }
  std::array<size_t, 3> widths{};
  for (const auto& l : lines) for (size_t i = 0; i < 3; ++i) widths[i] = std::max(widths[i], l[i].size());
  for (const auto& l : lines) {
    std::string out;
    for (size_t i = 0; i < 3; ++i) out += l[i] + std::string(widths[i] - l[i].size() + 2, ' ');
    std::cout << out << l[3] << '\n';
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto options = parseArgs(argc, argv);
    if (!options) return 0;
    const auto files = listImages(options->inputs);
    if (files.empty()) throw UsageError("no image files found");
    const chori::Model model = chori::Model::load(options->model, options->load);
    for (const auto& warning : model.info().warnings) std::cerr << "chori-predict: warning: " << warning << '\n';
    const int topk = std::min<int>(options->topk.value_or(options->json ? 5 : 1), static_cast<int>(model.labels().size()));
    const auto rows = classify(model, files, topk);
    if (options->json) printJson(rows, options->logits);
    else printTable(rows);
    return std::any_of(rows.begin(), rows.end(), [](const Row& r) { return !r.prediction; }) ? 1 : 0;
  } catch (const UsageError& e) {
    std::cerr << "chori-predict: " << e.what() << "\nRun 'chori-predict --help' for usage.\n";
    return 2;
  } catch (const chori::Error& e) {
    std::cerr << "chori-predict: " << e.code() << ": " << e.what() << '\n';
    return e.code() == chori::code::kInvalidArgument ? 2 : 1;
  } catch (const std::exception& e) {
    std::cerr << "chori-predict: " << chori::code::kInternal << ": " << e.what() << '\n';
    return 1;
  }
}
