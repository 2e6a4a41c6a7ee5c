import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WEBHOOK_TOLERANCE_SECONDS, type WebhookEvent } from '@arbor/gateway-client/protocol';

export const WEBHOOK_TEST_SECRET = 'webhook-test-secret-at-least-32-characters';

/** Verifies `Arbor-Signature` as docs/webhooks.md tells receivers to. */
export function verifySignature(secret: string, header: string | undefined, body: string, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const t = Number(match[1]);
  if (Math.abs(nowSeconds - t) > WEBHOOK_TOLERANCE_SECONDS) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2], 'hex'));
}

/** A real HTTP receiver on 127.0.0.1: records each POST, can fail on purpose, stop and start again on the same port. */
export class WebhookReceiver {
  readonly received: Array<{ event: WebhookEvent; signatureValid: boolean; raw: string; signature: string | undefined }> = [];
  /** Answers this status while set (else 204). */
  failWith: number | undefined;
  private server: Server | undefined;
  port = 0;

  constructor(private readonly secret = WEBHOOK_TEST_SECRET) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/arbor`;
  }

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        if (this.failWith !== undefined) {
          response.writeHead(this.failWith).end();
          return;
        }
        const header = request.headers['arbor-signature'];
        const signature = Array.isArray(header) ? header[0] : header;
        this.received.push({ event: JSON.parse(raw) as WebhookEvent, signatureValid: verifySignature(this.secret, signature, raw), raw, signature });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Events for one daemon, in (epoch, transition) order, as a receiver would sort them. */
  eventsOf(daemonId: string): WebhookEvent[] {
    return this.received
      .map((entry) => entry.event)
      .filter((event) => event.daemonId === daemonId)
      .sort((a, b) => a.epoch - b.epoch || a.transition - b.transition);
  }
}
