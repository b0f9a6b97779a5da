{
  "variables": {
    "libtorch%": "<!(node ../scripts/find-libtorch.js --print)"
  },
  "targets": [
    {
      "target_name": "chori_torch",
      # The core (src/image, src/model) is compiled from these same files by CMakeLists.txt into
      # libchori; src/binding is the N-API front end's own.
      "sources": [
        "src/binding/addon.cc",
        "src/binding/dispatcher.cc",
        "src/binding/errors.cc",
        "src/binding/model_wrap.cc",
        "src/binding/spec.cc",
        "src/image/decode.cc",
        "src/image/limits.cc",
        "src/image/jpeg.cc",
        "src/image/png.cc",
        "src/image/png_chunks.cc",
        "src/image/gif.cc",
        "src/image/bmp.cc",
        "src/image/webp.cc",
        "src/image/orientation.cc",
        "src/image/resample.cc",
        "src/image/resample_x86.cc",
        "src/image/simd.cc",
        "src/image/preprocess.cc",
        "src/image/fastai_resize.cc",
        "src/image/versions.cc",
        "src/model/batcher.cc",
        "src/model/classifier.cc",
        "src/model/runtime.cc",
        "src/model/torchscript.cc",
        "src/model/aoti.cc",
        "src/model/load.cc",
        "src/model/device.cc",
        "src/model/cuda_driver.cc"
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
        "-lwebpdemux",
        "-lwebp",
        "-Wl,-rpath,<(libtorch)/lib"
      ]
    }
  ]
}
