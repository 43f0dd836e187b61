import type { FastifyInstance } from 'fastify';
import { AUDIO_EFFECTS } from '../../audio/pcm.ts';
import { EFFECTS } from '../../effects/catalog.ts';
import type { Metrics } from '../../metrics.ts';
import type { CaptionsAvailability } from '../../webrtc/audio-request.ts';
import { EXEMPT_FROM_PRESSURE } from '../guards.ts';

export interface InfoRouteOptions {
  /** What this pod can caption and translate (probed once, at start-up). */
  readonly captions: () => CaptionsAvailability;
}

/** `GET /effects`: the video effects with their parameters, the audio effects, and the caption languages. */
export async function infoRoutes(app: FastifyInstance, options: InfoRouteOptions): Promise<void> {
  app.get('/effects', async () => {
    const { available, languages, translations } = options.captions();
    return {
      effects: Object.entries(EFFECTS).map(([name, spec]) => ({ name, description: spec.description, params: spec.params })),
      formats: ['rgba', 'i420'],
      audio: { effects: [...AUDIO_EFFECTS], captions: { available, languages: [...languages], translations: [...translations] }, subtitles: available ? ['off', 'burn'] : ['off'] },
    };
  });
}

/** `/metrics`, on the main port or alone on METRICS_PORT. Scrapes never wait behind the pressure guard. */
export async function metricsRoute(app: FastifyInstance, options: { readonly metrics: Metrics }): Promise<void> {
  app.get('/metrics', { config: EXEMPT_FROM_PRESSURE }, async (_request, reply) => {
    reply.type(options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });
}
