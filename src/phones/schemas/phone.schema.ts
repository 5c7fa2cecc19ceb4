import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';
import type { AgentConfigOverride } from '../../agents/schemas/agent-config.schema.js';

export const PHONE_STATUSES = ['active', 'inactive'] as const;
export type PhoneStatus = (typeof PHONE_STATUSES)[number];
export const PHONE_PROVIDERS = ['exotel'] as const;
export type PhoneProvider = (typeof PHONE_PROVIDERS)[number];

@Schema({ _id: false })
export class ExotelPhoneData {
  @Prop({ type: String, required: true }) sid: string;
  @Prop({ type: String }) appId?: string;
}

@Schema({ collection: 'phones', timestamps: true })
export class Phone {
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  /** E.164, globally unique. */
  @Prop({ type: String, required: true }) number: string;
  @Prop({ type: String, required: true }) country: string;
  @Prop({ type: String, required: true, enum: PHONE_PROVIDERS, default: 'exotel' })
  provider: PhoneProvider;
  @Prop({ type: MongooseSchema.Types.ObjectId, ref: 'Agent' }) agentId?: Types.ObjectId | null;
  @Prop({ type: [String], default: [] }) tags: string[];
  @Prop({ type: String, required: true, enum: PHONE_STATUSES, default: 'active' })
  status: PhoneStatus;
  @Prop({ type: SchemaFactory.createForClass(ExotelPhoneData) }) exotelData?: ExotelPhoneData;
  @Prop({ type: MongooseSchema.Types.Mixed }) agentConfigOverride?: AgentConfigOverride;
}

export type PhoneDocument = Phone & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };

export const PhoneSchema = SchemaFactory.createForClass(Phone);
PhoneSchema.index({ number: 1 }, { unique: true });
PhoneSchema.index({ userId: 1, status: 1 });
PhoneSchema.index({ agentId: 1 });
PhoneSchema.index({ tags: 1 });
