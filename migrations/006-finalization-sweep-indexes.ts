import type { IndexDefinition } from '../src/migrations/index-definitions.js';
import type { Migration } from '../src/migrations/migration.js';
import {
  createIndexIfSupported,
  dropIndexIfExists,
} from '../src/migrations/server-capabilities.js';

/**
 * The reconciliation cron's two queries on call logs, which run every few minutes whatever the
 * size of the collection: calls whose effect markers can be swept (`markersPending` with
 * `finalizedAt` past the retention) and terminal calls never finalized (`finalizedAt` absent,
 * `updatedAt` older than the grace period). Without these indexes each is a collection scan.
 */
const INDEXES: IndexDefinition[] = [
  {
    collection: 'calllogs',
    keys: { markersPending: 1, finalizedAt: 1 },
    options: { name: 'markersPending_1_finalizedAt_1' },
  },
  {
    collection: 'calllogs',
    keys: { finalizedAt: 1, updatedAt: 1 },
    options: { name: 'finalizedAt_1_updatedAt_1' },
  },
];

export const migration: Migration = {
  id: '006-finalization-sweep-indexes',
  description: 'Index the call logs for the marker sweep and the search for unfinalized calls',
  async up({ db, logger }) {
    for (const definition of INDEXES) {
      await createIndexIfSupported(db, definition, logger);
    }
  },
  async down({ db }) {
    for (const definition of INDEXES) {
      await dropIndexIfExists(db, definition.collection, definition.options.name);
    }
  },
};
