import type { IndexDefinition } from '../src/migrations/index-definitions.js';
import type { Migration } from '../src/migrations/migration.js';
import {
  createIndexIfSupported,
  dropIndexIfExists,
} from '../src/migrations/server-capabilities.js';

/**
 * Recording copies: the sweep's query for copies recorded as due but never done
 * (`recordingPending` with `finalizedAt` past the grace period) and the retention job's query
 * for stored copies past their days (`recording.state`, `recording.storedAt`).
 */
const INDEXES: IndexDefinition[] = [
  {
    collection: 'calllogs',
    keys: { recordingPending: 1, finalizedAt: 1 },
    options: { name: 'recordingPending_1_finalizedAt_1' },
  },
  {
    collection: 'calllogs',
    keys: { 'recording.state': 1, 'recording.storedAt': 1 },
    options: { name: 'recording.state_1_recording.storedAt_1' },
  },
];

export const migration: Migration = {
  id: '008-recordings',
  description: 'Index the call logs for recording copies still due and for recording retention',
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
