import type { CreateIndexesOptions, IndexSpecification } from 'mongodb';

export interface IndexDefinition {
  collection: string;
  keys: IndexSpecification;
  options: CreateIndexesOptions & { name: string };
}

const index = (
  collection: string,
  keys: IndexSpecification,
  name: string,
  options: CreateIndexesOptions = {},
): IndexDefinition => ({ collection, keys, options: { ...options, name } });

/** Every index of the schema document (plus users.webhookToken), created by migration 001. */
export const INDEX_DEFINITIONS: IndexDefinition[] = [
  index('users', { email: 1 }, 'email_1', { unique: true }),
  index('users', { createdAt: -1 }, 'createdAt_-1'),
  index('users', { isActive: 1 }, 'isActive_1'),
  index('users', { webhookToken: 1 }, 'webhookToken_1', { unique: true }),

  index('agents', { userId: 1, createdAt: -1 }, 'userId_1_createdAt_-1'),
  index('agents', { userId: 1, isActive: 1 }, 'userId_1_isActive_1'),
  index('agents', { name: 'text' }, 'name_text'),

  index('phones', { number: 1 }, 'number_1', { unique: true }),
  index('phones', { userId: 1, status: 1 }, 'userId_1_status_1'),
  index('phones', { agentId: 1 }, 'agentId_1'),
  index('phones', { tags: 1 }, 'tags_1'),

  index('calllogs', { sessionId: 1 }, 'sessionId_1', { unique: true }),
  index('calllogs', { userId: 1, createdAt: -1 }, 'userId_1_createdAt_-1'),
  index('calllogs', { agentId: 1, createdAt: -1 }, 'agentId_1_createdAt_-1'),
  index('calllogs', { status: 1, createdAt: -1 }, 'status_1_createdAt_-1'),
  index('calllogs', { direction: 1, createdAt: -1 }, 'direction_1_createdAt_-1'),
  index('calllogs', { fromPhone: 1 }, 'fromPhone_1'),
  index('calllogs', { toPhone: 1 }, 'toPhone_1'),
  index('calllogs', { exotelCallSid: 1 }, 'exotelCallSid_1'),
  index('calllogs', { startedAt: -1, endedAt: -1 }, 'startedAt_-1_endedAt_-1'),

  index('sessions', { sessionId: 1 }, 'sessionId_1', { unique: true }),
  index('sessions', { userId: 1, status: 1 }, 'userId_1_status_1'),
  index('sessions', { status: 1, lastActivityAt: -1 }, 'status_1_lastActivityAt_-1'),
  index('sessions', { exotelCallSid: 1 }, 'exotelCallSid_1'),
  index('sessions', { updatedAt: 1 }, 'updatedAt_1_ended_ttl', {
    expireAfterSeconds: 86400,
    partialFilterExpression: { status: 'ended' },
  }),
];
