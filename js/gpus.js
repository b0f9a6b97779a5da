'use strict';
// The GPUs this process could run models on, as the NVIDIA driver reports them (the addon asks
// libcuda.so.1 directly; libtorch's CUDA libraries are not loaded by asking), for `doctor`.

const { native } = require('./native');

const GIB = 1024 ** 3;

const WHY_NOT = Object.freeze({
  'no-driver': 'no NVIDIA driver is installed',
  'driver-error': 'the NVIDIA driver did not start',
  'no-device': 'the NVIDIA driver sees no CUDA device',
});

/** { libtorchCuda, libtorchCudaPath, driver, detail, driverCuda, runtime, devices: [...] }. */
function gpus() {
  return native().gpus();
}

/** One line: the devices load({ device }) can use, or why 'cuda' would reject with CHORI_DEVICE. */
function describeGpus(report = gpus()) {
  if (!report.libtorchCuda) return `none usable: the addon's libtorch is a CPU-only build (no ${report.libtorchCudaPath})`;
  if (report.driver !== 'ready') {
    return `none usable: ${WHY_NOT[report.driver]}${report.detail ? ` (${report.detail})` : ''}; device 'cuda' rejects with CHORI_DEVICE`;
  }
  const devices = report.devices.map((d) => `cuda:${d.index} ${d.name} (${(d.totalMemory / GIB).toFixed(1)} GiB, compute ${d.computeCapability})`);
  return `${devices.join('; ')}; driver supports CUDA ${report.driverCuda}${report.runtime ? `; ${report.runtime}` : ''}`;
}

module.exports = { gpus, describeGpus };
