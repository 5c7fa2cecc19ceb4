import {
  Body,
  Controller,
  Get,
  Header,
  HttpStatus,
  type HttpRedirectResponse,
  Post,
  Redirect,
  Req,
  Res,
  UseFilters,
  UseInterceptors,
} from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';
import {
  ApiBadRequestResponse,
  ApiConsumes,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LoginDto } from '../auth/dto/login.dto.js';
import { PasswordAttemptsInterceptor } from '../auth/password-attempts.interceptor.js';
import { Public } from '../common/decorators/public.decorator.js';
import { QueueDashboardSignInFilter } from './queue-dashboard-sign-in.filter.js';
import { QueueDashboardSignInService } from './queue-dashboard-sign-in.service.js';
import { QUEUE_DASHBOARD_SIGN_IN_ROUTE } from './queue-dashboard.paths.js';

@ApiTags('queue dashboard')
@Public()
@UseFilters(QueueDashboardSignInFilter)
@Controller(QUEUE_DASHBOARD_SIGN_IN_ROUTE)
export class QueueDashboardSignInController {
  constructor(private readonly signIn: QueueDashboardSignInService) {}

  @Get('sign-in')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Sign-in form of the queue dashboard (HTML, for browsers)' })
  @ApiProduces('text/html')
  @ApiOkResponse({ description: 'The form', schema: { type: 'string' } })
  page(): string {
    return this.signIn.page();
  }

  @SkipThrottle()
  @UseInterceptors(PasswordAttemptsInterceptor)
  @Post('sign-in')
  @Redirect()
  @ApiOperation({
    summary: 'Sign an admin in to the queue dashboard',
    description:
      'Form post from the sign-in page (same origin only). Sets a 15-minute HttpOnly, ' +
      'SameSite=Strict cookie scoped to the dashboard path; issues no API token.',
  })
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiProduces('text/html')
  @ApiResponse({ status: HttpStatus.SEE_OTHER, description: 'Signed in; on to the dashboard' })
  @ApiBadRequestResponse({ description: 'Email or password missing (the form again)' })
  @ApiUnauthorizedResponse({ description: 'Wrong email or password (the form again)' })
  @ApiForbiddenResponse({ description: 'Not an active admin, or posted from another site' })
  @ApiTooManyRequestsResponse({
    description: 'Too many failed sign-ins for this email from this IP, or from this IP overall',
  })
  signInAdmin(
    @Body() dto: LoginDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<HttpRedirectResponse> {
    return this.signIn.signIn(dto, request, reply);
  }

  @Post('sign-out')
  @Redirect()
  @ApiOperation({ summary: 'Sign out of the queue dashboard (clears its cookie)' })
  @ApiProduces('text/html')
  @ApiResponse({ status: HttpStatus.SEE_OTHER, description: 'Signed out; on to the sign-in form' })
  @ApiForbiddenResponse({ description: 'Posted from another site' })
  signOut(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): HttpRedirectResponse {
    return this.signIn.signOut(request, reply);
  }
}
