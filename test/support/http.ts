import type { NestFastifyApplication } from '@nestjs/platform-fastify';

export interface CallOptions {
  token?: string;
  body?: unknown;
  /** Sent as-is (for malformed or oversized bodies). */
  rawBody?: string;
  headers?: Record<string, string>;
  remoteAddress?: string;
  query?: Record<string, string>;
}

export interface CallResult<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
  text: string;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One HTTP request through the app's real Fastify stack (no socket). */
export async function call<T = any>(
  app: NestFastifyApplication,
  method: Method,
  url: string,
  options: CallOptions = {},
): Promise<CallResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) {
    headers.authorization = `Bearer ${options.token}`;
  }
  let payload: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    payload = JSON.stringify(options.body);
  }
  const response = await app.getHttpAdapter().getInstance().inject({
    method,
    url,
    headers,
    payload,
    query: options.query,
    remoteAddress: options.remoteAddress,
  });
  let body: any;
  try {
    body = response.body === '' ? undefined : JSON.parse(response.body);
  } catch {
    body = response.body;
  }
  return {
    status: response.statusCode,
    body: body as T,
    headers: response.headers,
    text: response.body,
  };
}
