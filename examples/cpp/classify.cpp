// Classify one image with a chori-torch artifact: the seed's example-app, with chori's answers.
//   classify export/model.pt photo.jpg
#include <chori/chori.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " MODEL.pt IMAGE\n";
    return 2;
  }
  try {
    const chori::Model model = chori::Model::load(argv[1]);
    const chori::Prediction p = model.predictFile(argv[2], /*topk=*/3);
    std::cout << p.label << " " << p.score << "\n";
    for (const auto& c : p.topk) std::cout << "  " << c.index << " " << c.label << " " << c.score << "\n";
  } catch (const chori::Error& e) {
    std::cerr << e.code() << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
