import type { IndexDefinition } from '../src/migrations/index-definitions.js';
import type { Migration } from '../src/migrations/migration.js';
import {
  createCollectionWithValidator,
  createIndexIfSupported,
  dropIndexIfExists,
} from '../src/migrations/server-capabilities.js';

const objectId = { bsonType: 'objectId' };

/**
 * Campaigns: the campaigns, their contacts (one per number: the unique index is what drops
 * duplicates) and the do-not-call list.
 */
const INDEXES: IndexDefinition[] = [
  {
    collection: 'campaigns',
    keys: { userId: 1, createdAt: -1 },
    options: { name: 'userId_1_createdAt_-1' },
  },
  {
    collection: 'campaigns',
    keys: { status: 1, lastDispatchAt: 1 },
    options: { name: 'status_1_lastDispatchAt_1' },
  },
  {
    collection: 'campaigns',
    keys: { webhookPending: 1 },
    options: { name: 'webhookPending_1' },
  },
  {
    collection: 'campaigncontacts',
    keys: { campaignId: 1, phone: 1 },
    options: { name: 'campaignId_1_phone_1', unique: true },
  },
  {
    collection: 'campaigncontacts',
    keys: { campaignId: 1, state: 1, nextAttemptAt: 1 },
    options: { name: 'campaignId_1_state_1_nextAttemptAt_1' },
  },
  {
    collection: 'campaigncontacts',
    keys: { campaignId: 1, _id: 1 },
    options: { name: 'campaignId_1__id_1' },
  },
  {
    collection: 'campaigncontacts',
    keys: { userId: 1, phone: 1, state: 1 },
    options: { name: 'userId_1_phone_1_state_1' },
  },
  {
    collection: 'campaigncontacts',
    keys: { state: 1, 'claim.at': 1 },
    options: { name: 'state_1_claim.at_1' },
  },
  {
    collection: 'dncentries',
    keys: { userId: 1, phone: 1 },
    options: { name: 'userId_1_phone_1', unique: true },
  },
  {
    collection: 'dncentries',
    keys: { userId: 1, createdAt: -1 },
    options: { name: 'userId_1_createdAt_-1' },
  },
];

export const migration: Migration = {
  id: '009-campaigns',
  description: 'Campaigns, their contacts and the do-not-call list',
  async up({ db, logger }) {
    await createCollectionWithValidator(
      db,
      'campaigns',
      {
        $jsonSchema: {
          bsonType: 'object',
          required: ['userId', 'name', 'agentId', 'phoneIds', 'schedule', 'status'],
          properties: {
            userId: objectId,
            agentId: objectId,
            name: { bsonType: 'string', maxLength: 200 },
            phoneIds: { bsonType: 'array', items: objectId },
            maxConcurrentCalls: { bsonType: 'number', minimum: 1 },
            status: {
              enum: ['draft', 'scheduled', 'running', 'paused', 'completed', 'canceled'],
            },
          },
        },
      },
      logger,
    );
    await createCollectionWithValidator(
      db,
      'campaigncontacts',
      {
        $jsonSchema: {
          bsonType: 'object',
          required: ['campaignId', 'userId', 'phone', 'state', 'attempts', 'nextAttemptAt'],
          properties: {
            campaignId: objectId,
            userId: objectId,
            phone: { bsonType: 'string' },
            state: {
              enum: [
                'pending',
                'dialing',
                'calling',
                'completed',
                'failed',
                'blocked',
                'canceled',
                'expired',
              ],
            },
            attempts: { bsonType: 'number', minimum: 0 },
          },
        },
      },
      logger,
    );
    await createCollectionWithValidator(
      db,
      'dncentries',
      {
        $jsonSchema: {
          bsonType: 'object',
          required: ['userId', 'phone'],
          properties: { userId: objectId, phone: { bsonType: 'string' } },
        },
      },
      logger,
    );
    for (const definition of INDEXES) {
      await createIndexIfSupported(db, definition, logger);
    }
  },
  /** Drops the indexes; the collections and their data stay (as migration 007 does). */
  async down({ db }) {
    for (const definition of INDEXES) {
      await dropIndexIfExists(db, definition.collection, definition.options.name);
    }
  },
};
