import type { Config } from '../config.ts';
import { DeviceUnavailableError } from '../errors.ts';
import { probeCuda } from '../cuda/probe.ts';
import type { CudaDeviceInfo, CudaProbe } from '../protocol/cuda-types.ts';
import { cpuName } from '../host.ts';
import type { DeviceKind } from './engine-types.ts';

export interface DeviceChoice {
  readonly device: DeviceKind;
  /** The CPU model, or the GPU's name. */
  readonly name: string;
  /** Why this backend was chosen, for the start-up log. */
  readonly reason: string;
  /** The GPU, when the choice is cuda. */
  readonly gpu?: CudaDeviceInfo;
}

/** DEVICE=cuda on a machine without a usable GPU: the process must not start (in the error catalog). */
export { DeviceUnavailableError };

/**
 * Picks the effect backend from DEVICE / CUDA_WANTED. `auto` uses CUDA when the driver library
 * loads, a device exists and the driver accepts the kernels' PTX, and otherwise the CPU, saying
 * why; `cuda` refuses to start without a usable GPU rather than silently running somewhere else.
 * `probe` is replaceable for tests.
 */
export function chooseDevice(config: Pick<Config, 'device' | 'cudaWanted'>, probe: () => CudaProbe = () => probeCuda()): DeviceChoice {
  const name = cpuName();
  if (config.device === 'cpu' || (config.device === 'auto' && !config.cudaWanted)) {
    return { device: 'cpu', name, reason: config.device === 'cpu' ? 'DEVICE=cpu' : 'CUDA_WANTED=false' };
  }
  const found = probe();
  if (found.ok) {
    return {
      device: 'cuda',
      name: found.info.name,
      gpu: found.info,
      reason: config.device === 'cuda' ? 'DEVICE=cuda' : 'DEVICE=auto: CUDA device found',
    };
  }
  if (config.device === 'cuda') {
    throw new DeviceUnavailableError(`DEVICE=cuda, but there is no usable CUDA device: ${found.reason}. Use DEVICE=auto to fall back to the CPU, or DEVICE=cpu`);
  }
  return { device: 'cpu', name, reason: `DEVICE=auto: no usable CUDA device (${found.reason}), using CPU` };
}
