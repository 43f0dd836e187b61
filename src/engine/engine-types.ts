/**
 * The engine's types, for its consumers and for the modules behind it (pool, messages, worker):
 * a leaf module, so that they import types, never the implementation.
 */
export type DeviceKind = 'cpu' | 'cuda';

/** The logger methods the engine uses (a pino or Fastify logger fits). */
export interface EngineLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
