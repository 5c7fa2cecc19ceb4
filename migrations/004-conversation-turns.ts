import type { Migration } from '../src/migrations/migration.js';
import type { IndexDefinition } from '../src/migrations/index-definitions.js';
import {
  createCollectionWithValidator,
  createIndexIfSupported,
  dropIndexIfExists,
} from '../src/migrations/server-capabilities.js';

const INDEXES: IndexDefinition[] = [
  {
    collection: 'conversationturns',
    keys: { sessionId: 1, _id: 1 },
    options: { name: 'sessionId_1__id_1' },
  },
  { collection: 'conversationturns', keys: { createdAt: 1 }, options: { name: 'createdAt_1' } },
];

export const migration: Migration = {
  id: '004-conversation-turns',
  description: 'Keep every conversation turn in its own collection; sessions keep the latest',
  async up({ db, logger }) {
    await createCollectionWithValidator(
      db,
      'conversationturns',
      {
        $jsonSchema: {
          bsonType: 'object',
          required: ['sessionId', 'userId', 'role', 'content', 'timestamp'],
          properties: {
            sessionId: { bsonType: 'string' },
            userId: { bsonType: 'objectId' },
            role: { enum: ['user', 'assistant', 'system'] },
            content: { bsonType: 'string' },
            timestamp: { bsonType: 'date' },
          },
        },
      },
      logger,
    );
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
