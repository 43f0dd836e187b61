/** The CUDA boundary's types, for the engine, /healthz and the tests: a leaf module. */

/** A CUDA device as the driver describes it (and /healthz shows it). */
export interface CudaDeviceInfo {
  readonly name: string;
  readonly totalMemoryBytes: number;
  /** e.g. "9.0" for an H100. */
  readonly computeCapability: string;
  /** The CUDA version the driver supports, e.g. "13.0". */
  readonly driverCudaVersion: string;
}

export type CudaProbe = { readonly ok: true; readonly info: CudaDeviceInfo } | { readonly ok: false; readonly reason: string };
