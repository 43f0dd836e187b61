import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EffectEngine, JobTimings } from '../../engine/engine-types.ts';
import { badRequest, unprocessable } from '../../errors.ts';
import { decodeImage, encodeImage, IMAGE_TYPES, type ImageFormat } from '../../frames/codec.ts';
import type { FrameLayout } from '../../frames/layout.ts';
import { layoutOf, parseProcessQuery, type ProcessLimits, type ProcessQuery } from '../process-query.ts';

export interface ProcessRouteOptions {
  readonly engine: EffectEngine;
  readonly limits: ProcessLimits;
  readonly maxBodyBytes: number;
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

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const query = parseProcessQuery(request.query as Record<string, unknown>, limits);
    const body = request.body;
    if (!Buffer.isBuffer(body) || body.length === 0) {
      const layout = layoutOf(query, limits);
      const timings = await engine.processSynthetic(layout, query.job);
      return timingJson(engine, query, layout, timings, reply);
    }

    const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
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
      const image = await decodeImage(body, imageFormat, limits.maxPixels);
      layout = { format: 'rgba', width: image.width, height: image.height };
      pixels = image.pixels;
    }

    const json = wantsJson(request);
    return engine.processFrame(layout, query.job, pixels, async (output, timings) => {
      if (json) return timingJson(engine, query, layout, timings, reply);
      reply.header('x-duration-sec', (reply.elapsedTime / 1000).toFixed(6));
      if (imageFormat) {
        reply.type(`image/${imageFormat}`);
        return encodeImage(output, layout.width, layout.height, imageFormat);
      }
      reply.type(RAW_TYPE);
      // The frame buffer goes back to the pool once this returns: the reply gets its own copy.
      return Buffer.from(output);
    });
  };

  app.get('/process', handler);
  app.post('/process', handler);
}
