import type { Migration } from '../src/migrations/migration.js';

export const migration: Migration = {
  id: '002-add-agent-stats',
  description: 'Give every agent zeroed call statistics',
  async up({ db }) {
    await db
      .collection('agents')
      .updateMany(
        { stats: { $exists: false } },
        { $set: { stats: { totalCalls: 0, totalDuration: 0, avgDuration: 0, successRate: 0 } } },
      );
  },
  async down({ db }) {
    await db.collection('agents').updateMany({}, { $unset: { stats: '' } });
  },
};
