import type { FastifyInstance, FastifyRequest } from 'fastify';
import { unsupportedMediaType } from '../../errors.ts';
import { decodeImage, IMAGE_TYPES } from '../../frames/codec.ts';
import type { Session } from '../../webrtc/publisher-session.ts';

export interface BackdropRouteOptions {
  readonly sessionOf: (request: FastifyRequest<{ Params: { id: string } }>) => Session;
  readonly maxPixels: number;
  readonly maxBodyBytes: number;
  readonly exempt: object;
}

/**
 * `PUT /whip/{id}/background` (image/png or image/jpeg): the image background-replace puts behind
 * the person in this session; `DELETE` goes back to the colour. Registered inside the WHIP routes,
 * so the same token and CORS rules apply.
 */
export async function backdropRoutes(app: FastifyInstance, options: BackdropRouteOptions): Promise<void> {
  app.addContentTypeParser(Object.keys(IMAGE_TYPES), { parseAs: 'buffer', bodyLimit: options.maxBodyBytes }, (_request, body, done) => done(null, body));

  app.put<{ Params: { id: string } }>('/whip/:id/background', { config: options.exempt }, async (request, reply) => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const format = IMAGE_TYPES[type];
    if (!format || !Buffer.isBuffer(request.body)) throw unsupportedMediaType('the background must be image/png or image/jpeg');
    const session = options.sessionOf(request);
    const image = await decodeImage(request.body, format, options.maxPixels);
    session.setBackdrop({ width: image.width, height: image.height, rgba: image.pixels });
    return reply.code(204).send();
  });

  app.delete<{ Params: { id: string } }>('/whip/:id/background', { config: options.exempt }, async (request, reply) => {
    options.sessionOf(request).setBackdrop(undefined);
    return reply.code(204).send();
  });
}
