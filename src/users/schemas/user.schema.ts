import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import type { Types } from 'mongoose';

export const USER_ROLES = ['user', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

@Schema({ _id: false })
export class ExotelConfig {
  @Prop({ required: true }) apiKey: string;
  /** AES-256-GCM ciphertext (see SecretBoxService), never the token itself. */
  @Prop({ required: true }) apiToken: string;
  @Prop({ required: true }) sid: string;
  @Prop({ required: true }) subdomain: string;
}

@Schema({ collection: 'users', timestamps: true })
export class User {
  @Prop({ required: true, lowercase: true, trim: true }) email: string;
  @Prop({ required: true }) password: string;
  @Prop({ required: true, minlength: 1, maxlength: 100 }) name: string;
  @Prop({ type: String, required: true, enum: USER_ROLES, default: 'user' }) role: UserRole;
  @Prop({ required: true, min: 0, default: 0 }) credits: number;
  @Prop({ type: SchemaFactory.createForClass(ExotelConfig) }) exotelConfig?: ExotelConfig;
  @Prop({ required: true, default: true }) isActive: boolean;
  @Prop({ type: Date }) lastLoginAt?: Date;
  /** Secret path segment of the user's inbound Exotel webhook URL (rotatable). */
  @Prop({ required: true }) webhookToken: string;
  /** Call ids charged but not yet settled, and `callLogId|amount` of each: exactly-once charging. */
  @Prop({ type: [String], default: undefined }) pendingChargeCallIds?: string[];
  @Prop({ type: [String], default: undefined }) pendingCharges?: string[];
  /** Number of call charges ever applied: the version a charge is conditional on. */
  @Prop({ type: Number }) chargeSequence?: number;
  /**
   * `jti` of the user's one valid access token: the truth behind the `user:token:{userId}`
   * cache, read when Redis has lost the key. Absent means no token is valid.
   */
  @Prop({ type: String }) currentTokenId?: string;
  /** Days our copies of this user's call recordings are kept; absent: RECORDING_RETENTION_DAYS. */
  @Prop({ type: Number, min: 1, max: 3650 }) recordingRetentionDays?: number;
}

export type UserDocument = User & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };

export const UserSchema = SchemaFactory.createForClass(User);
UserSchema.index({ email: 1 }, { unique: true });
UserSchema.index({ createdAt: -1 });
UserSchema.index({ isActive: 1 });
UserSchema.index({ webhookToken: 1 }, { unique: true });
