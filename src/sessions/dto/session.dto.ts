import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import { AgentConfigDto } from '../../agents/dto/agent-config.dto.js';
import { PageMetaDto, PaginationQueryDto } from '../../common/pagination/pagination.js';
import {
  MESSAGE_ROLES,
  type MessageRole,
  SESSION_STATUSES,
  type SessionStatus,
} from '../schemas/session.schema.js';

export class ListSessionsQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: SESSION_STATUSES })
  @IsOptional()
  @IsIn(SESSION_STATUSES)
  status?: SessionStatus;
}

export class SessionIdParamDto {
  @ApiProperty({ example: 'sess_3f9a1c2b7d4e5f60718293a4' })
  @IsString()
  @Length(6, 80)
  @Matches(/^sess_[\w-]+$/, { message: 'sessionId must look like sess_...' })
  sessionId: string;
}

export class ConversationMessageResponse {
  @ApiProperty({ enum: MESSAGE_ROLES }) role: MessageRole;
  @ApiProperty({ example: 'I need help with my order' }) content: string;
  @ApiProperty({ type: String, format: 'date-time' }) timestamp: Date;
}

export class SessionUsageResponse {
  @ApiProperty({ example: 42.5, description: 'Seconds of caller audio sent to speech-to-text' })
  sttSeconds: number;
  @ApiProperty({ example: 1830, description: 'Model tokens, prompt and completion' })
  llmTokens: number;
  @ApiProperty({ example: 1610 }) llmPromptTokens: number;
  @ApiProperty({ example: 220 }) llmCompletionTokens: number;
  @ApiProperty({ example: 412, description: 'Characters sent to text-to-speech' })
  ttsCharacters: number;
}

export class TurnLatencyResponse {
  @ApiPropertyOptional({ description: 'End of caller speech to the final transcript (ms)' })
  sttFinalMs?: number;
  @ApiPropertyOptional({ description: "Caller turn taken to the model's first token (ms)" })
  llmFirstTokenMs?: number;
  @ApiPropertyOptional({ description: 'First sentence sent to speech to its first audio (ms)' })
  ttsFirstAudioMs?: number;
  @ApiPropertyOptional({ description: 'End of caller speech to the first agent audio sent (ms)' })
  firstAudioSentMs?: number;
}

export class SessionResponse {
  @ApiProperty({ example: 'sess_3f9a1c2b7d4e5f60718293a4' }) sessionId: string;
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d3' }) callLogId: string;
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d1' }) agentId: string;
  @ApiProperty({ example: '+919123456789' }) userPhone: string;
  @ApiProperty({ example: '+919876543210' }) agentPhone: string;
  @ApiProperty({ type: AgentConfigDto }) agentConfig: AgentConfigDto;
  @ApiProperty({ type: [ConversationMessageResponse] })
  conversationHistory: ConversationMessageResponse[];
  @ApiProperty({ enum: SESSION_STATUSES }) status: SessionStatus;
  @ApiPropertyOptional({ type: Object, nullable: true }) metadata: Record<string, unknown> | null;
  @ApiPropertyOptional({ type: String, nullable: true }) exotelCallSid: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) startedAt: Date;
  @ApiProperty({ type: String, format: 'date-time' }) lastActivityAt: Date;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true }) endedAt: Date | null;
  @ApiProperty({ type: SessionUsageResponse, description: 'What the voice runtime used so far' })
  usage: SessionUsageResponse;
  @ApiProperty({
    type: [TurnLatencyResponse],
    description: 'Per-turn latencies of the conversation (written when it ends)',
  })
  turnLatencies: TurnLatencyResponse[];
  @ApiProperty({ enum: ['cache', 'database'], description: 'Where this read was served from' })
  source: 'cache' | 'database';
}

export class SessionPageResponse {
  @ApiProperty({ type: [SessionResponse] }) data: SessionResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}

export class ConversationMessagePageResponse {
  @ApiProperty({ type: [ConversationMessageResponse] }) data: ConversationMessageResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}
