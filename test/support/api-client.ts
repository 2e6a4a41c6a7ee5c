/** Test keys for the server API: one read key, one write key. */
export const READ_SECRET = 'read-key-secret-that-is-at-least-32-chars';
export const WRITE_SECRET = 'write-key-secret-that-is-at-least-32-chars';
export const API_KEYS = `ops:${READ_SECRET}:read,backend:${WRITE_SECRET}:write`;

export interface ApiAnswer {
  status: number;
  headers: Headers;
  body: any;
}

/** Calls the server API of a gateway at `baseUrl` with a key (or none). */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    /** null: no Authorization header. */
    private readonly secret: string | null = WRITE_SECRET,
  ) {}

  with(secret: string | null): ApiClient {
    return new ApiClient(this.baseUrl, secret);
  }

  get(path: string): Promise<ApiAnswer> {
    return this.call('GET', path);
  }

  post(path: string, body: unknown): Promise<ApiAnswer> {
    return this.call('POST', path, body);
  }

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(this.secret === null ? {} : { authorization: `Bearer ${this.secret}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
  }

  /** Every daemon, page after page; fails on an id seen twice. */
  async allDaemons(query = '', limit = 1000): Promise<any[]> {
    const items: any[] = [];
    let cursor: string | null = null;
    do {
      const answer: ApiAnswer = await this.get(`/api/v1/daemons?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`);
      if (answer.status !== 200) throw new Error(`list failed: ${answer.status} ${JSON.stringify(answer.body)}`);
      items.push(...answer.body.items);
      cursor = answer.body.nextCursor;
    } while (cursor !== null);
    const ids = items.map((item) => item.daemonId);
    if (new Set(ids).size !== ids.length) throw new Error(`an id came twice: ${ids.join(',')}`);
    return items;
  }
}
