import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { SecretBoxService } from '../infra/crypto/secret-box.service.js';
import type { UpdateExotelConfigDto } from './dto/update-exotel-config.dto.js';
import { toUserResponse, type UserResponse } from './dto/user.response.js';
import type { WebhooksResponse } from './dto/webhooks.response.js';
import type { UserDocument } from './schemas/user.schema.js';
import { UsersErrorCode, UsersException } from './users.exception.js';
import { UsersRepository } from './users.repository.js';
import { newWebhookToken } from './webhook-token.js';

/** What a signed-in user manages about their own account. */
@Injectable()
export class UsersService {
  constructor(
    private readonly users: UsersRepository,
    private readonly secretBox: SecretBoxService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async updateExotelConfig(userId: string, dto: UpdateExotelConfigDto): Promise<UserResponse> {
    const user = await this.users.setExotelConfig(userId, {
      apiKey: dto.apiKey,
      apiToken: this.secretBox.encrypt(dto.apiToken, userId),
      sid: dto.sid,
      subdomain: dto.subdomain.toLowerCase(),
    });
    return toUserResponse(this.found(user));
  }

  async getWebhooks(userId: string): Promise<WebhooksResponse> {
    return this.webhooksOf(this.found(await this.users.findById(userId)));
  }

  async rotateWebhookToken(userId: string): Promise<WebhooksResponse> {
    return this.webhooksOf(this.found(await this.users.setWebhookToken(userId, newWebhookToken())));
  }

  private webhooksOf(user: UserDocument): WebhooksResponse {
    const base = `${this.config.publicBaseUrl}/api/v1/telephony/exotel`;
    return {
      incomingCallUrl: `${base}/incoming/${user.webhookToken}`,
      statusCallbackUrlPattern: `${base}/status/{callLogId}?exp={expiry}&sig={signature}`,
    };
  }

  private found(user: UserDocument | null): UserDocument {
    if (!user) {
      throw new UsersException(UsersErrorCode.NotFound, 'User not found');
    }
    return user;
  }
}
