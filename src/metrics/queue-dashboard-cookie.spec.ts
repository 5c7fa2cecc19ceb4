import { describe, expect, it } from 'vitest';
import {
  clearedSessionCookie,
  readSessionCookie,
  sessionCookie,
} from './queue-dashboard-cookie.js';

describe('queue dashboard cookie', () => {
  it('is HttpOnly, SameSite=Strict, scoped to the dashboard path and short-lived', () => {
    const cookie = sessionCookie('a.b.c', {
      path: '/api/v1/admin/queues',
      secure: false,
      maxAgeSeconds: 900,
    });
    expect(cookie.split('; ')).toEqual([
      'queue_dashboard_session=a.b.c',
      'Path=/api/v1/admin/queues',
      'Max-Age=900',
      'HttpOnly',
      'SameSite=Strict',
    ]);
  });

  it('is Secure when asked (production)', () => {
    const cookie = sessionCookie('a.b.c', { path: '/', secure: true, maxAgeSeconds: 900 });
    expect(cookie.split('; ')).toContain('Secure');
  });

  it('is cleared with an empty value that expires at once, on the same path', () => {
    const cleared = clearedSessionCookie({ path: '/api/v1/admin/queues', secure: true });
    expect(cleared).toMatch(/^queue_dashboard_session=; Path=\/api\/v1\/admin\/queues; Max-Age=0;/);
    expect(cleared).toContain('Secure');
  });

  it('is read from a Cookie header among others, and only by its exact name', () => {
    expect(readSessionCookie('theme=dark; queue_dashboard_session=x.y.z; lang=en')).toBe('x.y.z');
    expect(readSessionCookie('xqueue_dashboard_session=x.y.z')).toBeUndefined();
    expect(readSessionCookie('queue_dashboard_session=')).toBeUndefined();
    expect(readSessionCookie(undefined)).toBeUndefined();
  });
});
