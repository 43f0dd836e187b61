/**
 * A live WebRTC session beside the flood: a WHIP publisher sending a moving 720p card at 30 fps and
 * counting the processed frames that come back, so the bench can say what fps a call keeps while
 * HTTP clients storm the pod.
 */
import { i420Frame, type I420Frame } from '../../tools/rtc-load/client/i420.ts';
import { WhipPublisher } from '../../tools/rtc-load/client/whip.ts';

const FPS = 30;

function cards(width: number, height: number, count: number): I420Frame[] {
  return Array.from({ length: count }, (_, i) =>
    i420Frame(width, height, (plane, x, y) => (plane === 0 ? ((x + y + i * 8) & 127) + ((((x + i * 8) >> 5) ^ (y >> 5)) & 1 ? 40 : 0) : 128)),
  );
}

export class LiveSession {
  readonly #publisher: WhipPublisher;
  readonly #stopFrames: () => void;
  #returned = 0;

  private constructor(publisher: WhipPublisher, frames: readonly I420Frame[]) {
    this.#publisher = publisher;
    publisher.peer.on('frame', () => this.#returned++);
    this.#stopFrames = publisher.startFrames(FPS, (n) => frames[n % frames.length]!);
  }

  static async start(baseUrl: string, width = 1280, height = 720): Promise<LiveSession> {
    const publisher = await WhipPublisher.publish(`${baseUrl}/whip?effect=blur&iters=1`);
    return new LiveSession(publisher, cards(width, height, 16));
  }

  /** Frames returned per second over the next `seconds`. */
  async fpsOver(seconds: number): Promise<number> {
    const before = this.#returned;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return (this.#returned - before) / seconds;
  }

  async close(): Promise<void> {
    this.#stopFrames();
    await this.#publisher.close().catch(() => undefined);
  }
}

/** Offers a WHIP session and ends it at once: its status (201 when admitted). */
export async function offerStatus(baseUrl: string): Promise<number> {
  try {
    const publisher = await WhipPublisher.publish(`${baseUrl}/whip?effect=invert`);
    await publisher.close();
    return 201;
  } catch (err) {
    return (err as { status?: number }).status ?? 0;
  }
}
