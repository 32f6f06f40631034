// A scripted fetch for the API client tests: each call is matched against the next expectation.

export interface Call {
  method: string;
  path: string;
  body: unknown;
  auth: string | null;
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | Error;
type Handler = (call: Call) => Reply | Promise<Reply>;

export class FakeServer {
  calls: Call[] = [];
  private routes: { method: string; path: string; handler: Handler }[] = [];

  on(method: string, path: string, handler: Handler | Reply): this {
    this.routes.push({ method, path, handler: typeof handler === 'function' ? handler : () => handler });
    return this;
  }

  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const path = url.replace(/^\/api\/v1/, '');
    const method = init?.method ?? 'GET';
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const call: Call = {
      method,
      path,
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
      auth: headers.authorization ?? null,
    };
    this.calls.push(call);
    const route = this.routes.find((r) => r.method === method && r.path === path);
    if (!route) return json(404, { code: 'not_found', message: 'no such route' });
    const reply = await route.handler(call);
    if (reply instanceof Error) throw reply;
    return json(reply.status, reply.body, reply.headers);
  };
}

export function json(status: number, body?: unknown, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 || body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

export const ME = {
  id: '0193aaaa-0000-7000-8000-000000000001',
  username: 'alice',
  display_name: 'Alice',
  role: 'owner',
  totp_enabled: false,
  created_at: '2026-11-28T10:00:00Z',
};

/** A token pair valid for `ttlMs` from `now`, named `n` so that tests can tell them apart. */
export function pair(n: number, now: number, ttlMs = 900_000) {
  return {
    access_token: `access-${n}`,
    access_token_expires_at: new Date(now + ttlMs).toISOString(),
    refresh_token: `refresh-${n}`,
    session_id: 'session-1',
  };
}
