import bcrypt from 'bcrypt';
import type { Db } from 'mongodb';
import { newWebhookToken } from './webhook-token.js';

export type EnsureAdminOutcome = 'created' | 'promoted' | 'unchanged';

/**
 * Makes `email` an active admin: creates the account with `password` when missing, promotes
 * and re-activates it when present (its password is left alone). Used by migration 003 and
 * by `cli create-admin`; the password only ever comes from the operator.
 */
export async function ensureAdmin(
  db: Db,
  email: string,
  password: string,
  bcryptRounds: number,
): Promise<EnsureAdminOutcome> {
  const users = db.collection('users');
  const normalisedEmail = email.trim().toLowerCase();
  const existing = await users.findOne({ email: normalisedEmail });
  if (existing) {
    if (existing.role === 'admin' && existing.isActive === true) {
      return 'unchanged';
    }
    await users.updateOne(
      { _id: existing._id },
      { $set: { role: 'admin', isActive: true, updatedAt: new Date() } },
    );
    return 'promoted';
  }
  const now = new Date();
  await users.insertOne({
    email: normalisedEmail,
    password: await bcrypt.hash(password, bcryptRounds),
    name: 'Admin',
    role: 'admin',
    credits: 0,
    isActive: true,
    webhookToken: newWebhookToken(),
    createdAt: now,
    updatedAt: now,
  });
  return 'created';
}
