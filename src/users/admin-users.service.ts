import { Injectable, Logger } from '@nestjs/common';
import { type Page, toPage } from '../common/pagination/pagination.js';
import { AccessTokenStore } from './access-token.store.js';
import type {
  AdjustCreditsDto,
  ListUsersQueryDto,
  UpdateUserByAdminDto,
} from './dto/admin-users.dto.js';
import { toUserResponse, type UserResponse } from './dto/user.response.js';
import { UsersErrorCode, UsersException } from './users.exception.js';
import { UsersRepository } from './users.repository.js';

/** Account administration: listing, roles, activation, credits. */
@Injectable()
export class AdminUsersService {
  private readonly logger = new Logger(AdminUsersService.name);

  constructor(
    private readonly users: UsersRepository,
    private readonly tokens: AccessTokenStore,
  ) {}

  async list(query: ListUsersQueryDto): Promise<Page<UserResponse>> {
    const { users, total } = await this.users.list(
      { role: query.role, isActive: query.isActive, emailPrefix: query.email },
      query,
    );
    return toPage(users.map(toUserResponse), total, query);
  }

  async update(adminId: string, userId: string, dto: UpdateUserByAdminDto): Promise<UserResponse> {
    const target = await this.users.findById(userId);
    if (!target) {
      throw new UsersException(UsersErrorCode.NotFound, 'User not found');
    }
    const losesAdmin =
      target.role === 'admin' && target.isActive && (dto.role === 'user' || dto.isActive === false);
    if (losesAdmin && (await this.users.countActiveAdminsOtherThan(userId)) === 0) {
      throw new UsersException(
        UsersErrorCode.LastAdmin,
        'The last active admin cannot be demoted or deactivated',
      );
    }
    const updated = await this.users.updateRoleAndStatus(userId, {
      role: dto.role,
      isActive: dto.isActive,
    });
    if (!updated) {
      throw new UsersException(UsersErrorCode.NotFound, 'User not found');
    }
    // A token carries the role it was issued with: any change of role or activation
    // revokes it so the next request sees the new state.
    if (updated.role !== target.role || updated.isActive !== target.isActive) {
      await this.tokens.revoke(userId);
    }
    this.logger.log(
      { adminId, userId, role: updated.role, isActive: updated.isActive },
      'user updated by admin',
    );
    return toUserResponse(updated);
  }

  async adjustCredits(
    adminId: string,
    userId: string,
    dto: AdjustCreditsDto,
  ): Promise<UserResponse> {
    const updated = await this.users.adjustCredits(userId, dto.amount);
    if (!updated) {
      const exists = await this.users.findById(userId);
      if (!exists) {
        throw new UsersException(UsersErrorCode.NotFound, 'User not found');
      }
      throw new UsersException(
        UsersErrorCode.InsufficientCredits,
        `Removing ${-dto.amount} credits would take the balance below 0 (balance ${exists.credits})`,
        { credits: exists.credits },
      );
    }
    this.logger.log(
      { adminId, userId, amount: dto.amount, reason: dto.reason, credits: updated.credits },
      'credits adjusted',
    );
    return toUserResponse(updated);
  }
}
