import type { Migration } from '../src/migrations/migration.js';
import { INDEX_DEFINITIONS } from '../src/migrations/index-definitions.js';
import {
  createCollectionWithValidator,
  createIndexIfSupported,
  dropIndexIfExists,
} from '../src/migrations/server-capabilities.js';

const objectId = { bsonType: 'objectId' };
const date = { bsonType: 'date' };
const CALL_STATUSES = [
  'initiated',
  'ringing',
  'in-progress',
  'completed',
  'failed',
  'no-answer',
  'busy',
  'canceled',
  'user-ended',
  'agent-ended',
];

// The validators of the schema document; the application validates more strictly.
const VALIDATORS: Record<string, object> = {
  users: {
    $jsonSchema: {
      bsonType: 'object',
      required: ['email', 'password', 'name', 'role'],
      properties: {
        email: { bsonType: 'string', pattern: '^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$' },
        password: { bsonType: 'string' },
        name: { bsonType: 'string', minLength: 1, maxLength: 100 },
        role: { enum: ['user', 'admin'] },
        credits: { bsonType: 'number', minimum: 0 },
        isActive: { bsonType: 'bool' },
      },
    },
  },
  agents: {
    $jsonSchema: {
      bsonType: 'object',
      required: ['userId', 'name', 'config', 'isActive'],
      properties: {
        userId: objectId,
        name: { bsonType: 'string', minLength: 1, maxLength: 100 },
        config: {
          bsonType: 'object',
          required: ['prompt', 'voice', 'language', 'llm'],
          properties: {
            prompt: { bsonType: 'string', minLength: 10, maxLength: 5000 },
            voice: {
              bsonType: 'object',
              required: ['provider', 'voiceId'],
              properties: {
                provider: { enum: ['openai', 'elevenlabs', 'cartesia'] },
                voiceId: { bsonType: 'string' },
              },
            },
            language: { bsonType: 'string' },
            llm: {
              bsonType: 'object',
              required: ['model'],
              properties: {
                model: { enum: ['gpt-4', 'gpt-3.5-turbo', 'gpt-4-turbo'] },
                temperature: { bsonType: 'number', minimum: 0, maximum: 2 },
              },
            },
          },
        },
        isActive: { bsonType: 'bool' },
      },
    },
  },
  phones: {
    $jsonSchema: {
      bsonType: 'object',
      required: ['userId', 'number', 'country', 'provider', 'status'],
      properties: {
        userId: objectId,
        number: { bsonType: 'string', pattern: '^\\+[1-9][0-9]{6,14}$' },
        country: { bsonType: 'string', pattern: '^[A-Z]{2}$' },
        provider: { enum: ['exotel'] },
        status: { enum: ['active', 'inactive'] },
        tags: { bsonType: 'array', maxItems: 10, items: { bsonType: 'string' } },
      },
    },
  },
  calllogs: {
    $jsonSchema: {
      bsonType: 'object',
      required: ['sessionId', 'userId', 'agentId', 'direction', 'status'],
      properties: {
        sessionId: { bsonType: 'string' },
        userId: objectId,
        agentId: objectId,
        direction: { enum: ['inbound', 'outbound'] },
        status: { enum: CALL_STATUSES },
        durationSec: { bsonType: 'number', minimum: 0 },
        costBreakdown: {
          bsonType: 'object',
          properties: { total: { bsonType: 'number', minimum: 0 } },
        },
      },
    },
  },
  sessions: {
    $jsonSchema: {
      bsonType: 'object',
      required: [
        'sessionId',
        'userId',
        'agentId',
        'callLogId',
        'status',
        'startedAt',
        'lastActivityAt',
      ],
      properties: {
        sessionId: { bsonType: 'string' },
        userId: objectId,
        agentId: objectId,
        callLogId: objectId,
        status: { enum: ['active', 'ended'] },
        startedAt: date,
        lastActivityAt: date,
      },
    },
  },
};

export const migration: Migration = {
  id: '001-initial-schema',
  description: 'Create the five collections (with validators where supported) and every index',
  async up({ db, logger }) {
    for (const [name, validator] of Object.entries(VALIDATORS)) {
      await createCollectionWithValidator(db, name, validator, logger);
    }
    for (const definition of INDEX_DEFINITIONS) {
      await createIndexIfSupported(db, definition, logger);
    }
  },
  async down({ db }) {
    for (const definition of INDEX_DEFINITIONS) {
      await dropIndexIfExists(db, definition.collection, definition.options.name);
    }
  },
};
