import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EffectEngine, JobOptions, JobTimings } from '../../engine/engine-types.ts';
import type { MemoryReservation } from '../../engine/memory-budget.ts';
import { badRequest, OverloadedError, tooLarge, unprocessable, unsupportedMediaType } from '../../errors.ts';
import { decodeImage, encodeImage, IMAGE_TYPES, type ImageFormat } from '../../frames/codec.ts';
import type { FrameLayout } from '../../frames/layout.ts';
import { layoutOf, parseProcessQuery, type ProcessLimits, type ProcessQuery } from '../process-query.ts';
import type { RefusalHold } from '../refusal-hold.ts';

export interface ProcessRouteOptions {
  readonly engine: EffectEngine;
  readonly limits: ProcessLimits;
  readonly maxBodyBytes: number;
  /** REQUEST_DEADLINE_SECONDS: a job not done this long after its request arrived is stopped (503). */
  readonly requestDeadlineSeconds: number;
  /** Holds the waiting room's refusals (REFUSAL_HOLD_SECONDS). */
  readonly refusals: RefusalHold;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** /process: the bytes this request holds against MEMORY_BUDGET_BYTES (released when the response closes). */
    memoryReservation?: MemoryReservation;
    /** /process: aborted when the client goes away before its answer is sent. */
    clientGone?: AbortSignal;
  }
}

const RAW_TYPE = 'application/octet-stream';

function timingJson(engine: EffectEngine, query: ProcessQuery, layout: FrameLayout, timings: JobTimings, reply: FastifyReply) {
  return {
    ok: true,
    device: engine.device,
    pixels: `${layout.width}x${layout.height}`,
    iters: query.job.iters,
    effect: query.job.effect,
    params: query.job.params,
    format: layout.format,
    duration_sec: reply.elapsedTime / 1000,
    queue_sec: timings.queueSeconds,
    compute_sec: timings.computeSeconds,
    checksum: timings.checksum,
  };
}

const contentTypeOf = (request: FastifyRequest): string => (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();

function wantsJson(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('application/json');
}

/**
 * `GET|POST /process`: the seed's endpoint. Without a body it processes the engine's test card of
 * `pixels`; with an image body it processes that image and answers with the image (or the timing
 * JSON when the client accepts only JSON).
 */
export async function processRoutes(app: FastifyInstance, options: ProcessRouteOptions): Promise<void> {
  const { engine, limits } = options;

  app.addContentTypeParser(
    [...Object.keys(IMAGE_TYPES), RAW_TYPE],
    { parseAs: 'buffer', bodyLimit: options.maxBodyBytes },
    (_request, body, done) => done(null, body),
  );
  // Seed users' tools send no body but a type (`hey -m POST`: text/html, `curl -d ''`: a form):
  // an empty body of any type processes the test card; any other body of another type is 415,
  // answered before a byte of it is read.
  app.addContentTypeParser('*', (request, _payload, done) => {
    if (request.headers['content-length'] === '0') return done(null, undefined);
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim();
    done(unsupportedMediaType(`Content-Type must be ${[...Object.keys(IMAGE_TYPES), RAW_TYPE].join(', ')} or the body empty, got ${JSON.stringify(type.slice(0, 60))}`));
  });

  /**
   * Before Fastify reads a byte of the body: refuse what is declared too large (413) or does not fit
   * the in-flight byte budget (503, reason memory), else reserve it; and watch for the client going
   * away. A refusal closes the connection so that the client stops sending.
   */
  const admitBody = async (request: FastifyRequest, reply: FastifyReply) => {
    const gone = new AbortController();
    request.clientGone = gone.signal;
    reply.raw.once('close', () => {
      request.memoryReservation?.release();
      if (!reply.raw.writableFinished) gone.abort();
    });
    const length = request.headers['content-length'];
    const chunked = request.headers['transfer-encoding'] !== undefined;
    if (length === undefined && !chunked) return;
    const declared = length === undefined ? options.maxBodyBytes : Number(length);
    if (!Number.isSafeInteger(declared) || declared < 0) throw badRequest('Content-Length must be a whole number');
    if (declared > options.maxBodyBytes) {
      reply.header('connection', 'close');
      throw tooLarge(`the body declares ${declared} bytes; the limit is ${options.maxBodyBytes} (MAX_BODY_BYTES)`);
    }
    // A raw frame is answered with a copy of itself: reserve both.
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const bytes = type === RAW_TYPE ? 2 * declared : declared;
    const reservation = engine.memory.tryReserve(bytes, request.client);
    if (!reservation) throw memoryFull(bytes, { connection: 'close' });
    request.memoryReservation = reservation;
  };

  const memoryFull = (bytes: number, headers: Record<string, string> = {}) => engine.memoryRefusal(bytes, headers);

  const jobOptions = (request: FastifyRequest, reply: FastifyReply): JobOptions => ({
    ...(request.clientGone ? { signal: request.clientGone } : {}),
    client: request.client,
    deadlineMs: performance.now() - reply.elapsedTime + options.requestDeadlineSeconds * 1000,
  });

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const query = parseProcessQuery(request.query as Record<string, unknown>, limits);
    const body = request.body;
    if (!Buffer.isBuffer(body) || body.length === 0) {
      const layout = layoutOf(query, limits);
      const timings = await engine.processSynthetic(layout, query.job, jobOptions(request, reply));
      return timingJson(engine, query, layout, timings, reply);
    }
    // A chunked body reserved MAX_BODY_BYTES: keep what it turned out to be.
    const reservation = request.memoryReservation;
    reservation?.shrinkTo(contentTypeOf(request) === RAW_TYPE ? 2 * body.length : body.length);

    const contentType = contentTypeOf(request);
    let layout: FrameLayout;
    let pixels: Uint8Array;
    let imageFormat: ImageFormat | undefined;
    if (contentType === RAW_TYPE) {
      if (!query.size) throw badRequest('a raw RGBA body needs pixels=WxH');
      layout = { format: 'rgba', ...query.size };
      const expected = layout.width * layout.height * 4;
      if (body.length !== expected) {
        throw unprocessable(`a ${layout.width}x${layout.height} RGBA frame is ${expected} bytes, the body has ${body.length}`);
      }
      pixels = body;
    } else {
      imageFormat = IMAGE_TYPES[contentType]!;
      // The decoded pixels, libvips' working copy and the encoded answer: reserved once the header
      // says the size, before anything is decoded.
      const image = await decodeImage(body, imageFormat, { maxPixels: limits.maxPixels, setting: 'MAX_PIXELS' }, (width, height) => {
        const bytes = 3 * width * height * 4;
        if (!reservation?.grow(bytes)) throw memoryFull(bytes);
      });
      layout = { format: 'rgba', width: image.width, height: image.height };
      pixels = image.pixels;
    }

    const json = wantsJson(request);
    return engine.processFrame(
      layout,
      query.job,
      pixels,
      async (output, timings) => {
        if (json) return timingJson(engine, query, layout, timings, reply);
        reply.header('x-duration-sec', (reply.elapsedTime / 1000).toFixed(6));
        if (imageFormat) {
          reply.type(`image/${imageFormat}`);
          return encodeImage(output, layout.width, layout.height, imageFormat);
        }
        reply.type(RAW_TYPE);
        // The frame buffer goes back to the pool once this returns: the reply gets its own copy.
        return Buffer.from(output);
      },
      jobOptions(request, reply),
    );
  };

  // The waiting room's refusals are held (refusal-hold.ts): a storm of clients that retry at once
  // then costs this thread a request per hold per connection.
  const heldHandler = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      return await handler(request, reply);
    } catch (err) {
      if (err instanceof OverloadedError && (err.reason === 'queue_full' || err.reason === 'queue_timeout')) await options.refusals.hold(reply);
      throw err;
    }
  };

  app.get('/process', { onRequest: admitBody }, heldHandler);
  app.post('/process', { onRequest: admitBody }, heldHandler);
}
