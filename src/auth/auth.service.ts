import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { type JsonText, toJsonText } from '../common/decorators/json-text.decorator.js';
import { AccessTokenStore } from '../users/access-token.store.js';
import { toUserResponse, type UserResponse } from '../users/dto/user.response.js';
import type { UserDocument } from '../users/schemas/user.schema.js';
import { UserProfileCache } from '../users/user-profile.cache.js';
import { UsersRepository } from '../users/users.repository.js';
import { newWebhookToken } from '../users/webhook-token.js';
import { AuthErrorCode, AuthException } from './auth.exception.js';
import type { AuthResponse } from './dto/auth.response.js';
import type { ChangePasswordDto } from './dto/change-password.dto.js';
import type { LoginDto } from './dto/login.dto.js';
import type { RegisterDto } from './dto/register.dto.js';
import { PasswordHasher } from './password-hasher.js';

/** Tries at issuing a token while an admin keeps changing the account's role. */
const ISSUE_ATTEMPTS = 3;

export interface AccessTokenPayload {
  sub: string;
  role: UserDocument['role'];
}

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersRepository,
    private readonly tokens: AccessTokenStore,
    private readonly jwt: JwtService,
    private readonly passwords: PasswordHasher,
    private readonly profiles: UserProfileCache,
  ) {}

  async register(dto: RegisterDto): Promise<AuthResponse> {
    const user = await this.users.create({
      email: dto.email.toLowerCase(),
      passwordHash: await this.passwords.hash(dto.password),
      name: dto.name,
      role: 'user',
      credits: 0,
      webhookToken: newWebhookToken(),
    });
    if (!user) {
      throw new AuthException(
        AuthErrorCode.EmailTaken,
        'An account with this email already exists',
      );
    }
    return this.issueToken(user);
  }

  async login(dto: LoginDto): Promise<AuthResponse> {
    const user = await this.verifyCredentials(dto);
    return this.issueToken(user, new Date());
  }

  /** The active user these credentials belong to; shared by every way of signing in. */
  async verifyCredentials(dto: LoginDto): Promise<UserDocument> {
    const user = await this.users.findByEmail(dto.email.toLowerCase());
    if (!(await this.passwords.matches(dto.password, user?.password)) || !user) {
      throw new AuthException(AuthErrorCode.InvalidCredentials, 'Email or password is incorrect');
    }
    if (!user.isActive) {
      throw new AuthException(AuthErrorCode.AccountDisabled, 'This account is disabled');
    }
    return user;
  }

  /**
   * Replaces the password after checking the current one, and revokes the access token: the
   * client signs in again with the new password (no new token is handed out here).
   */
  async changePassword(userId: string, dto: ChangePasswordDto): Promise<void> {
    const user = await this.users.findById(userId);
    if (!user?.isActive) {
      throw new AuthException(AuthErrorCode.InvalidCredentials, 'Account no longer available');
    }
    if (!(await this.passwords.matches(dto.currentPassword, user.password))) {
      throw new AuthException(
        AuthErrorCode.WrongCurrentPassword,
        'currentPassword is not the password of this account',
      );
    }
    await this.users.setPasswordHash(userId, await this.passwords.hash(dto.newPassword));
    await this.tokens.revoke(userId);
  }

  async logout(userId: string): Promise<void> {
    await this.tokens.revoke(userId);
  }

  /**
   * The signed-in user, as cached JSON when warm: the token check has just confirmed the token
   * is current, and any change to the user (deactivation included) drops the cached profile.
   */
  async me(userId: string): Promise<JsonText<UserResponse>> {
    const cached = await this.profiles.read(userId);
    if (cached.json !== undefined) {
      return cached.json;
    }
    const user = await this.users.findById(userId);
    if (!user?.isActive) {
      // The token check already refuses revoked tokens; this covers a user removed meanwhile.
      throw new AuthException(AuthErrorCode.InvalidCredentials, 'Account no longer available');
    }
    const json = toJsonText(toUserResponse(user));
    await this.profiles.store(userId, cached.version, json);
    return json;
  }

  /**
   * Signs a token with the user's role and makes it their one valid token. When an admin
   * deactivates the account or changes its role while this runs, the stored token is not
   * replaced (see UsersRepository.claimCurrentToken): the user is read again and either
   * refused or given a token with the new role.
   */
  private async issueToken(user: UserDocument, loggedInAt?: Date): Promise<AuthResponse> {
    let current = user;
    for (let attempt = 0; attempt < ISSUE_ATTEMPTS; attempt += 1) {
      const userId = current._id.toString();
      const payload: AccessTokenPayload = { sub: userId, role: current.role };
      // A unique id makes every issued token distinct, even two issued within one second,
      // and is what the user document names as the current token.
      const tokenId = randomUUID();
      const accessToken = await this.jwt.signAsync(payload, { jwtid: tokenId });
      const { iat, exp } = this.jwt.decode<{ iat?: number; exp?: number }>(accessToken);
      const issued = await this.tokens.issue(
        { userId, role: current.role, tokenId, token: accessToken, issuedAt: iat, expiresAt: exp },
        loggedInAt,
      );
      if (issued) {
        return {
          accessToken,
          user: toUserResponse({ ...current, lastLoginAt: loggedInAt ?? current.lastLoginAt }),
        };
      }
      const fresh = await this.users.findById(userId);
      if (!fresh?.isActive) {
        throw new AuthException(AuthErrorCode.AccountDisabled, 'This account is disabled');
      }
      current = fresh;
    }
    throw new AuthException(
      AuthErrorCode.AccountChanging,
      'The account is being changed; sign in again in a moment',
    );
  }
}
