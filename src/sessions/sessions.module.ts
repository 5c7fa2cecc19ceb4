import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ConversationTurnsRepository } from './conversation-turns.repository.js';
import { ConversationTurn, ConversationTurnSchema } from './schemas/conversation-turn.schema.js';
import { Session, SessionSchema } from './schemas/session.schema.js';
import { SessionCache } from './session-cache.js';
import { SessionsRepository } from './sessions.repository.js';
import { SessionsService } from './sessions.service.js';

@Module({
  imports: [
    MongooseModule.forFeature([
      { name: Session.name, schema: SessionSchema },
      { name: ConversationTurn.name, schema: ConversationTurnSchema },
    ]),
  ],
  providers: [SessionsRepository, ConversationTurnsRepository, SessionCache, SessionsService],
  exports: [SessionsService, SessionsRepository, ConversationTurnsRepository],
})
export class SessionsModule {}
