import os from 'node:os';

/** A short, bounded description of the CPU, for app_device_info and the start-up log. */
export function cpuName(): string {
  return (os.cpus()[0]?.model ?? 'cpu').trim().slice(0, 80);
}
