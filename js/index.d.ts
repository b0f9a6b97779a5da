// Type declarations for chori-torch; tests/types/usage.ts checks them against real usage.

/** Stable error codes (docs/ARCHITECTURE.md). */
export type ErrorCode =
  | 'CHORI_INVALID_ARGUMENT'
  | 'CHORI_EMPTY_INPUT'
  | 'CHORI_DECODE'
  | 'CHORI_TRUNCATED'
  | 'CHORI_UNSUPPORTED_FORMAT'
  | 'CHORI_IMAGE_TOO_LARGE'
  | 'CHORI_MODEL_LOAD'
  | 'CHORI_MODEL_METADATA'
  | 'CHORI_INFERENCE'
  | 'CHORI_DEVICE'
  | 'CHORI_DISPOSED'
  | 'CHORI_OVERLOADED'
  | 'CHORI_ADDON_NOT_BUILT'
  | 'CHORI_INTERNAL';

export const codes: Readonly<{
  INVALID_ARGUMENT: 'CHORI_INVALID_ARGUMENT';
  EMPTY_INPUT: 'CHORI_EMPTY_INPUT';
  DECODE: 'CHORI_DECODE';
  TRUNCATED: 'CHORI_TRUNCATED';
  UNSUPPORTED_FORMAT: 'CHORI_UNSUPPORTED_FORMAT';
  IMAGE_TOO_LARGE: 'CHORI_IMAGE_TOO_LARGE';
  MODEL_LOAD: 'CHORI_MODEL_LOAD';
  MODEL_METADATA: 'CHORI_MODEL_METADATA';
  INFERENCE: 'CHORI_INFERENCE';
  DEVICE: 'CHORI_DEVICE';
  DISPOSED: 'CHORI_DISPOSED';
  OVERLOADED: 'CHORI_OVERLOADED';
  ADDON_NOT_BUILT: 'CHORI_ADDON_NOT_BUILT';
  INTERNAL: 'CHORI_INTERNAL';
}>;

export class ChoriError extends Error {
  readonly code: ErrorCode;
}

export type Interpolation = 'nearest' | 'bilinear' | 'bicubic' | 'box' | 'hamming' | 'lanczos';

export interface FastaiResize {
  /** [height, width] */
  readonly size: readonly [number, number];
  readonly method: 'crop' | 'squish' | 'pad';
  /** How `pad` fills, as fastai's PadMode: zeros, border (edge pixels) or reflection. */
  readonly padMode: 'zeros' | 'border' | 'reflection';
}

/** The artifact's chori.json, validated. */
export interface Metadata {
  /** 2 when the artifact uses fastaiResize, else 1 (or 2). */
  readonly schemaVersion: 1 | 2;
  readonly labels: readonly string[];
  readonly input: {
    readonly colorMode: 'RGB';
    /** [size] = shorter side, [height, width] = exact; null = no resize. */
    readonly resize: readonly number[] | null;
    readonly maxSize: number | null;
    /** [height, width]; null = no crop. */
    readonly crop: readonly [number, number] | null;
    readonly interpolation: Interpolation;
    readonly mean: readonly [number, number, number];
    readonly std: readonly [number, number, number];
    /**
     * Whether images are turned upright by their EXIF orientation tag first (PIL's
     * ImageOps.exif_transpose), set by `chori export --exif-orientation`. False by default,
     * and for artifacts that predate the field: Image.open ignores the tag.
     */
    readonly exifOrientation: boolean;
    /**
     * fastai's Resize, in place of resize and crop (which are then null): centre-crop (crop) or
     * pad (pad) to the target's aspect ratio, then one resize to exactly `size`; squish only
     * resizes. Set by `chori export --fastai` / `--fastai-arch`; null otherwise.
     */
    readonly fastaiResize: FastaiResize | null;
  };
  readonly output: { readonly kind: 'logits' | 'probabilities'; readonly numClasses: number };
  readonly provenance: Readonly<Record<string, unknown>>;
  /** chori.json's optional `precision`: what load() runs in when its caller names none ('fp32' when absent). */
  readonly precision: 'fp32' | 'bf16';
}

export interface LoadOptions {
  /**
   * libtorch intra-op threads for this model's forward passes. Default: with neither `threads`
   * nor `workers` given, adaptive (see `workers`); with `workers` only, cores ÷ workers.
   */
  threads?: number;
  /** Largest width × height accepted, checked before decoding. Default: PIL's limit, 2 × 89,478,485. */
  maxPixels?: number;
  /**
   * 'bf16' runs forward in bfloat16 (fast on CPUs with AVX512_BF16 or AMX); inputs and outputs
   * stay float32. Its answers are those of `chori golden --precision bf16`, bit for bit, not the
   * fp32 golden set's. On a CPU without native bf16 it runs, with an entry in `model.warnings`.
   * Default: the precision the artifact records (`chori export --precision`), else 'fp32'.
   */
  precision?: 'fp32' | 'bf16';
  /**
   * Graph passes applied after loading, then a warm-up on the input shape (docs/ARCHITECTURE.md,
   * "Load-time optimisation"). 'auto' is 'onednn' when the model's input size is fixed (a crop or
   * a [height, width] resize), else 'freeze'. `chori golden --optimize` applies the same passes,
   * so answers stay bit-identical to the golden set for the form used on both sides.
   * Default: 'auto'.
   */
  optimize?: OptimizeChoice;
  /**
   * Gather concurrent predict() calls into one forward. Default: false — batched rows differ
   * from batch-1 results in the last bits (oneDNN picks kernels by batch size).
   */
  batch?: boolean;
  /** Most images in one forward when `batch` is on. Default: 8. */
  maxBatch?: number;
  /** Longest a call waits for companions while others are still decoding. Default: 5 ms. */
  maxDelayMs?: number;
  /** Most calls in flight; more reject with CHORI_OVERLOADED. Default: 1024. */
  maxQueue?: number;
  /**
   * Inference threads of this model, each running its own forward (with `threads` intra-op
   * threads, which then defaults to cores ÷ workers). On few cores `{ workers: 2, threads: 1 }`
   * raises throughput under concurrency (resnet18 on 2 cores: about 1.1×) at the cost of
   * batch-1 latency; answers stay bit-identical. Default, with neither `workers` nor `threads`
   * given: adaptive parallelism where the optimisation's answers do not depend on the thread
   * count ('onednn', the 'auto' form of fixed-size TorchScript models): one inference thread per
   * core, each forward using all cores when it is the only work and one when calls queue
   * (`info.adaptive`); for other TorchScript forms one forward per core at one thread each (the
   * thread count `chori golden` uses); for a .pt2 package 1 worker with every core.
   */
  workers?: number;
  /**
   * Where forward runs. 'cuda' is 'cuda:0'. Decoding and preprocessing stay on the CPU; the
   * batch is copied to the device once. libtorch's CUDA libraries are loaded only by the first
   * CUDA load; one on a machine without a usable GPU rejects with CHORI_DEVICE. On a GPU,
   * `optimize` is 'none' or 'freeze' ('auto' = 'freeze') and `maxBatch` defaults to 32.
   * Default: 'cpu'.
   */
  device?: Device;
  /**
   * CUDA: cuDNN's deterministic algorithms and no TF32 (process-wide switches), so runs repeat
   * bit for bit and match `chori golden --device cuda --deterministic` on the same GPU model.
   * No effect on the CPU, whose forms repeat already. Default: false.
   */
  deterministic?: boolean;
}

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

/** none: the artifact as saved; freeze: torch.jit.freeze; ofi: freeze + optimize_for_inference;
 * onednn: freeze + oneDNN Graph fusion. */
export type Optimization = 'none' | 'freeze' | 'ofi' | 'onednn';
export type OptimizeChoice = 'auto' | Optimization;

/** How a loaded model runs. */
export interface ModelInfo {
  /** What the artifact is: a TorchScript file, or an AOTInductor package (`chori export --format pt2`). */
  readonly format: 'torchscript' | 'pt2';
  /** The load-time optimisation applied ('auto' resolved). */
  readonly optimize: Optimization;
  readonly requestedOptimize: OptimizeChoice;
  /** Forwards run at load on zeros of the input shape; 0 when the input size is not fixed. */
  readonly warmupRuns: number;
  readonly optimizeMs: number;
  readonly warmupMs: number;
  /** Intra-op threads of a forward; with `adaptive`, the most one forward takes. */
  readonly threads: number;
  readonly workers: number;
  /** Whether each forward picks its thread count from the queue (LoadOptions.workers). */
  readonly adaptive: boolean;
  readonly precision: 'fp32' | 'bf16';
  /** 1 when batching is off. */
  readonly maxBatch: number;
  /** 'cpu' or 'cuda:N' ('cuda' resolved). */
  readonly device: 'cpu' | `cuda:${number}`;
  readonly deterministic: boolean;
}

export interface PredictOptions {
  /** How many ranked labels to return. Default: min(5, number of labels). */
  topk?: number;
  /** Also return the raw model outputs. Default: false. */
  logits?: boolean;
}

export interface Ranked {
  label: string;
  index: number;
  score: number;
}

export interface Prediction extends Ranked {
  topk: Ranked[];
  logits?: Float32Array;
  /** How many images shared the forward pass that produced this prediction. */
  batchSize: number;
  timings: { decodeMs: number; inferenceMs: number; totalMs: number };
}

export interface Tensor {
  /** float32, planar RGB: shape[0] × shape[1] × shape[2] values. */
  data: Float32Array;
  shape: [3, number, number];
}

export type ImageInput = Buffer | Uint8Array;

export class Model {
  private constructor();
  readonly path: string;
  readonly metadata: Metadata;
  readonly info: ModelInfo;
  readonly labels: readonly string[];
  readonly disposed: boolean;
  /**
   * What load() found doubtful but not fatal: the artifact was exported with another torch
   * release than the addon's libtorch, so it runs but bit-exact parity with its golden set is not
   * promised (also emitted once as a process warning, code CHORI_TORCH_VERSION_MISMATCH); or
   * precision 'bf16' on a CPU without AVX512_BF16 or AMX, where it is emulated and slow.
   */
  readonly warnings: readonly string[];
  predict(image: ImageInput, options?: PredictOptions): Promise<Prediction>;
  /** Classifies several images; with batching on they share forward passes. */
  predictBatch(images: readonly ImageInput[], options?: PredictOptions): Promise<Prediction[]>;
  /** The exact model input: what torchvision's transforms make from the same image with PIL. */
  preprocess(image: ImageInput): Promise<Tensor>;
  /**
   * [height, width] of every model input when the artifact fixes it (a crop or a squashing
   * resize); null when the size follows the image.
   */
  readonly inputSize: [number, number] | null;
  /**
   * Classifies an input already preprocessed (what preprocess() returns), skipping decoding and
   * preprocessing. Its [H, W] must be inputSize when the model has one (CHORI_INVALID_ARGUMENT).
   */
  predictTensor(tensor: Tensor, options?: PredictOptions): Promise<Prediction>;
  dispose(): Promise<void>;
}

export function load(path: string, options?: LoadOptions): Promise<Model>;
/** Classifies with the default model: $CHORI_TORCH_MODEL, else export/model.pt under the working directory. */
export function predict(image: ImageInput, options?: PredictOptions): Promise<Prediction>;
export function defaultModelPath(): string;
export const version: string;
/** The resampler's vector path in use and those this CPU runs; $CHORI_SIMD forces one. */
export function simd(): { active: 'scalar' | 'sse2' | 'avx2' | 'avx512'; available: string[] };

/** What the NVIDIA driver reports (asked directly; libtorch's CUDA part is not loaded by asking). */
export interface GpuReport {
  /** Whether the addon's libtorch has its CUDA part (a CPU-only wheel has none). */
  readonly libtorchCuda: boolean;
  readonly libtorchCudaPath: string;
  readonly driver: 'no-driver' | 'driver-error' | 'no-device' | 'ready';
  /** Why not 'ready': the dynamic loader's or the driver's error. */
  readonly detail: string;
  /** The CUDA version the driver supports, "13.0"; "" without a driver. */
  readonly driverCuda: string;
  /** libtorch's CUDA runtime and cuDNN once a CUDA model was loaded, else "". */
  readonly runtime: string;
  readonly devices: ReadonlyArray<{ index: number; name: string; totalMemory: number; computeCapability: string }>;
}
/** The devices load({ device: 'cuda:N' }) can use, or why there are none. */
export function gpus(): GpuReport;

/** What chori-torch is made of (as sharp.versions); reading it loads the addon. */
export interface Versions {
  readonly 'chori-torch': string;
  /** The libtorch the addon was compiled against (TORCH_VERSION). */
  readonly libtorch: string;
  readonly 'libjpeg-turbo': string;
  readonly libpng: string;
  readonly libwebp: string;
  readonly libavif: string;
  readonly libtiff: string;
  /** The N-API version the addon is built for. */
  readonly napi: string;
}
export const versions: Versions;

// ---- HTTP server (js/server/, docs/SERVING.md, docs/openapi.json) ----

/** Codes the server adds to ErrorCode in its `{ error: { code, message } }` answers. */
export type ServeErrorCode =
  | 'CHORI_BAD_REQUEST'
  | 'CHORI_BODY_TOO_LARGE'
  | 'CHORI_NOT_FOUND'
  | 'CHORI_METHOD_NOT_ALLOWED'
  | 'CHORI_MODEL_NOT_FOUND'
  | 'CHORI_NOT_READY'
  | 'CHORI_OVERLOADED'
  | 'CHORI_DEADLINE_EXCEEDED'
  | 'CHORI_URL_DISABLED'
  | 'CHORI_URL_INVALID'
  | 'CHORI_URL_FORBIDDEN'
  | 'CHORI_URL_FETCH'
  | 'CHORI_URL_TIMEOUT'
  | 'CHORI_URL_TOO_LARGE'
  /** POST /models/:name/reload (and Server.reload()): the new version failed the golden-set self-check the serving one passed; the old version keeps serving. */
  | 'CHORI_SELF_CHECK_FAILED';

/** A resolved address, as `dns.promises.lookup(host, { all: true })` gives them. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** `chori-torch serve` flags, camelCased (`--slo-ms` is `sloMs`); `chori-torch serve --help` documents each. */
export interface ServeOptions {
  /** Model name → artifact path; the first answers POST /predict. Default: { model: defaultModelPath() }. */
  models?: Record<string, string>;
  /**
   * Serve every artifact (.pt, .pt2) in this directory instead, each named by its file name without
   * extension, model.pt first (else the first by name). Not together with `models`.
   */
  modelDir?: string;
  /**
   * Serve the models that load when others fail to at start (each failure is logged as a warning
   * and listed by failed()); serve() still rejects when none loads. Default false: any failure rejects.
   */
  allowPartial?: boolean;
  /** Default '127.0.0.1'. */
  host?: string;
  /** 0 picks a free port. Default 8080. */
  port?: number;
  /** Address of the management listener (POST /models/:name/reload). Default '127.0.0.1'; beyond loopback a management key is always required. */
  managementHost?: string;
  /** Port of the management listener; 0 picks a free one. Default 8081, or 0 when `port` is 0. */
  managementPort?: number;
  /** File holding the inference key (bearer token for prediction and model routes). Default: $CHORI_TORCH_INFERENCE_KEY, else none (open). */
  inferenceKeyFile?: string;
  /** File holding the management key. Default: $CHORI_TORCH_MANAGEMENT_KEY, else none on loopback, generated beyond it. */
  managementKeyFile?: string;
  /** Where a generated management key is written (mode 0600). Default: keys.json in a new private temp directory. */
  generatedKeysFile?: string;
  /** GET /metrics (and /status.json) need the inference key too. Default false. */
  protectMetrics?: boolean;
  /**
   * Also serve the Open Inference Protocol over gRPC on this port of `host` (0 picks a free one).
   * Default: off. 8085 is suggested: KServe's 8081 is the management listener here.
   */
  grpcPort?: number;
  /** PEM certificate (chain) for https on both listeners and TLS on gRPC; with tlsKey. Renewed files are taken up without a restart. */
  tlsCert?: string;
  /** PEM private key of tlsCert. */
  tlsKey?: string;
  /** libtorch intra-op threads of each worker. Default 1: concurrent requests already use libuv's thread pool. */
  threads?: number;
  /** Inference threads per model, each running its own forward (load()'s `workers`). Default 1. */
  workers?: number;
  /** Dynamic batching of concurrent requests (load()'s `batch`). Default false. */
  batch?: boolean;
  maxPixels?: number;
  /** Ranked labels per answer unless the request asks otherwise. Default 5. */
  topk?: number;
  /** Default 10 MiB; larger bodies are 413. */
  maxBodyBytes?: number;
  /** Most images in one request: `{"inputs": [...]}` to /predict, N of an Open Inference Protocol input. Default 32. */
  maxBatch?: number;
  /** Most images in flight per model; more is 503 with Retry-After. Default 64. */
  maxQueue?: number;
  /** Latency objective in ms: past it, answer `defaultLabel` (or 504 without one). */
  sloMs?: number;
  defaultLabel?: string;
  /** Turns the web page off: GET /, /ui/* and /status.json answer 404. Default false (the page is served). */
  noUi?: boolean;
  /** Enables GET /predict?url=…. Default false. */
  allowUrl?: boolean;
  /** Lets ?url= reach loopback, private, link-local and metadata addresses (server-side request forgery!). Default false. */
  allowPrivateUrls?: boolean;
  urlTimeoutMs?: number;
  urlMaxBytes?: number;
  urlMaxRedirects?: number;
  /** Reload a model when its file changes. Default false. */
  watch?: boolean;
  watchIntervalMs?: number;
  /** Request log lines: default 'text'. */
  logFormat?: 'text' | 'json' | 'none';
  requestTimeoutMs?: number;
  shutdownTimeoutMs?: number;
  /** On close(), how long a ready server keeps serving first (not ready, answers say Connection: close). Default 5000. */
  drainDelayMs?: number;
  /** Golden-set self-check policy: not ready when any logit differs (exact), when a top-1 class changes (top1), or no check (off). Default 'exact'. */
  verify?: 'exact' | 'top1' | 'off';
  /** Where log lines go. Default process.stdout. */
  logStream?: { write(line: string): unknown };
  /** The DNS resolver the ?url= guard checks (tests inject one). Default dns.promises.lookup(host, { all: true }). */
  resolve?: (hostname: string) => Promise<ResolvedAddress[]>;
}

/** GET /models, per model. */
export interface ServedModel {
  name: string;
  version: number;
  default: boolean;
  sha256: string | null;
  loaded_at: string;
  load_ms: number;
  labels: string[];
  input: {
    color_mode: 'RGB';
    resize: readonly number[] | null;
    max_size: number | null;
    crop: readonly [number, number] | null;
    interpolation: Interpolation;
    mean: readonly [number, number, number];
    std: readonly [number, number, number];
    exif_orientation: boolean;
    /** Only for fastai artifacts. */
    fastai_resize?: { size: readonly [number, number]; method: 'crop' | 'squish' | 'pad'; pad_mode: 'zeros' | 'border' | 'reflection' };
  };
  output: { kind: 'logits' | 'probabilities'; num_classes: number };
  /** Where the artifact came from (chori.json's `provenance`: torch_version, arch, exported_at, …); informative only. */
  provenance: Record<string, unknown>;
  /** The golden-set self-check of this version (NAME.golden.json beside the artifact, from chori export --golden). */
  self_check: SelfCheck;
}

/**
 * GET /models `self_check`. status: exact (every logit bit-identical to the reference pipeline's),
 * top1 (some differ, every top-1 class agrees), differs (a top-1 class changed), failed (the set
 * could not be checked), absent (no golden set beside the artifact), checking, off (--verify off).
 */
export interface SelfCheck {
  status: 'exact' | 'top1' | 'differs' | 'failed' | 'absent' | 'checking' | 'off';
  policy: 'exact' | 'top1' | 'off';
  /** Whether the model may take traffic under the policy. */
  passed: boolean;
  golden?: string | null;
  images?: number;
  /** Largest |logit difference| over the set; 0 when bit-identical. */
  max_abs_diff?: number | null;
  top1_agrees?: boolean | null;
  /** The golden images whose logits differ. */
  differing?: string[];
  reason?: string | null;
  ms?: number;
}

/** GET /models `failed`: a model that failed to load at start (allowPartial) and has not loaded since. */
export interface FailedModel {
  name: string;
  error: { code: string; message: string };
}

export interface Server {
  /** http(s)://host:port of the inference listener. */
  readonly url: string;
  /** http(s)://host:port of the management listener (POST /models/:name/reload). */
  readonly managementUrl: string;
  /** host:port of the Open Inference Protocol's gRPC listener; null without grpcPort. */
  readonly grpcAddress: string | null;
  /** Every model loaded (with allowPartial: every model that could be), self-checked under `verify`, and not shutting down (GET /readyz). */
  readonly ready: boolean;
  /** The models served. */
  models(): ServedModel[];
  /** The models that failed to load at start (only with allowPartial); they answer 503 until a reload succeeds. */
  failed(): FailedModel[];
  /**
   * Loads the model's file again and swaps it in atomically (POST /models/:name/reload). Default: the first model.
   * Rejects with CHORI_SELF_CHECK_FAILED, the old version still serving, when the new version fails the golden set the serving one passed (verify exact or top1).
   */
  reload(name?: string): Promise<ServedModel>;
  /** Stops accepting, finishes in-flight requests (shutdownTimeoutMs at most), unloads the models. */
  close(): Promise<{ forced: boolean }>;
}

/** Starts the HTTP server; resolves once it listens with every model loaded (with allowPartial: at least one). */
export function serve(options?: ServeOptions): Promise<Server>;
