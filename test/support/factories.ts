import { ObjectId } from 'mongodb';
import type { TestContext } from './test-app.js';
import { call } from './http.js';
import { uniqueName } from './test-app.js';

export interface TestUser {
  id: string;
  email: string;
  password: string;
  token: string;
}

export async function registerUser(
  context: TestContext,
  overrides: { email?: string; name?: string } = {},
): Promise<TestUser> {
  const email = overrides.email ?? `${uniqueName('user')}@example.com`;
  const password = 'correct horse battery';
  const response = await call(context.app, 'POST', '/api/v1/auth/register', {
    body: { email, password, name: overrides.name ?? 'Test User' },
  });
  if (response.status !== 201) {
    throw new Error(`register failed: ${response.status} ${response.text}`);
  }
  return {
    id: response.body.user.id,
    email: email.toLowerCase(),
    password,
    token: response.body.accessToken,
  };
}

export async function login(
  context: TestContext,
  user: Pick<TestUser, 'email' | 'password'>,
): Promise<string> {
  const response = await call(context.app, 'POST', '/api/v1/auth/login', {
    body: { email: user.email, password: user.password },
  });
  if (response.status !== 200) {
    throw new Error(`login failed: ${response.status} ${response.text}`);
  }
  return response.body.accessToken as string;
}

/** A user promoted to admin in the database, with a token carrying the admin role. */
export async function registerAdmin(context: TestContext): Promise<TestUser> {
  const user = await registerUser(context, { name: 'Admin' });
  await context.db
    .collection('users')
    .updateOne({ _id: new ObjectId(user.id) }, { $set: { role: 'admin' } });
  return { ...user, token: await login(context, user) };
}

export async function setCredits(
  context: TestContext,
  userId: string,
  credits: number,
): Promise<void> {
  await context.db
    .collection('users')
    .updateOne({ _id: new ObjectId(userId) }, { $set: { credits } });
}
