/**
 * Is there a CUDA device this build can use, and which? The probe at start-up (src/engine/device.ts)
 * and the device description the backend reports; the PTX of kernels.cu and what a driver needs to
 * load it.
 */
import { readFileSync } from 'node:fs';
import type { CudaDeviceInfo, CudaProbe } from '../protocol/cuda-types.ts';
import { packageUrl } from '../paths.ts';
import {
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
  CudaError,
  CudaUnavailableError,
  DEFAULT_CUDA_LIBRARY,
  loadCudaDriver,
  type CudaDriver,
  type CuModule,
} from './driver.ts';
import { CUDA_KERNEL_NAMES } from './filter-passes.ts';
import { readSegmentPtx, SEGMENT_KERNEL_NAMES } from './segment-args.ts';

// The PTX stays in src/ for the build too.
export const PTX_URL = packageUrl('src/cuda/ptx/kernels.ptx');

export interface CudaOptions {
  /** The driver library (default libcuda.so.1; tests pass the emulator). */
  readonly libraryPath?: string;
  /** The device ordinal (default 0). */
  readonly ordinal?: number;
}

/** The PTX text, and what a driver needs to load it (from its `.version` line). */
export function readPtx(): { text: string; isa: string } {
  const text = readFileSync(PTX_URL, 'utf8');
  const isa = /^\.version\s+(\d+\.\d+)\s*$/m.exec(text)?.[1] ?? 'unknown';
  return { text, isa };
}

/** CUDA releases by PTX ISA version: a driver JIT-compiles the ISA of its CUDA version and older. */
const ISA_TO_CUDA: Readonly<Record<string, string>> = {
  '7.8': '11.8',
  '8.0': '12.0',
  '8.1': '12.1',
  '8.2': '12.2',
  '8.3': '12.3',
  '8.4': '12.4',
  '8.5': '12.5',
  '8.7': '12.8',
  '8.8': '12.9',
  '9.0': '13.0',
};

export function ptxRequirement(isa: string): string {
  const cuda = ISA_TO_CUDA[isa];
  return cuda ? `the kernels are PTX ISA ${isa}: they need a driver for CUDA ${cuda} or newer` : `the kernels are PTX ISA ${isa}`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function deviceInfo(driver: CudaDriver, device: number): CudaDeviceInfo {
  const version = driver.driverVersion();
  return {
    name: driver.deviceName(device).slice(0, 80),
    totalMemoryBytes: driver.deviceTotalMemoryBytes(device),
    computeCapability: `${driver.deviceAttribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device)}.${driver.deviceAttribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device)}`,
    driverCudaVersion: `${Math.floor(version / 1000)}.${Math.floor((version % 1000) / 10)}`,
  };
}

/**
 * Is there a CUDA device this build can use? Loads the driver, counts devices, and has the driver
 * JIT-compile the kernels once, so that an old driver is found at start-up rather than on the
 * first request. Never throws; the primary context it creates is released again.
 */
export function probeCuda(options: CudaOptions = {}): CudaProbe {
  const libraryPath = options.libraryPath ?? DEFAULT_CUDA_LIBRARY;
  const ordinal = options.ordinal ?? 0;
  let driver: CudaDriver;
  try {
    driver = loadCudaDriver(libraryPath);
  } catch (err) {
    const hint =
      err instanceof CudaUnavailableError && err.missing === 'library' && libraryPath === DEFAULT_CUDA_LIBRARY
        ? ' (no NVIDIA driver mounted: not a GPU node, or no nvidia.com/gpu requested)'
        : '';
    return { ok: false, reason: `${describe(err)}${hint}` };
  }
  try {
    driver.init();
    const count = driver.deviceCount();
    if (count <= ordinal) return { ok: false, reason: `no CUDA device ${ordinal} (${count} found)` };
    const device = driver.device(ordinal);
    const info = deviceInfo(driver, device);
    const ptx = readPtx();
    const context = driver.primaryContextRetain(device);
    try {
      driver.setCurrentContext(context);
      let module: CuModule;
      try {
        module = driver.loadModule(ptx.text);
      } catch (err) {
        return { ok: false, reason: `the driver cannot load the kernels (${describe(err)}); ${ptxRequirement(ptx.isa)}, this one supports CUDA ${info.driverCudaVersion}` };
      }
      try {
        for (const name of CUDA_KERNEL_NAMES) driver.getFunction(module, name);
      } finally {
        driver.unloadModule(module);
      }
      // The segmentation module (background effects) too, so that a driver that cannot load it is found now.
      const segment = driver.loadModule(readSegmentPtx());
      try {
        for (const name of SEGMENT_KERNEL_NAMES) driver.getFunction(segment, name);
      } finally {
        driver.unloadModule(segment);
      }
    } finally {
      driver.setCurrentContext(null);
      driver.primaryContextRelease(device);
    }
    return { ok: true, info };
  } catch (err) {
    if (err instanceof CudaError && err.errorName === 'CUDA_ERROR_NO_DEVICE') return { ok: false, reason: `no CUDA device (${err.message})` };
    return { ok: false, reason: describe(err) };
  }
}
