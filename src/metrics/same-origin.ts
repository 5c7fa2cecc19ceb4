import type { IncomingHttpHeaders } from 'node:http';

/**
 * Whether a browser sent this request from one of our own pages. Browsers mark every request
 * with `Sec-Fetch-Site`, and a cross-site page cannot forge it; older ones send `Origin` on
 * state-changing requests, compared with the host the request was addressed to (the scheme is
 * left out: behind a TLS-terminating proxy the app itself sees plain HTTP). A request with
 * neither header is refused, since a cookie alone must never be enough to change state.
 */
export function isSameOriginRequest(headers: IncomingHttpHeaders): boolean {
  const fetchSite = headers['sec-fetch-site'];
  if (typeof fetchSite === 'string') {
    return fetchSite === 'same-origin';
  }
  const origin = headers.origin;
  const host = headers.host;
  if (typeof origin !== 'string' || typeof host !== 'string') {
    return false;
  }
  try {
    const source = new URL(origin);
    // Read with the origin's scheme so a default port written out (`:443`) still compares equal.
    return source.host === new URL(`${source.protocol}//${host}`).host;
  } catch {
    return false;
  }
}
