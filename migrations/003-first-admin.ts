import type { Migration } from '../src/migrations/migration.js';
import { emailTakenAdvice, ensureAdmin } from '../src/users/ensure-admin.js';

export const migration: Migration = {
  id: '003-first-admin',
  description: 'Create the first admin from ADMIN_EMAIL and ADMIN_PASSWORD when both are set',
  async up({ db, config, logger }) {
    const { email, password } = config.admin;
    if (!email || !password) {
      logger.log(
        'ADMIN_EMAIL/ADMIN_PASSWORD not set: no admin created (use "npm run cli -- create-admin" later)',
      );
      return;
    }
    const outcome = await ensureAdmin(db, email, password, config.bcryptRounds);
    if (outcome === 'email-taken') {
      // Not fatal: the rest of the deployment must not wait for the operator's decision.
      logger.warn(`first admin not created: ${emailTakenAdvice(email)}`);
      return;
    }
    logger.log(`first admin ${email}: ${outcome}`);
  },
  async down({ db, config }) {
    // Only an admin this migration created and that was never used is removed.
    if (config.admin.email) {
      await db
        .collection('users')
        .deleteOne({ email: config.admin.email, role: 'admin', lastLoginAt: { $exists: false } });
    }
  },
};
