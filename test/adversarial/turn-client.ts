/**
 * Just enough of a TURN client (RFC 8656 over UDP, long-term credentials, RFC 8489 message integrity)
 * to ask a real relay what it allows: an allocation with given credentials, then a permission to
 * relay to a peer address. Its answers are the relay's own (success, 401, 403).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';

const COOKIE = 0x2112a442;
const ATTR = { username: 0x0006, integrity: 0x0008, errorCode: 0x0009, realm: 0x0014, nonce: 0x0015, xorPeer: 0x0012, transport: 0x0019, lifetime: 0x000d } as const;
const METHOD = { allocate: 0x003, refresh: 0x004, createPermission: 0x008 } as const;

interface Message {
  readonly cls: 'success' | 'error';
  readonly attrs: Map<number, Buffer>;
}

/** The outcome of a request: 'ok', or the relay's error code (401, 403, 438, …). */
export type TurnAnswer = 'ok' | number;

function encode(method: number, attrs: [number, Buffer][], key?: Buffer): Buffer {
  const body: Buffer[] = [];
  for (const [type, value] of attrs) {
    const header = Buffer.alloc(4);
    header.writeUInt16BE(type, 0);
    header.writeUInt16BE(value.length, 2);
    body.push(header, value, Buffer.alloc((4 - (value.length % 4)) % 4));
  }
  let payload = Buffer.concat(body);
  const head = Buffer.alloc(20);
  head.writeUInt16BE(method, 0); // class "request": no class bits
  head.writeUInt32BE(COOKIE, 4);
  randomBytes(12).copy(head, 8);
  if (key) {
    // MESSAGE-INTEGRITY covers the message up to itself, with the length counting it (24 bytes).
    head.writeUInt16BE(payload.length + 24, 2);
    const mac = createHmac('sha1', key).update(Buffer.concat([head, payload])).digest();
    const integrity = Buffer.alloc(4);
    integrity.writeUInt16BE(ATTR.integrity, 0);
    integrity.writeUInt16BE(20, 2);
    payload = Buffer.concat([payload, integrity, mac]);
  }
  head.writeUInt16BE(payload.length, 2);
  return Buffer.concat([head, payload]);
}

function decode(packet: Buffer): Message & { readonly txid: string } {
  const type = packet.readUInt16BE(0);
  const cls = (type & 0x0110) === 0x0110 ? 'error' : 'success';
  const attrs = new Map<number, Buffer>();
  for (let at = 20; at + 4 <= packet.length; ) {
    const t = packet.readUInt16BE(at);
    const len = packet.readUInt16BE(at + 2);
    attrs.set(t, packet.subarray(at + 4, at + 4 + len));
    at += 4 + len + ((4 - (len % 4)) % 4);
  }
  return { cls, attrs, txid: packet.subarray(8, 20).toString('hex') };
}

const errorCode = (m: Message): number => {
  const v = m.attrs.get(ATTR.errorCode);
  return v ? (v[2]! & 0x7) * 100 + v[3]! : 0;
};

function xorPeer(ip: string, port: number): Buffer {
  if (!isIPv4(ip)) throw new Error('IPv4 peers only');
  const v = Buffer.alloc(8);
  v.writeUInt8(0x01, 1);
  v.writeUInt16BE(port ^ (COOKIE >>> 16), 2);
  const n = ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
  v.writeUInt32BE((n ^ COOKIE) >>> 0, 4);
  return v;
}

/** One client socket talking to one relay. */
export class TurnClient {
  readonly #socket = dgram.createSocket('udp4');
  readonly #host: string;
  readonly #port: number;
  #realm: Buffer = Buffer.alloc(0);
  #nonce: Buffer = Buffer.alloc(0);
  #key: Buffer | undefined;
  #username: Buffer = Buffer.alloc(0);

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  close(): void {
    this.#socket.close();
  }

  /** An allocation (UDP relay) with `username`/`password`: the first request learns the realm and nonce. */
  async allocate(username: string, password: string): Promise<TurnAnswer> {
    const transport: [number, Buffer] = [ATTR.transport, Buffer.from([17, 0, 0, 0])];
    const first = await this.#send(encode(METHOD.allocate, [transport]));
    if (first.cls === 'success') return 'ok';
    if (errorCode(first) !== 401) return errorCode(first);
    this.#realm = first.attrs.get(ATTR.realm) ?? Buffer.alloc(0);
    this.#nonce = first.attrs.get(ATTR.nonce) ?? Buffer.alloc(0);
    this.#username = Buffer.from(username);
    this.#key = createHash('md5').update(`${username}:${this.#realm.toString()}:${password}`).digest();
    return this.#authenticated(METHOD.allocate, [transport]);
  }

  /** Asks the relay to let `ip` send to and receive from this allocation. */
  createPermission(ip: string): Promise<TurnAnswer> {
    return this.#authenticated(METHOD.createPermission, [[ATTR.xorPeer, xorPeer(ip, 0)]]);
  }

  /** Keeps the allocation (RFC 8656 §7): what a client does every few minutes. */
  refresh(): Promise<TurnAnswer> {
    const lifetime = Buffer.alloc(4);
    lifetime.writeUInt32BE(600);
    return this.#authenticated(METHOD.refresh, [[ATTR.lifetime, lifetime]]);
  }

  async #authenticated(method: number, attrs: [number, Buffer][]): Promise<TurnAnswer> {
    const auth: [number, Buffer][] = [[ATTR.username, this.#username], [ATTR.realm, this.#realm], [ATTR.nonce, this.#nonce]];
    const answer = await this.#send(encode(method, [...attrs, ...auth], this.#key));
    return answer.cls === 'success' ? 'ok' : errorCode(answer);
  }

  #send(packet: Buffer): Promise<Message> {
    const txid = packet.subarray(8, 20).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#socket.off('message', onMessage);
        reject(new Error('no answer from the relay within 3 s'));
      }, 3000);
      const onMessage = (data: Buffer) => {
        const m = decode(data);
        if (m.txid !== txid) return;
        clearTimeout(timer);
        this.#socket.off('message', onMessage);
        resolve(m);
      };
      this.#socket.on('message', onMessage);
      this.#socket.send(packet, this.#port, this.#host);
    });
  }
}
