import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import type { AuthService } from '../auth/auth.service.js';
import type { DashboardSessionTokens } from '../auth/dashboard-session-tokens.js';
import type { AppConfig } from '../config/app-config.js';
import type { UserDocument } from '../users/schemas/user.schema.js';
import { QueueDashboardSignInService } from './queue-dashboard-sign-in.service.js';
import { QueueDashboardErrorCode } from './queue-dashboard.exception.js';
import type { QueueDashboardPaths } from './queue-dashboard.paths.js';

const paths = {
  dashboard: '/api/v1/admin/queues',
  signIn: '/api/v1/admin/queue-dashboard/sign-in',
  signOut: '/api/v1/admin/queue-dashboard/sign-out',
} as QueueDashboardPaths;

function serviceFor(
  env: AppConfig['env'],
  role: UserDocument['role'],
): { service: QueueDashboardSignInService; issued: string[] } {
  const issued: string[] = [];
  const auth = {
    verifyCredentials: () => Promise.resolve({ _id: new Types.ObjectId(), role }),
  } as unknown as AuthService;
  const sessions = {
    issue: (userId: string) => {
      issued.push(userId);
      return Promise.resolve('session.token.value');
    },
  } as unknown as DashboardSessionTokens;
  const config = { env } as AppConfig;
  return { service: new QueueDashboardSignInService(auth, sessions, paths, config), issued };
}

function cookieJar(): { header(name: 'set-cookie', value: string): void; cookies: string[] } {
  const cookies: string[] = [];
  return { cookies, header: (_name, value) => cookies.push(value) };
}

const fromTheForm = { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } };
const credentials = { email: 'admin@example.com', password: 'correct horse battery' };

describe('QueueDashboardSignInService', () => {
  it('marks the cookie Secure in production and sends the admin on to the dashboard', async () => {
    const { service } = serviceFor('production', 'admin');
    const reply = cookieJar();
    const redirect = await service.signIn(credentials, fromTheForm, reply);
    expect(redirect).toEqual({ url: paths.dashboard, statusCode: 303 });
    expect(reply.cookies).toHaveLength(1);
    expect(reply.cookies[0]?.split('; ')).toEqual(
      expect.arrayContaining(['queue_dashboard_session=session.token.value', 'Secure']),
    );
  });

  it('leaves Secure out in development, where the app is served over plain HTTP', async () => {
    const { service } = serviceFor('development', 'admin');
    const reply = cookieJar();
    await service.signIn(credentials, fromTheForm, reply);
    expect(reply.cookies[0]?.split('; ')).not.toContain('Secure');
  });

  it('refuses a user who is not an admin without issuing a session', async () => {
    const { service, issued } = serviceFor('production', 'user');
    const reply = cookieJar();
    await expect(service.signIn(credentials, fromTheForm, reply)).rejects.toMatchObject({
      code: QueueDashboardErrorCode.AdminRequired,
      status: 403,
    });
    expect(issued).toEqual([]);
    expect(reply.cookies).toEqual([]);
  });

  it('refuses a form posted from another site before looking at the credentials', async () => {
    const { service, issued } = serviceFor('production', 'admin');
    const reply = cookieJar();
    const crossSite = { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } };
    await expect(service.signIn(credentials, crossSite, reply)).rejects.toMatchObject({
      code: QueueDashboardErrorCode.CrossSiteRequest,
    });
    expect(issued).toEqual([]);
    expect(reply.cookies).toEqual([]);
  });
});
