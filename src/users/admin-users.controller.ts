import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  type AuthenticatedUser,
  CurrentUser,
} from '../common/decorators/current-user.decorator.js';
import { Roles } from '../common/decorators/roles.decorator.js';
import type { Page } from '../common/pagination/pagination.js';
import { ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import { AdminUsersService } from './admin-users.service.js';
import {
  AdjustCreditsDto,
  ListUsersQueryDto,
  UpdateUserByAdminDto,
} from './dto/admin-users.dto.js';
import { UserPageResponse, UserResponse } from './dto/user.response.js';

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('admin/users')
export class AdminUsersController {
  constructor(private readonly adminUsersService: AdminUsersService) {}

  @Get()
  @ApiOperation({ summary: 'List users (filter by role, isActive; search by email prefix)' })
  @ApiOkResponse({ type: UserPageResponse })
  list(@Query() query: ListUsersQueryDto): Promise<Page<UserResponse>> {
    return this.adminUsersService.list(query);
  }

  @Patch(':id')
  @ApiOperation({ summary: "Change a user's role or activation; revokes their token" })
  @ApiOkResponse({ type: UserResponse })
  update(
    @CurrentUser() admin: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
    @Body() dto: UpdateUserByAdminDto,
  ): Promise<UserResponse> {
    return this.adminUsersService.update(admin.userId, id, dto);
  }

  @Post(':id/credits')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Add or remove credits; 409 if the balance would go below 0' })
  @ApiOkResponse({ type: UserResponse })
  adjustCredits(
    @CurrentUser() admin: AuthenticatedUser,
    @Param('id', ParseObjectIdPipe) id: string,
    @Body() dto: AdjustCreditsDto,
  ): Promise<UserResponse> {
    return this.adminUsersService.adjustCredits(admin.userId, id, dto);
  }
}
