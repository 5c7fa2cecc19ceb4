import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Post,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import {
  type AuthenticatedUser,
  CurrentUser,
} from '../common/decorators/current-user.decorator.js';
import { type JsonText, SendsJsonText } from '../common/decorators/json-text.decorator.js';
import { Public } from '../common/decorators/public.decorator.js';
import { UserResponse } from '../users/dto/user.response.js';
import { AuthService } from './auth.service.js';
import { AuthResponse } from './dto/auth.response.js';
import { ChangePasswordDto } from './dto/change-password.dto.js';
import { LoginDto } from './dto/login.dto.js';
import { RegisterDto } from './dto/register.dto.js';
import { PasswordAttempts, PasswordAttemptsInterceptor } from './password-attempts.interceptor.js';
import { RegisterThrottleGuard } from './register-throttle.guard.js';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly authService: AuthService) {}

  @Public()
  @SkipThrottle()
  @UseGuards(RegisterThrottleGuard)
  @Post('register')
  @ApiOperation({ summary: 'Create an account and get an access token' })
  @ApiCreatedResponse({ type: AuthResponse })
  @ApiConflictResponse({ description: 'Email already registered' })
  @ApiTooManyRequestsResponse({ description: 'Too many registrations from this IP' })
  register(@Body() dto: RegisterDto): Promise<AuthResponse> {
    return this.authService.register(dto);
  }

  @Public()
  @SkipThrottle()
  @UseInterceptors(PasswordAttemptsInterceptor)
  @Post('login')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Exchange email and password for an access token' })
  @ApiOkResponse({ type: AuthResponse })
  @ApiUnauthorizedResponse({ description: 'Wrong email or password' })
  @ApiForbiddenResponse({ description: 'Account disabled' })
  @ApiTooManyRequestsResponse({
    description: 'Too many failed logins for this email from this IP, or from this IP overall',
  })
  login(@Body() dto: LoginDto): Promise<AuthResponse> {
    return this.authService.login(dto);
  }

  @ApiBearerAuth()
  @UseInterceptors(PasswordAttemptsInterceptor)
  @PasswordAttempts('change-password')
  @Post('change-password')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Change the password; revokes the current token, so sign in again',
  })
  @ApiNoContentResponse({ description: 'Changed; the token used for this request is revoked' })
  @ApiBadRequestResponse({ description: 'New password too short or over 72 bytes in UTF-8' })
  @ApiUnauthorizedResponse({ description: 'Missing, expired or revoked token' })
  @ApiForbiddenResponse({ description: 'currentPassword is wrong' })
  @ApiTooManyRequestsResponse({ description: 'Too many wrong current passwords from this IP' })
  changePassword(
    @CurrentUser() user: AuthenticatedUser,
    @Body() dto: ChangePasswordDto,
  ): Promise<void> {
    return this.authService.changePassword(user.userId, dto);
  }

  @ApiBearerAuth()
  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Revoke the current access token' })
  @ApiNoContentResponse()
  logout(@CurrentUser() user: AuthenticatedUser): Promise<void> {
    return this.authService.logout(user.userId);
  }

  @ApiBearerAuth()
  @Get('me')
  @ApiOperation({ summary: 'The signed-in user' })
  @ApiOkResponse({ type: UserResponse })
  @SendsJsonText()
  me(@CurrentUser() user: AuthenticatedUser): Promise<JsonText<UserResponse>> {
    return this.authService.me(user.userId);
  }
}
