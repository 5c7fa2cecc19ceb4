import bcrypt from 'bcrypt';
import type { Db } from 'mongodb';
import { passwordProblem } from './password-policy.js';
import { newWebhookToken } from './webhook-token.js';

/**
 * - `created`: a new admin with the operator's password.
 * - `unchanged`: already an active admin (its password is left alone).
 * - `reactivated`: an admin that had been deactivated is active again (password left alone).
 * - `email-taken`: an account that is not an admin has this email; it was not touched.
 */
export type EnsureAdminOutcome = 'created' | 'unchanged' | 'reactivated' | 'email-taken';

const DUPLICATE_KEY = 11000;

/**
 * Makes `email` an active admin the operator created: creates the account with `password`
 * when missing, and re-activates it when it is already an admin. An account that is not an
 * admin is never promoted: registration is open, so whoever signed up with that email first
 * (and chose its password) would otherwise be handed the admin role. Used by migration 003
 * and by `cli create-admin`; the password only ever comes from the operator.
 */
export async function ensureAdmin(
  db: Db,
  email: string,
  password: string,
  bcryptRounds: number,
): Promise<EnsureAdminOutcome> {
  const problem = passwordProblem(password, 'the admin password');
  if (problem !== undefined) {
    throw new Error(problem);
  }
  const users = db.collection('users');
  const normalisedEmail = email.trim().toLowerCase();
  const existing = await users.findOne({ email: normalisedEmail });
  if (existing) {
    if (existing.role !== 'admin') {
      return 'email-taken';
    }
    if (existing.isActive === true) {
      return 'unchanged';
    }
    // Conditional on the role, so an admin demoted meanwhile is not re-activated as one.
    const reactivated = await users.updateOne(
      { _id: existing._id, role: 'admin' },
      { $set: { isActive: true, updatedAt: new Date() } },
    );
    return reactivated.modifiedCount === 1 ? 'reactivated' : 'email-taken';
  }
  const now = new Date();
  try {
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
  } catch (error) {
    // Someone registered the email between the lookup and the insert: theirs, not ours.
    // Checked by code, not class: the Db may come from Mongoose's copy of the driver.
    if (
      typeof error === 'object' &&
      error !== null &&
      'code' in error &&
      error.code === DUPLICATE_KEY
    ) {
      return 'email-taken';
    }
    throw error;
  }
  return 'created';
}

/** What an operator can do when the admin's email already belongs to an ordinary account. */
export function emailTakenAdvice(email: string): string {
  return (
    `${email.trim().toLowerCase()} already belongs to an account that is not an admin; it was left ` +
    'unchanged, since anyone can register any email. Choose another email for the admin, or ' +
    'have an existing admin promote that account (PATCH /api/v1/admin/users/:id {"role": "admin"}) ' +
    'once you have checked that it is yours.'
  );
}
