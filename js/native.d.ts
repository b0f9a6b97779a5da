// The addon's own interface (addon/src/binding), as js/native.js loads it: internal, used by
// js/model.js and js/versions.js; the public API is index.d.ts. Kept in step with the [sync] /
// [async] comments in addon/src/binding/addon.cc and model_wrap.h.
import type { LoadOptions, ModelInfo } from './index';

/** load()'s options as js/model.js passes them on: validated, `device` resolved ('cuda' → 'cuda:0'). */
export type NativeLoadOptions = Omit<LoadOptions, 'device'> & { device?: 'cpu' | `cuda:${number}` };

/** One entry of model.warnings, with the code Node emits it under once (a process warning). */
export interface NativeWarning {
  readonly code: 'CHORI_TORCH_VERSION_MISMATCH' | 'CHORI_BF16_EMULATED';
  readonly message: string;
}

export interface NativeRanked {
  readonly index: number;
  readonly score: number;
}

export interface NativePrediction {
  readonly topk: NativeRanked[];
  readonly logits?: Float32Array;
  readonly batchSize: number;
  readonly timings: { readonly decodeMs: number; readonly inferenceMs: number; readonly totalMs: number };
}

/** A model load() has configured, prepared and warmed up. */
export interface NativeModel {
  /** The artifact's chori.json, verbatim; null once disposed. */
  readonly metadata: string | null;
  readonly format: 'torchscript' | 'pt2' | null;
  predict(bytes: Uint8Array, topk: number, logits: boolean): Promise<NativePrediction>;
  predictTensor(data: Float32Array, height: number, width: number, topk: number, logits: boolean): Promise<NativePrediction>;
  preprocess(bytes: Uint8Array): Promise<{ data: Float32Array; shape: [3, number, number] }>;
  dispose(): Promise<void>;
}

export interface NativeLoadResult {
  readonly model: NativeModel;
  /** Exactly `model.info`. */
  readonly info: ModelInfo;
  readonly warnings: NativeWarning[];
}

export interface Addon {
  /** Everything load() does below the validation, in one job off the JS thread (addon/src/model/loader.cc). */
  load(path: string, options?: NativeLoadOptions): Promise<NativeLoadResult>;
  closeAll(): void;
  simd(): { active: string; available: string[] };
  versions(): Record<string, string | number | boolean>;
  gpus(): Record<string, unknown>;
  readonly torchVersion: string;
}

export function native(): Addon;
export const BINARY: string;
export const BUILD_STAMP: string;
export const BUILD_COMMAND: string;
