import type { IndexDefinition } from '../src/migrations/index-definitions.js';
import type { Migration } from '../src/migrations/migration.js';
import {
  createCollectionWithValidator,
  createIndexIfSupported,
  dropIndexIfExists,
} from '../src/migrations/server-capabilities.js';

const objectId = { bsonType: 'objectId' };

/**
 * Customer webhooks: the endpoints, the delivery log, and on call logs the indexes of the
 * sweep that re-dispatches events recorded but never handed to the delivery queue and re-queues
 * post-call analyses recorded as due but never run.
 */
const INDEXES: IndexDefinition[] = [
  {
    collection: 'webhookendpoints',
    keys: { userId: 1, createdAt: -1 },
    options: { name: 'userId_1_createdAt_-1' },
  },
  {
    collection: 'webhookdeliveries',
    keys: { eventId: 1, endpointId: 1 },
    options: { name: 'eventId_1_endpointId_1', unique: true },
  },
  {
    collection: 'webhookdeliveries',
    keys: { userId: 1, createdAt: -1 },
    options: { name: 'userId_1_createdAt_-1' },
  },
  {
    collection: 'webhookdeliveries',
    keys: { endpointId: 1, createdAt: -1 },
    options: { name: 'endpointId_1_createdAt_-1' },
  },
  {
    collection: 'webhookdeliveries',
    keys: { status: 1, nextAttemptAt: 1 },
    options: { name: 'status_1_nextAttemptAt_1' },
  },
  {
    collection: 'webhookdeliveries',
    keys: { createdAt: 1 },
    options: { name: 'createdAt_1' },
  },
  {
    collection: 'calllogs',
    keys: { webhookPending: 1, updatedAt: 1 },
    options: { name: 'webhookPending_1_updatedAt_1' },
  },
  {
    collection: 'calllogs',
    keys: { analysisPending: 1, finalizedAt: 1 },
    options: { name: 'analysisPending_1_finalizedAt_1' },
  },
];

export const migration: Migration = {
  id: '007-webhooks',
  description: 'Customer webhook endpoints, their delivery log, and the undispatched-events index',
  async up({ db, logger }) {
    await createCollectionWithValidator(
      db,
      'webhookendpoints',
      {
        $jsonSchema: {
          bsonType: 'object',
          required: ['userId', 'url', 'events', 'enabled', 'secret'],
          properties: {
            userId: objectId,
            url: { bsonType: 'string', maxLength: 2048 },
            events: { bsonType: 'array', items: { bsonType: 'string' } },
            enabled: { bsonType: 'bool' },
            secret: { bsonType: 'string' },
          },
        },
      },
      logger,
    );
    await createCollectionWithValidator(
      db,
      'webhookdeliveries',
      {
        $jsonSchema: {
          bsonType: 'object',
          required: ['userId', 'endpointId', 'eventId', 'eventType', 'body', 'status', 'attempts'],
          properties: {
            userId: objectId,
            endpointId: objectId,
            eventId: { bsonType: 'string' },
            eventType: { bsonType: 'string' },
            body: { bsonType: 'string' },
            status: { enum: ['pending', 'delivered', 'failed'] },
            attempts: { bsonType: 'number', minimum: 0 },
          },
        },
      },
      logger,
    );
    for (const definition of INDEXES) {
      await createIndexIfSupported(db, definition, logger);
    }
  },
  /** Drops the indexes; the collections and their data stay (as migration 004 does). */
  async down({ db }) {
    for (const definition of INDEXES) {
      await dropIndexIfExists(db, definition.collection, definition.options.name);
    }
  },
};
