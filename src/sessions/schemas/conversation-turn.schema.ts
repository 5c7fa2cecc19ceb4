import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';
import { MESSAGE_ROLES, type MessageRole } from './session.schema.js';

/**
 * Every turn of a conversation, one document each, in the order written (`_id`). The session
 * keeps only the latest turns (what the agent needs and the cache carries), so a long call
 * never grows one document toward MongoDB's 16 MB limit; the transcript is built from here.
 */
@Schema({ collection: 'conversationturns', timestamps: { createdAt: true, updatedAt: false } })
export class ConversationTurn {
  @Prop({ type: String, required: true }) sessionId: string;
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  @Prop({ type: String, required: true, enum: MESSAGE_ROLES }) role: MessageRole;
  @Prop({ type: String, required: true }) content: string;
  @Prop({ type: Date, required: true }) timestamp: Date;
}

export type ConversationTurnDocument = ConversationTurn & {
  _id: Types.ObjectId;
  createdAt: Date;
};

export const ConversationTurnSchema = SchemaFactory.createForClass(ConversationTurn);
ConversationTurnSchema.index({ sessionId: 1, _id: 1 });
ConversationTurnSchema.index({ createdAt: 1 });
