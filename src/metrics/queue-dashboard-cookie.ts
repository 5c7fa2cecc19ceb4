/** The cookie that carries a dashboard session token; sent only to the dashboard's paths. */
export const QUEUE_DASHBOARD_COOKIE = 'queue_dashboard_session';

export interface SessionCookieOptions {
  path: string;
  secure: boolean;
  maxAgeSeconds: number;
}

/** The session cookie's value from a Cookie header, if present. */
export function readSessionCookie(header: string | undefined): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const separator = pair.indexOf('=');
    if (separator > 0 && pair.slice(0, separator).trim() === QUEUE_DASHBOARD_COOKIE) {
      const value = pair.slice(separator + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

/**
 * A Set-Cookie value: HttpOnly so page scripts cannot read it, SameSite=Strict so no other site
 * can make the browser send it, Secure wherever the app is served over HTTPS.
 */
export function sessionCookie(value: string, options: SessionCookieOptions): string {
  return [
    `${QUEUE_DASHBOARD_COOKIE}=${value}`,
    `Path=${options.path}`,
    `Max-Age=${options.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

export function clearedSessionCookie(options: Omit<SessionCookieOptions, 'maxAgeSeconds'>): string {
  return `${sessionCookie('', { ...options, maxAgeSeconds: 0 })}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
}
