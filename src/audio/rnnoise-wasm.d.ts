/** @echogarden/rnnoise-wasm ships no types: the Emscripten module factory, as far as src/audio/rnnoise.ts uses it. */
declare module '@echogarden/rnnoise-wasm' {
  interface RnnoiseModule {
    readonly HEAPF32: Float32Array;
    _rnnoise_get_frame_size(): number;
    /** A state with the model built into the .wasm (null model pointer). */
    _rnnoise_create(model: number): number;
    _rnnoise_destroy(state: number): void;
    /** Denoises one frame in place (`out` may equal `in`); returns the voice probability 0..1. */
    _rnnoise_process_frame(state: number, outPtr: number, inPtr: number): number;
    _malloc(bytes: number): number;
    _free(ptr: number): void;
  }
  const createRnnoise: (options?: Record<string, unknown>) => Promise<RnnoiseModule>;
  export default createRnnoise;
}
