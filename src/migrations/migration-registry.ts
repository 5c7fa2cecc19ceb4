import { migration as initialSchema } from '../../migrations/001-initial-schema.js';
import { migration as addAgentStats } from '../../migrations/002-add-agent-stats.js';
import { migration as firstAdmin } from '../../migrations/003-first-admin.js';
import { migration as conversationTurns } from '../../migrations/004-conversation-turns.js';
import { migration as dailyCallStats } from '../../migrations/005-daily-call-stats.js';
import { migration as finalizationSweepIndexes } from '../../migrations/006-finalization-sweep-indexes.js';
import { migration as webhooks } from '../../migrations/007-webhooks.js';
import { migration as recordings } from '../../migrations/008-recordings.js';
import { migration as campaigns } from '../../migrations/009-campaigns.js';
import type { Migration } from './migration.js';

/** Every migration, in the order they apply. */
export const MIGRATIONS: readonly Migration[] = [
  initialSchema,
  addAgentStats,
  firstAdmin,
  conversationTurns,
  dailyCallStats,
  finalizationSweepIndexes,
  webhooks,
  recordings,
  campaigns,
];
