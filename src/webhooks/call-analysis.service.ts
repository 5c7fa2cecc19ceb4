import { Inject, Injectable, Logger } from '@nestjs/common';
import { AgentsRepository } from '../agents/agents.repository.js';
import type { AgentConfig } from '../agents/schemas/agent-config.schema.js';
import { analyzeCall, CallAnalysisError } from '../calls/analysis/call-analysis.js';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import type { CallLogDocument } from '../calls/schemas/call-log.schema.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { ConversationTurnsRepository } from '../sessions/conversation-turns.repository.js';
import { SessionsRepository } from '../sessions/sessions.repository.js';
import { VoiceProviders } from '../voice/voice-providers.js';
import { CallWebhookEvents } from './call-webhook-events.js';

/** Messages an analysis reads at most (the routine cuts long transcripts in the middle). */
const MAX_ANALYSED_MESSAGES = 2000;

export type AnalysisOutcome = 'analyzed' | 'failed' | 'not-due';

/**
 * Runs the post-call analysis of a finalized call with its agent's model (the session's snapshot
 * of the agent config; the agent's current one if the session is gone), and records it under
 * the call log's `metadata.analysis` with the `call.analyzed` event in the same write.
 *
 * Its tokens are not charged: the call was billed once, at finalization, before the analysis
 * exists, and a second charge on a settled call would break "charged exactly once". They are
 * recorded beside the result (`usage`, `cost` at the LLM rate) so the cost stays visible.
 */
@Injectable()
export class CallAnalysisService {
  private readonly logger = new Logger(CallAnalysisService.name);

  constructor(
    private readonly callLogs: CallLogsRepository,
    private readonly sessions: SessionsRepository,
    private readonly turns: ConversationTurnsRepository,
    private readonly agents: AgentsRepository,
    private readonly providers: VoiceProviders,
    private readonly webhookEvents: CallWebhookEvents,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Analyses the call. A vendor failure throws (the job is retried) unless `lastAttempt`, when
   * the failure is recorded as the outcome; an unusable answer is recorded at once.
   */
  async analyze(callLogId: string, lastAttempt: boolean): Promise<AnalysisOutcome> {
    const call = await this.callLogs.findById(callLogId);
    if (!call?.analysisPending) {
      return 'not-due';
    }
    const agent = await this.agentConfigOf(call);
    if (!agent) {
      await this.record(call, { error: { kind: 'unavailable', message: 'the agent is gone' } });
      return 'failed';
    }
    const messages: Array<{ role: 'user' | 'assistant'; content: string }> = [];
    for await (const turn of this.turns.streamForSession(call.sessionId)) {
      if (messages.length >= MAX_ANALYSED_MESSAGES) {
        break;
      }
      if (turn.role === 'user' || turn.role === 'assistant') {
        messages.push({ role: turn.role, content: turn.content });
      }
    }
    try {
      const result = await analyzeCall(this.providers.forAgent(agent).llm, {
        llm: agent.llm,
        analysis: agent.analysis,
        messages,
      });
      await this.record(call, {
        summary: result.summary,
        ...(result.successEvaluation ? { successEvaluation: result.successEvaluation } : {}),
        ...(result.structuredData ? { structuredData: result.structuredData } : {}),
        ...this.usageOf(result.usage),
      });
      return 'analyzed';
    } catch (error) {
      if (!(error instanceof CallAnalysisError)) {
        throw error;
      }
      if (error.kind === 'vendor' && !lastAttempt) {
        throw error;
      }
      this.logger.warn(`analysis of call ${callLogId} failed: ${error.message}`);
      await this.record(call, {
        error: { kind: error.kind, message: error.message },
        ...(error.usage ? this.usageOf(error.usage) : {}),
      });
      return 'failed';
    }
  }

  private async record(call: CallLogDocument, analysis: Record<string, unknown>): Promise<void> {
    const event = await this.webhookEvents.prepare(call, 'call.analyzed', new Date());
    const recorded = await this.callLogs.recordAnalysis(
      call._id,
      { ...analysis, analyzedAt: new Date() },
      event,
    );
    if (recorded && event) {
      await this.webhookEvents.announce(call._id, event);
    }
  }

  private usageOf(usage: { promptTokens: number; completionTokens: number }) {
    const tokens = usage.promptTokens + usage.completionTokens;
    const cost = Math.round((tokens / 1000) * this.config.rates.llmPer1kTokens * 10_000) / 10_000;
    return { usage: { ...usage, cost, charged: false } };
  }

  private async agentConfigOf(call: CallLogDocument): Promise<AgentConfig | undefined> {
    const session = await this.sessions.findBySessionId(call.sessionId);
    if (session) {
      return session.agentConfig;
    }
    return this.agents.readConfig(call.agentId);
  }
}
