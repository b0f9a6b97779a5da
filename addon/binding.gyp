{
  "variables": {
    "libtorch%": "<!(node ../scripts/find-libtorch.js --print)"
  },
  "targets": [
    {
      "target_name": "chori_torch",
      # sources.json is the one list of sources: CMakeLists.txt builds libchori from the same
      # image and core files, scripts/fuzz.sh the fuzz target from the image files.
      "sources": [
        "<!@(node -p \"const s = require('./sources.json'); [...s.binding, ...s.image, ...s.core].join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "src",
        "include",
        "<(libtorch)/include",
        "<(libtorch)/include/torch/csrc/api/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "_GLIBCXX_USE_CXX11_ABI=1",
        "CHORI_LIBTORCH_DIR=\"<(libtorch)\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-frtti", "-Wall", "-Wno-unused-parameter"],
      "libraries": [
        "-L<(libtorch)/lib",
        "-ltorch_cpu",
        "-lc10",
        "-ljpeg",
        "-lpng",
        "-lz",
        "-ldeflate",
        "-lwebpdemux",
        "-lwebp",
        "-lavif",
        "-ltiff",
        "-Wl,-rpath,<(libtorch)/lib"
      ]
    }
  ]
}
