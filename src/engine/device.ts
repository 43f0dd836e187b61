import { ConfigError, type Config } from '../config.ts';
import { cpuName } from '../metrics.ts';
import type { DeviceKind } from './engine.ts';

export interface DeviceChoice {
  readonly device: DeviceKind;
  readonly name: string;
  /** Why this backend was chosen, for the start-up log. */
  readonly reason: string;
}

/**
 * Picks the effect backend from DEVICE / CUDA_WANTED. This build has the CPU (WASM SIMD) backend
 * only, so `auto` settles on it and says why, and `cuda` refuses to start rather than silently
 * running somewhere else.
 */
export function chooseDevice(config: Pick<Config, 'device' | 'cudaWanted'>): DeviceChoice {
  const name = cpuName();
  if (config.device === 'cuda') {
    throw new ConfigError('DEVICE=cuda, but this build has no CUDA backend; use DEVICE=auto or DEVICE=cpu');
  }
  if (config.device === 'cpu' || !config.cudaWanted) {
    return { device: 'cpu', name, reason: config.device === 'cpu' ? 'DEVICE=cpu' : 'CUDA_WANTED=false' };
  }
  return { device: 'cpu', name, reason: 'DEVICE=auto: no CUDA backend in this build, using CPU' };
}
